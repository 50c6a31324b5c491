"""The plain words the steps accept, and what they mean for the saga. Pure: no I/O.

Feature files speak the shop's language ("the payment failed", "the seed's success path"); this
module is the one place that turns those words into the contract's terms (failure reasons,
`force` outcomes, routing keys), so the steps stay thin and the mapping can be tested alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from system.contracts import (
    ALL_ROUTING_KEYS,
    BINDINGS,
    INVENTORY_FAILED,
    LEGAL_TRACES,
    ORDER_PLACED,
    PAYMENT_FAILED,
    ROUTING_KEYS,
    TRACE_DELIVERY_FAILED,
    TRACE_INSUFFICIENT_INVENTORY,
    TRACE_PAYMENT_FAILED,
    TRACE_SUCCESS,
)
from system.styles import Style

# "the order fails because <phrase>" -> failure_reason
FAILURE_REASONS: dict[str, str] = {
    "of insufficient inventory": "insufficient_inventory",
    "the payment failed": "payment_failed",
    "the delivery failed": "delivery_failed",
}

# "the order followed the seed's <name>" -> the trace exactly as the seed lists it
SEED_TRACES: dict[str, tuple[str, ...]] = {
    "success path": TRACE_SUCCESS,
    "payment failure path": TRACE_PAYMENT_FAILED,
    "delivery failure path": TRACE_DELIVERY_FAILED,
    "insufficient inventory path": TRACE_INSUFFICIENT_INVENTORY,
}


@dataclass(frozen=True)
class Outcome:
    """What an order is expected to end as, and how to make it so without the random dice."""

    name: str  # as written in a feature: completed, payment failed, delivery failed, insufficient stock
    status: str
    failure_reason: str | None
    force: dict[str, str]
    scarce: bool = False  # needs more units than the scarce product holds

    @property
    def trace(self) -> tuple[str, ...]:
        return LEGAL_TRACES[self.failure_reason or "completed"]


OUTCOMES: dict[str, Outcome] = {
    "completed": Outcome("completed", "completed", None, {"payment": "succeed", "delivery": "succeed"}),
    "payment failed": Outcome("payment failed", "failed", "payment_failed", {"payment": "fail"}),
    "delivery failed": Outcome(
        "delivery failed", "failed", "delivery_failed", {"payment": "succeed", "delivery": "fail"}
    ),
    "insufficient stock": Outcome(
        "insufficient stock", "failed", "insufficient_inventory", {"payment": "succeed", "delivery": "succeed"},
        scarce=True,
    ),
}

# A burst cycles through these, so every compensation path runs under the faults.
BURST_MIX: tuple[str, ...] = ("completed", "payment failed", "delivery failed", "completed", "insufficient stock")

SCARCE_PRODUCT = "product_3"  # 50 units: an order of 100 can never be served


class UnknownPhrase(ValueError):
    """A feature used words the step library does not know; the message lists the known ones."""


T = TypeVar("T")


def lookup(table: Mapping[str, T], phrase: str, what: str) -> T:
    try:
        return table[phrase]
    except KeyError:
        known = "; ".join(f'"{k}"' for k in table)
        raise UnknownPhrase(f"unknown {what} {phrase!r}: use one of {known}") from None


def outcome(name: str) -> Outcome:
    return lookup(OUTCOMES, name.strip(), "outcome")


def force_from_row(payment: str, delivery: str) -> dict[str, str]:
    """A table row's payment/delivery cells ("succeed", "fail" or blank) as a `force` field."""
    force = {}
    for step, value in (("payment", payment.strip()), ("delivery", delivery.strip())):
        if value:
            if value not in ("succeed", "fail"):
                raise UnknownPhrase(f"{step} must be 'succeed', 'fail' or blank, not {value!r}")
            force[step] = value
    return force


def receiving_service(routing_key: str) -> str:
    """The one service whose queue is bound to the key."""
    owners = [service for service, keys in BINDINGS.items() if routing_key in keys]
    if len(owners) != 1:
        raise UnknownPhrase(f"{routing_key!r} is not a routing key of the saga: use one of {', '.join(ROUTING_KEYS)}")
    return owners[0]


def receiving_services(routing_key: str, style: Style) -> tuple[str, ...]:
    """The services whose queues are bound to the key in `style` (a choreography's events may
    have two: the order service, which listens to all, and the participant that reacts)."""
    return tuple(service for service, keys in style.bindings.items() if routing_key in keys)


def not_in_style(routing_key: str, style: Style) -> str | None:
    """Why a scenario about this key does not apply in `style` (None: it does)."""
    if routing_key in style.routing_keys:
        return None
    return f"{routing_key!r} is not on the bus in the {style.name} (system/styles.py)"


def outcome_carrying(routing_key: str) -> Outcome:
    """The cheapest saga whose trace carries the key (a forced outcome, never the dice)."""
    if routing_key not in ALL_ROUTING_KEYS:
        raise UnknownPhrase(f"{routing_key!r} is not a routing key of the saga: use one of {', '.join(ALL_ROUTING_KEYS)}")
    if routing_key == ORDER_PLACED:  # every saga's first message in a choreography
        return OUTCOMES["completed"]
    if routing_key == INVENTORY_FAILED:
        return OUTCOMES["insufficient stock"]
    if routing_key == PAYMENT_FAILED:
        return OUTCOMES["payment failed"]
    for candidate in ("completed", "payment failed", "delivery failed"):
        if routing_key in OUTCOMES[candidate].trace:
            return OUTCOMES[candidate]
    raise AssertionError(f"no forced outcome carries {routing_key}")  # every key is in some trace


def burst_outcomes(n: int) -> list[Outcome]:
    return [OUTCOMES[BURST_MIX[i % len(BURST_MIX)]] for i in range(n)]
