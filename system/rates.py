"""Rates (probabilities) written as text: the one parser, for the services' settings and the
simulator's fault specs."""

from __future__ import annotations


def parse_rate(raw: str) -> float:
    """A number between 0 and 1; ValueError saying what is wrong with it otherwise."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ValueError(f"{raw!r} must be between 0 and 1")
    return value
