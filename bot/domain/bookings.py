"""`Bookings`: what one transition of a perp, perp_static or spot account produced for the
ledger (bot/domain/perp_account.py, which re-exports it): records with fill-relative fee
indices, position upserts, notes for the log and refused entries."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.records import FeeRecord, FillRecord, PositionRecord, rebase_fees
from bot.domain.values import Refusal


@dataclass(frozen=True, slots=True)
class Bookings:
    """Ledger output of one transition; `FeeRecord.fill_index` points into `fills`;
    `refusals` counts entries the account refused, by reason."""

    fills: tuple[FillRecord, ...] = ()
    fees: tuple[FeeRecord, ...] = ()
    positions: tuple[PositionRecord, ...] = ()
    notes: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()

    # Written out, not generated: see FAST_INIT in bot/domain/frozen.py.
    def __init__(
        self,
        fills: tuple[FillRecord, ...] = (),
        fees: tuple[FeeRecord, ...] = (),
        positions: tuple[PositionRecord, ...] = (),
        notes: tuple[str, ...] = (),
        refusals: tuple[Refusal, ...] = (),
    ) -> None:
        object.__setattr__(self, "fills", fills)
        object.__setattr__(self, "fees", fees)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "notes", notes)
        object.__setattr__(self, "refusals", refusals)

    def __add__(self, other: Bookings) -> Bookings:
        if other is NOTHING or self is NOTHING:  # the sum equals the other operand
            return self if other is NOTHING else other
        fees = rebase_fees(other.fees, len(self.fills))
        return Bookings(
            self.fills + other.fills,
            self.fees + fees,
            self.positions + other.positions,
            self.notes + other.notes,
            self.refusals + other.refusals,
        )


def refused(reason: Refusal, note: str) -> Bookings:
    """The bookings of a refused entry: no records, the reason counted, a note for the log."""
    return Bookings(notes=(f"entry refused: {note}",), refusals=(reason,))


NOTHING = Bookings()
