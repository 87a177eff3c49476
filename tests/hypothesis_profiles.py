"""Hypothesis profiles of the whole suite (loaded by tests/conftest.py).

`ci` (the default): derandomized, so every run checks the same examples, with budgets that
keep tests/property well under a minute. `fuzz` (HYPOTHESIS_PROFILE=fuzz, `make fuzz`): random
seeds and FUZZ_FACTOR times each test's budget.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_FACTOR = 20
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile(
    "fuzz", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(PROFILE)


def examples(ci: int) -> int:
    """Return a test's example budget: `ci` by default, FUZZ_FACTOR times more when fuzzing."""
    return ci * FUZZ_FACTOR if PROFILE == "fuzz" else ci
