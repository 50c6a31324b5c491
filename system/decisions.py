"""Business decisions that must come out the same every time they are asked.

A payment or delivery outcome is a pure function of (seed, order, step): a redelivered message,
a replayed simulation and a restarted service all get the same answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from system.deadlines import NO_TIMEOUTS, StepTimeouts
from system.validation import FORCE_VALUES

FORCE_FAIL, FORCE_SUCCEED = FORCE_VALUES


@dataclass(frozen=True)
class DecisionConfig:
    seed: int = 0
    payment_failure_rate: float = 0.2  # the seed's "random 20% chance"
    delivery_failure_rate: float = 0.1
    # Step deadlines (issue #16): business settings too, and what the order's handler needs.
    timeouts: StepTimeouts = NO_TIMEOUTS


def roll(seed: int, order_id: str, step: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, order, step)."""
    digest = hashlib.sha256(f"{seed}|{step}|{order_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def step_fails(seed: int, order_id: str, step: str, rate: float, force: str | None) -> bool:
    """Whether `step` fails for this order; `force` ("fail"/"succeed") overrides the dice."""
    if force == FORCE_FAIL:
        return True
    if force == FORCE_SUCCEED:
        return False
    return roll(seed, order_id, step) < rate


def payment_fails(config: DecisionConfig, order_id: str, force: str | None) -> bool:
    return step_fails(config.seed, order_id, "payment", config.payment_failure_rate, force)


def delivery_fails(config: DecisionConfig, order_id: str, force: str | None) -> bool:
    return step_fails(config.seed, order_id, "delivery", config.delivery_failure_rate, force)
