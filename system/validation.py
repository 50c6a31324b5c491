"""The one rule for numbers that cross a boundary: finite, and amounts and quantities positive.

Used by the order API's model (system/order/api.py) and by the participants' command checks
(system/*/domain.py), so a request the API refuses is also a command a participant refuses.
Pure: each function returns the checked value or raises ValueError naming what is wrong.
"""

from __future__ import annotations

import math

# A test hook's forced outcome of one step (system/decisions.py): "fail", "succeed", or none.
FORCE_VALUES = ("fail", "succeed")

MAX_AMOUNT = 1e9
MAX_QUANTITY = 1_000_000


def positive_amount(value: object) -> float:
    """A money amount: a JSON number (not a bool, not a string), finite, at most MAX_AMOUNT and
    greater than 0 once rounded to cents (0.004 is a charge of nothing). Returns it rounded."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    cents = round(float(value), 2)
    if cents <= 0:
        raise ValueError("must be greater than 0 (after rounding to cents)")
    if cents > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT:.0f}")
    return cents


def positive_quantity(value: object) -> int:
    """A quantity of units: an integer (not a bool, a float or a string), 1..MAX_QUANTITY."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, not {type(value).__name__}")
    if value <= 0:
        raise ValueError("must be greater than 0")
    if value > MAX_QUANTITY:
        raise ValueError(f"must be at most {MAX_QUANTITY}")
    return value


def forced_outcome(value: object) -> str | None:
    """A step's forced outcome: one of FORCE_VALUES, or None (the dice decide)."""
    if value is not None and value not in FORCE_VALUES:
        raise ValueError(f"must be one of {', '.join(FORCE_VALUES)} or null")
    return value


def text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type(value).__name__}")
    return value
