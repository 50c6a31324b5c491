"""The order service owns the saga's deadlines (issue #16), in both styles. Pure functions only.

- Every step the order waits for (AWAITED) arms a deadline in the order's row, in the same
  transaction as the step itself (`timing_out` wraps the style's handler and re-arms on every
  status change); a terminal or compensating order has none (compensations never time out:
  there is nothing safe to do instead, they are retried until done).
- When the timer fires (a `saga.deadline` message, system/deadlines.py) and the order still waits
  for that step, the saga is over: `failed`, `failure_reason` `timeout:<step>`, the history shows
  the timeout and the compensations, and every step begun is undone at once:
  - orchestration: the order service sends the compensating commands (COMPENSATIONS);
  - choreography: it publishes `order.timed_out` (its second and last message of the saga) and
    every participant undoes its part (system/styles.py TIMED_OUT_REACTIONS).
  The order does not wait for the compensations' answers: its verdict is final at the deadline
  (so a saga ends within its deadlines even while a participant stays away); the undoing is
  guaranteed by the outbox and the participants' idempotent compensations, and checked once the
  system is quiescent (no_effect_after_timeout).
- A late answer never revives the saga: a `failed` order ignores every reply. Its effect is undone
  by the compensation already sent, whichever arrives first at the participant: a compensation
  before the late command leaves a tombstone that refuses it (inventory's released reservation,
  payment's cancelled row, delivery's cancelled row); after it, it undoes the effect.
- Participants do NOT drop commands past their deadline: they would need the owner's clock (a
  participant deciding "still in time" at T-1 ms while the owner fires at T needs the undo path
  anyway), so the compensation, which carries no clock, is the one mechanism.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from system.contracts import (
    DELIVERY_CANCEL,
    INVENTORY_RELEASE,
    ORDER_TIMED_OUT,
    PAYMENT_REFUND,
    TIMEOUT_TRACES,
    HandlerContext,
    Message,
    Outcome,
    caused_by,
)
from system.deadlines import (
    NO_TIMEOUTS,
    SAGA_DEADLINE,
    TIMEOUT_PREFIX,
    StepTimeouts,
    Timer,
    add_seconds,
)
from system.order import domain
from system.order.domain import (
    FAILED,
    INVENTORY_RESERVED_STATUS,
    PAYMENT_COMPLETED_STATUS,
    PENDING,
    HistoryEntry,
    Order,
    command,
)
from system.styles import CHOREOGRAPHY, ORCHESTRATION, SAGA_CONTEXT

Handler = Callable[[Any, Message, HandlerContext], Outcome]

# The status an order is in while it waits for a step -> that step.
AWAITED: dict[str, str] = {
    PENDING: "inventory",
    INVENTORY_RESERVED_STATUS: "payment",
    PAYMENT_COMPLETED_STATUS: "delivery",
}

# A timed-out step -> the compensations sent at once, latest step first (the history lists them).
COMPENSATIONS: dict[str, tuple[str, ...]] = {
    "inventory": (INVENTORY_RELEASE,),
    "payment": (PAYMENT_REFUND, INVENTORY_RELEASE),
    "delivery": (DELIVERY_CANCEL, PAYMENT_REFUND, INVENTORY_RELEASE),
}
for _step, _commands in COMPENSATIONS.items():  # the history is the documented trace's tail
    assert TIMEOUT_TRACES[TIMEOUT_PREFIX + _step][-len(_commands) - 1:] == (TIMEOUT_PREFIX + _step, *_commands)


def timeouts_of(ctx: HandlerContext) -> StepTimeouts:
    return getattr(ctx.decisions, "timeouts", None) or NO_TIMEOUTS


def deadline_for(status: str, now: str, timeouts: StepTimeouts) -> str | None:
    """When the step awaited in `status` times out, if it has a deadline."""
    step = AWAITED.get(status)
    seconds = timeouts.for_step(step) if step is not None else None
    return add_seconds(now, seconds) if seconds is not None else None


def timer_of(order: Order) -> Timer | None:
    """The order's armed timer (what the stores list for the timer loop)."""
    step = AWAITED.get(order.status)
    if order.deadline is None or step is None:
        return None
    return Timer(order.order_id, SAGA_DEADLINE, step, order.deadline)


def timing_out(decide: Handler, style: str = ORCHESTRATION,
               compensations: Mapping[str, tuple[str, ...]] = COMPENSATIONS) -> Handler:
    """The order's handler (`decide`, either style) with deadlines: a fired timer times the saga
    out; any other message is decided as before, and a new status arms its step's deadline."""

    def handle(order: Order | None, msg: Message, ctx: HandlerContext) -> Outcome:
        if msg.type == SAGA_DEADLINE:
            return timed_out(order, msg, ctx, style, compensations)
        outcome = decide(order, msg, ctx)
        after = outcome.state
        if order is None or after is None or after is order:
            return outcome
        if after.status == order.status:
            deadline = order.deadline
        else:
            deadline = deadline_for(after.status, ctx.now, timeouts_of(ctx))
        if deadline != after.deadline:
            outcome = outcome._replace(state=after._replace(deadline=deadline))
        return outcome

    return handle


def timed_out(order: Order | None, msg: Message, ctx: HandlerContext, style: str,
              compensations: Mapping[str, tuple[str, ...]] = COMPENSATIONS) -> Outcome:
    step = msg.payload.get("step")
    if order is None:
        return Outcome(None, (), f"deadline of {step} for unknown order ignored")
    if AWAITED.get(order.status) != step or order.deadline is None or order.deadline != msg.payload.get("at"):
        return Outcome(order, (), f"deadline of {step} ignored in status {order.status} (answered in time)")
    reason = f"{TIMEOUT_PREFIX}{step}"
    commands = compensations.get(str(step), ())
    now = ctx.now
    history = order.history + (HistoryEntry(reason, now),) + tuple(HistoryEntry(c, now) for c in commands)
    failed = order._replace(status=FAILED, failure_reason=reason, history=history, updated_at=now, deadline=None)
    if style == CHOREOGRAPHY:
        context = dict(order.request.__dict__)
        messages: tuple[Message, ...] = (
            # product_id flat as well, as in order.placed: inventory loads its stock by it.
            caused_by(msg, ORDER_TIMED_OUT, {"step": step, "product_id": order.request.product_id,
                                             SAGA_CONTEXT: context}, now),
        )
    else:
        messages = tuple(command(msg, c, order, ctx) for c in commands)
    return Outcome(failed, messages, f"{order.status} -> failed ({reason})")


# The order service's handlers, deadlines included (system/registry.py names `handle`).
handle = timing_out(domain.handle, ORCHESTRATION)
choreography_handle = timing_out(domain.choreography_handle, CHOREOGRAPHY)
