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
    # Transient payment-gateway errors (issue #16): each attempt at a charge fails transiently
    # with this probability (dice per attempt); retried up to max_retries times, then declined.
    payment_transient_failure_rate: float = 0.0
    max_retries: int = 3


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
    """Declined by the dice, or every allowed attempt failed transiently (issue #16)."""
    if step_fails(config.seed, order_id, "payment", config.payment_failure_rate, force):
        return True
    return first_good_attempt(config, order_id, force) is None


def delivery_fails(config: DecisionConfig, order_id: str, force: str | None) -> bool:
    return step_fails(config.seed, order_id, "delivery", config.delivery_failure_rate, force)


# -- transient gateway errors and their retries (issue #16) -------------------------------------
RETRY_BASE_S = 0.2  # the first retry waits base..2*base
RETRY_CAP_S = 2.0  # no retry waits longer (the consumer policy's own cap, MAX_BACKOFF_S)
RETRY_SEARCH = 64  # how far a defect without a cap looks for the gateway's first good attempt


def first_good_attempt(config: DecisionConfig, order_id: str, force: str | None, limit: int | None = None) -> int | None:
    """The first attempt (1, 2, ...) at which the gateway answers this order's charge, or None if
    every allowed attempt (max_retries + 1) fails transiently. Fixed by (seed, order): however the
    deliveries are counted (a lost connection redelivers too), the saga's outcome is the same.
    A forced outcome (the test hook) has no transient errors."""
    if force in (FORCE_FAIL, FORCE_SUCCEED) or config.payment_transient_failure_rate <= 0:
        return 1
    allowed = min(config.max_retries, RETRY_SEARCH) + 1 if limit is None else limit
    for attempt in range(1, allowed + 1):
        if roll(config.seed, order_id, f"payment-transient|{attempt}") >= config.payment_transient_failure_rate:
            return attempt
    return None


def retry_delay_s(config: DecisionConfig, order_id: str, retry: int) -> float:
    """The wait before retry number `retry` (1, 2, ...): capped exponential backoff with jitter,
    min(cap, base * 2**(retry-1) * (1 + jitter)), jitter in [0, 1) from the dice. Each uncapped
    delay lies in [c, 2c) and the next in [2c, 4c): the spacing never shrinks."""
    jitter = roll(config.seed, order_id, f"payment-retry-jitter|{retry}")
    return round(min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (retry - 1) * (1 + jitter)), 6)
