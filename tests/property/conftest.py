"""Loads the hypothesis profile (`ci` unless HYPOTHESIS_PROFILE names another; see profiles)."""

from __future__ import annotations

import tests.property.profiles  # noqa: F401  (registers and loads the profiles)
