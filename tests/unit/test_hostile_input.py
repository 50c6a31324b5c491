"""Issue #14 items 1-3: poison on the bus, readiness of a stuck consumer, the shared number rule,
and the 422 body that must always encode. Pure functions, injected clocks."""

from __future__ import annotations

import json
import math

import pytest

from system.contracts import MalformedMessage, parse_message
from system.http_input import validation_problem
from system.messaging.policy import STALL_AFTER_S, ConsumerPolicy, DeadLetter, stall_reason
from system.messaging.runtime import ProgressWatch
from system.validation import positive_amount, positive_quantity

ENVELOPE = {"message_id": "m", "type": "payment.process", "order_id": "o"}

POISON = [
    (b"[" * 1000, "RecursionError"),  # the issue's ~1 KB message that stalled a consumer for good
    (b"[" * 60_000, "RecursionError"),
    (b'{"message_id": "m", "type": "payment.process", "order_id": "o", "payload": {"amount": 1e400}}', "out of range"),
    (b'{"message_id": "m", "type": "payment.process", "order_id": "o", "payload": {"amount": NaN}}', "NaN"),
    (b'{"message_id": "m", "type": "payment.process", "order_id": "o", "payload": {"a": -Infinity}}', "-Infinity"),
    (b"\xff\xfe\xfd", "not valid JSON"),
    (b"\xc3\x28", "not valid JSON"),
    (json.dumps({**ENVELOPE, "causation_id": {"x": 1}}).encode(), "causation_id"),
    (json.dumps({**ENVELOPE, "occurred_at": [1]}).encode(), "occurred_at"),
]


@pytest.mark.parametrize(("body", "reason"), POISON)
def test_any_failure_to_parse_is_a_malformed_message_dead_lettered_at_once(body, reason):
    with pytest.raises(MalformedMessage, match=reason) as caught:
        parse_message(body, "payment.process")
    assert isinstance(ConsumerPolicy().decide(caught.value, 1), DeadLetter)


def test_parse_message_turns_any_unexpected_exception_into_a_malformed_message(monkeypatch):
    def explode(*args, **kwargs):
        raise MemoryError("no room")

    monkeypatch.setattr("system.contracts.json.loads", explode)
    with pytest.raises(MalformedMessage, match="MemoryError"):
        parse_message(b"{}", "payment.process")


# -- readiness: a consumer that stopped settling while deliveries wait -------------------------
def test_stall_reason_needs_waiting_deliveries_and_a_quiet_spell():
    assert stall_reason(None, 0, last_settled=0.0, now=10_000.0) is None  # idle for hours: ready
    assert stall_reason(100.0, 3, last_settled=0.0, now=100.0 + STALL_AFTER_S - 1) is None  # just received
    assert stall_reason(100.0, 3, last_settled=0.0, now=100.0 + STALL_AFTER_S) is not None
    # Something settled recently: slow, not stuck.
    assert stall_reason(100.0, 3, last_settled=200.0, now=200.0 + STALL_AFTER_S - 1) is None
    reason = stall_reason(100.0, 3, last_settled=0.0, now=160.0)
    assert reason == "consumer stalled: 3 deliveries received but none settled for 60 s"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_watch_turns_stalled_only_while_an_unsettled_delivery_waits_and_nothing_settles():
    clock = FakeClock()
    watch = ProgressWatch(clock)
    clock.t += 3600  # a healthy idle service, for an hour
    assert watch.stall() is None
    # A slow but healthy stream: a delivery settled every 20 s, one always in flight.
    token = watch.received()
    for _ in range(10):
        clock.t += 20
        nxt = watch.received()
        watch.settled(token)
        token = nxt
        assert watch.stall() is None
    watch.settled(token)
    # The failure mode of item 1: deliveries arrive and none is ever settled.
    stuck = [watch.received() for _ in range(3)]
    clock.t += STALL_AFTER_S - 1
    assert watch.stall() is None
    clock.t += 1
    assert "3 deliveries received but none settled" in (watch.stall() or "")
    watch.settled(stuck[0])  # progress again: ready at once
    assert watch.stall() is None
    clock.t += STALL_AFTER_S
    assert watch.stall() is not None
    watch.reset()  # the channel was lost: those deliveries go back to the queue
    assert watch.stall() is None


# -- the shared number rule ----------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, 0.0, 0.004, -1, math.inf, -math.inf, math.nan, False, True, "12.5", None, 2e9])
def test_amounts_must_be_finite_numbers_above_zero_in_cents(value):
    with pytest.raises(ValueError):
        positive_amount(value)


def test_amounts_come_back_rounded_to_cents():
    assert positive_amount(0.005) == 0.01 and positive_amount(12) == 12.0 and positive_amount(199.999) == 200.0


@pytest.mark.parametrize("value", [0, -1, 1.0, 2.5, True, "3", None, math.inf, 10**7])
def test_quantities_must_be_positive_integers(value):
    with pytest.raises(ValueError):
        positive_quantity(value)


# -- the 422 body ----------------------------------------------------------------------------------
def test_the_422_body_encodes_whatever_the_input_was():
    errors = [
        {"type": "int_type", "loc": ("body", "quantity"), "msg": "Input should be a valid integer", "input": math.inf},
        {"type": "value_error", "loc": ("body", "amount"), "msg": "Value error, x", "input": [math.nan],
         "ctx": {"error": ValueError("x")}},
        {"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error", "input": {}, "ctx": {"error": "why"}},
    ]
    problem = validation_problem(errors)
    json.dumps(problem, allow_nan=False)  # would raise on an echoed NaN or inf
    assert problem["detail"] == (
        "quantity: Input should be a valid integer; amount: Value error, x; body: JSON decode error: why"
    )
    assert problem["errors"][0] == {"loc": ["body", "quantity"], "msg": "Input should be a valid integer", "type": "int_type"}
