"""The two saga styles (issue #15): who sends what on the bus, per style. Pure data and functions.

- **orchestration** (the default): the order service sends every command and hears every reply.
- **choreography**: the order service publishes ONE message per saga, `order.placed` (and a
  second, `order.timed_out`, only when a step's deadline passes: issue #16); each
  participant reacts to another's event (REACTIONS), and the order service only listens.

Either way each participant runs its one domain (`system/<service>/domain.py`), unchanged: in a
choreography `reacting` turns the event it reacts to into the command that domain knows (same
message_id, so inbox, derived ids and crash points work as they do), and stamps what it answers
with the saga's context (`payload["saga"]`: what the order asked for, so the next participant has
its fields) and the event it reacted to (`payload["after"]`). The order's `history` is the seed's
trace in both styles: a command entry is, in a choreography, the reaction the event before it
triggers (`bus_trace` maps one to the other).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from system.contracts import (
    BINDINGS,
    COMMANDS,
    DELIVERY_CANCEL,
    DELIVERY_CANCELLED,
    DELIVERY_FAILED,
    DELIVERY_SCHEDULE,
    DELIVERY_SCHEDULED,
    INVENTORY_FAILED,
    INVENTORY_RELEASE,
    INVENTORY_RELEASED,
    INVENTORY_RESERVE,
    INVENTORY_RESERVED,
    LEGAL_TRACES,
    ORDER_PLACED,
    ORDER_TIMED_OUT,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_PROCESS,
    PAYMENT_REFUND,
    PAYMENT_REFUNDED,
    PUBLISHES,
    REPLIES,
    HandlerContext,
    Message,
    Outcome,
    RefusedCommand,
)

ORCHESTRATION = "orchestration"
CHOREOGRAPHY = "choreography"
STYLES = (ORCHESTRATION, CHOREOGRAPHY)
DEFAULT_STYLE = ORCHESTRATION

SAGA_CONTEXT = "saga"  # payload key of the saga's context in a choreography's events
AFTER = "after"  # payload key: the event a participant reacted to
CONTEXT_FIELDS = ("user_id", "product_id", "quantity", "amount", "force_payment", "force_delivery")

# The choreography: event -> (the service that reacts, the command of its domain it performs).
# The same rows as the orchestrator's TRANSITIONS (system/order/domain.py), read the other way:
# there the order service hears the event and sends the command; here the participant hears it.
REACTIONS: dict[str, tuple[str, str]] = {
    ORDER_PLACED: ("inventory", INVENTORY_RESERVE),
    INVENTORY_RESERVED: ("payment", PAYMENT_PROCESS),
    PAYMENT_COMPLETED: ("delivery", DELIVERY_SCHEDULE),
    DELIVERY_FAILED: ("payment", PAYMENT_REFUND),  # compensation runs backwards by events
    PAYMENT_FAILED: ("inventory", INVENTORY_RELEASE),
    PAYMENT_REFUNDED: ("inventory", INVENTORY_RELEASE),
}


# A step's deadline passed (issue #16): the order service, which hears every event and so owns the
# deadlines, publishes `order.timed_out`, and EVERY participant undoes its part, whatever the step:
# in a choreography a late answer can still set off the participants after it (a late
# payment.completed makes delivery schedule), so each is fenced by its compensation's tombstone.
TIMED_OUT_REACTIONS: dict[str, str] = {
    "inventory": INVENTORY_RELEASE,
    "payment": PAYMENT_REFUND,
    "delivery": DELIVERY_CANCEL,
}


def delivered_as(style: Style, service: str, routing_key: str) -> str:
    """The key `service` receives for what `routing_key` names: in a choreography a command is
    the event that service reacts to with it (payment.process -> inventory.reserved); an
    experiment written in commands then means the same deliveries in either style."""
    if style.name == ORCHESTRATION or routing_key in style.bindings.get(service, ()):
        return routing_key
    return next((event for event, (who, command) in REACTIONS.items() if who == service and command == routing_key),
                routing_key)


def bus_keys(style: Style, routing_key: str) -> tuple[str, ...]:
    """What the bus of `style` carries for `routing_key`: itself, or in a choreography, for a
    command, the events that trigger it (inventory.release -> payment.failed, payment.refunded)."""
    if style.name == ORCHESTRATION or routing_key in style.routing_keys:
        return (routing_key,)
    return tuple(event for event, (_, command) in REACTIONS.items() if command == routing_key) or (routing_key,)


def reactions_of(service: str) -> dict[str, str]:
    """What `service` reacts to in a choreography: event -> its domain's command."""
    reactions = {event: command for event, (who, command) in REACTIONS.items() if who == service}
    if service in TIMED_OUT_REACTIONS:
        reactions[ORDER_TIMED_OUT] = TIMED_OUT_REACTIONS[service]
    return reactions


def _bus_trace(history_trace: tuple[str, ...]) -> tuple[str, ...]:
    """A choreography's bus trace for one of the order's history traces: the first command is
    `order.placed`, every other command is the reaction to the event before it (not a message)."""
    return (ORDER_PLACED, *(ORDER_TIMED_OUT if e.startswith("timeout:") else e
                            for e in history_trace if e not in COMMANDS))


@dataclass(frozen=True)
class Style:
    """What the bus carries in one style; the checker, the topology and the broker's permissions read it."""

    name: str
    bindings: Mapping[str, tuple[str, ...]]  # service -> routing keys its queue is bound to
    publishes: Mapping[str, tuple[str, ...]]  # service -> routing keys it (alone) may publish
    bus_traces: Mapping[str, tuple[str, ...]]  # outcome -> the routing keys on the bus, in order
    first_step: str  # the one message a saga starts with, published by the order service
    # Messages that oblige a participant to act (and answer): the commands, or the reacted-to events.
    triggers: tuple[str, ...]
    # A trigger -> the payment/delivery step it asks to decide (outcome_justified reads the force).
    decided_by: Mapping[str, str]

    @property
    def routing_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for keys in self.publishes.values() for k in keys))

    def owner(self, routing_key: str) -> str | None:
        return next((s for s, keys in self.publishes.items() if routing_key in keys), None)

    def bus_trace(self, history_trace: tuple[str, ...]) -> tuple[str, ...]:
        """The routing keys the bus carries for an order whose `history` is `history_trace`."""
        return history_trace if self.name == ORCHESTRATION else _bus_trace(history_trace)


ORCHESTRATED = Style(
    name=ORCHESTRATION,
    bindings=BINDINGS,
    publishes=PUBLISHES,
    bus_traces=LEGAL_TRACES,
    first_step=INVENTORY_RESERVE,
    triggers=COMMANDS,
    decided_by={PAYMENT_PROCESS: "payment", DELIVERY_SCHEDULE: "delivery"},
)

CHOREOGRAPHED = Style(
    name=CHOREOGRAPHY,
    bindings={
        "order": REPLIES,  # it listens to everything the participants say
        "inventory": (*(e for e, (s, _) in REACTIONS.items() if s == "inventory"), ORDER_TIMED_OUT),
        "payment": (*(e for e, (s, _) in REACTIONS.items() if s == "payment"), ORDER_TIMED_OUT),
        "delivery": (*(e for e, (s, _) in REACTIONS.items() if s == "delivery"), ORDER_TIMED_OUT),
    },
    publishes={
        "order": (ORDER_PLACED, ORDER_TIMED_OUT),
        "inventory": (INVENTORY_RESERVED, INVENTORY_FAILED, INVENTORY_RELEASED),
        "payment": (PAYMENT_COMPLETED, PAYMENT_FAILED, PAYMENT_REFUNDED),
        "delivery": (DELIVERY_SCHEDULED, DELIVERY_FAILED, DELIVERY_CANCELLED),
    },
    bus_traces={outcome: _bus_trace(trace) for outcome, trace in LEGAL_TRACES.items()},
    first_step=ORDER_PLACED,
    triggers=(*REACTIONS, ORDER_TIMED_OUT),
    decided_by={INVENTORY_RESERVED: "payment", PAYMENT_COMPLETED: "delivery"},
)

BY_NAME: dict[str, Style] = {ORCHESTRATION: ORCHESTRATED, CHOREOGRAPHY: CHOREOGRAPHED}


def style_named(name: str | None) -> Style:
    """The style called `name` (None or empty: the default); ValueError naming the choices."""
    if not name:
        return BY_NAME[DEFAULT_STYLE]
    try:
        return BY_NAME[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown saga style {name!r}; one of {', '.join(STYLES)}") from None


def env_style(env: Mapping[str, str] = os.environ) -> Style:
    """SAGA_STYLE of `env` (unset: orchestration)."""
    return style_named(env.get("SAGA_STYLE"))


# -- what the messages carry ------------------------------------------------------------------
def command_payload(command: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a participant's command needs, from what the order asked for (CONTEXT_FIELDS):
    the orchestrator's commands carry them; a choreography's reaction builds the same from the
    saga's context its event carries."""
    if command in (INVENTORY_RESERVE, INVENTORY_RELEASE):
        return {"product_id": request.get("product_id"), "quantity": request.get("quantity")}
    if command == PAYMENT_PROCESS:
        return {"user_id": request.get("user_id"), "amount": request.get("amount"),
                "force": request.get("force_payment")}
    if command == PAYMENT_REFUND:
        return {"amount": request.get("amount")}
    if command == DELIVERY_CANCEL:
        return {}
    if command == DELIVERY_SCHEDULE:
        return {
            "user_id": request.get("user_id"),
            "product_id": request.get("product_id"),
            "quantity": request.get("quantity"),
            "force": request.get("force_delivery"),
        }
    raise ValueError(f"no payload for {command}")


def saga_context(msg: Message) -> dict[str, Any]:
    """The saga's context a choreography's event carries (`order.placed` is it: the order's
    fields, flat, so inventory loads its stock as for a reserve); RefusedCommand if it has none."""
    if msg.type == ORDER_PLACED:
        return {name: msg.payload.get(name) for name in CONTEXT_FIELDS}
    context = msg.payload.get(SAGA_CONTEXT)
    if not isinstance(context, dict):
        raise RefusedCommand(f"{msg.type}: payload.{SAGA_CONTEXT} is missing or not an object")
    return context


Handler = Any  # system.messaging.handling.Handler (kept loose: no import cycle)


def reacting(decide: Handler, reactions: Mapping[str, str]) -> Handler:
    """A participant's handler in a choreography: the event it reacts to becomes its domain's
    command (same message_id and cause, fields from the saga's context), and what the domain
    answers carries the context on, and the event it reacted to. Anything else is ignored."""

    def handle(state: Any, msg: Message, ctx: HandlerContext) -> Outcome:
        command = reactions.get(msg.type)
        if command is None:
            return Outcome(state, (), f"no reaction to {msg.type}")
        if msg.payload.get(AFTER) == ORDER_TIMED_OUT:
            # An answer to order.timed_out sets nothing off: every participant heard the timeout.
            return Outcome(state, (), f"no reaction to {msg.type} after {ORDER_TIMED_OUT}")
        context = saga_context(msg)
        as_command = Message(msg.message_id, command, msg.order_id, command_payload(command, context),
                             msg.occurred_at, msg.causation_id)
        outcome = decide(state, as_command, ctx)
        carried = tuple(
            Message(m.message_id, m.type, m.order_id, {**m.payload, SAGA_CONTEXT: context, AFTER: msg.type},
                    m.occurred_at, m.causation_id)
            for m in outcome.messages
        )
        return Outcome(outcome.state, carried, f"{msg.type} -> {command}: {outcome.note}")

    return handle
