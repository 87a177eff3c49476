"""The per-poll budget of candle and funding-history requests (`history_requests_per_poll`)."""

from __future__ import annotations


class HistoryBudget:
    """The candle and funding-history requests one poll may still make (None: unbounded)."""

    __slots__ = ("budget", "left_")

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.left_ = budget

    def fits_budget(self, requests: int) -> bool:
        """Whether that many requests fit in a whole poll's budget."""
        return self.budget is None or self.budget >= requests

    def fits(self, requests: int) -> bool:
        """Whether that many requests are still allowed."""
        return self.left_ is None or self.left_ >= requests

    def reserve(self, requests: int) -> None:
        """Use that many requests of the budget (all that is left when fewer)."""
        if self.left_ is not None:
            self.left_ = max(0, self.left_ - requests)

    def take(self) -> bool:
        """Use one request of the budget; False when none is left."""
        if self.left_ is None:
            return True
        if self.left_ <= 0:
            return False
        self.left_ -= 1
        return True
