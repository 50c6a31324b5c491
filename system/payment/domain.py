"""Payment: charge an order (or decline it), refund it on compensation. Pure functions only."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import NamedTuple

from system.contracts import (
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_PROCESS,
    PAYMENT_REFUND,
    PAYMENT_REFUNDED,
    HandlerContext,
    Message,
    Outcome,
    TransientFailure,
    caused_by,
    command_field,
    uuid5_text,
)
from system.decisions import first_good_attempt, payment_fails, retry_delay_s
from system.validation import forced_outcome, positive_amount, text

COMPLETED, FAILED, REFUNDED = "completed", "failed", "refunded"
# A refund that came before any charge (a timed-out saga's compensation overtook the charge, issue
# #16): the row is a tombstone that fences the late charge off; it never moved money.
CANCELLED = "cancelled"

_PAYMENT_NS = uuid.UUID("0d7b3c1e-61c4-4b8e-a0b4-7a2f6f0c9e21").bytes


class Payment(NamedTuple):
    payment_id: str
    order_id: str
    user_id: str
    amount: float
    status: str  # completed | failed | refunded | cancelled
    refunded_amount: float = 0.0

    @property
    def net_charge(self) -> float:
        return 0.0 if self.status in (FAILED, CANCELLED) else round(self.amount - self.refunded_amount, 2)


def payment_id_for(order_id: str, attempt: str = "") -> str:
    return uuid5_text(_PAYMENT_NS, f"{order_id}|{attempt}")


def handle(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
    if msg.type == PAYMENT_PROCESS:
        check_process(msg)
        return process_payment(payment, msg, ctx)
    if msg.type == PAYMENT_REFUND:
        command_field(msg, "amount", positive_amount)
        return refund_payment(payment, msg, ctx)
    return Outcome(payment, (), f"payment ignores {msg.type}")


def check_process(msg: Message) -> None:
    """Refuse (RefusedCommand: dead letter, no reply) a charge whose fields are verifiably wrong."""
    command_field(msg, "amount", positive_amount)
    command_field(msg, "user_id", text)
    command_field(msg, "force", forced_outcome, optional=True)


def process_payment(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
    force = msg.payload.get("force")
    good = first_good_attempt(ctx.decisions, msg.order_id, force)
    retries = (good if good is not None else ctx.decisions.max_retries + 1) - 1
    if payment is not None and payment.status == CANCELLED:
        # The saga was compensated before this charge arrived (a late command): never charge.
        payload: dict[str, object] = {"payment_id": payment.payment_id, "amount": payment.amount, "reason": "cancelled"}
        return Outcome(payment, (caused_by(msg, PAYMENT_FAILED, _with_retries(payload, msg, ctx, min(ctx.attempt - 1, retries)),
                                           ctx.now),), "charge after cancellation refused")
    if payment is not None:
        # Decided before (a re-sent command): repeat the decision, never charge again.
        key = PAYMENT_FAILED if payment.status == FAILED else PAYMENT_COMPLETED
        return Outcome(payment, (_reply(msg, payment, key, ctx),), "already processed")
    if ctx.attempt <= retries:
        # The gateway failed for now: nothing is charged (the transaction rolls back), the
        # consumer retries after a capped exponential backoff with jitter.
        raise TransientFailure(f"payment gateway unavailable (attempt {ctx.attempt} of order {msg.order_id})",
                               retry_delay_s(ctx.decisions, msg.order_id, ctx.attempt))
    outcome = charge(msg, ctx, payment_fails(ctx.decisions, msg.order_id, force))
    if retries:  # the retries this charge took, and the planned spacing, on the reply (retries_bounded)
        reply = outcome.messages[0]
        payload = _with_retries(dict(reply.payload), msg, ctx, retries)
        if good is None:
            payload["reason"] = "gateway_unavailable"
        outcome = outcome._replace(messages=(replace(reply, payload=payload),))
    return outcome


def _with_retries(payload: dict[str, object], msg: Message, ctx: HandlerContext, retries: int) -> dict[str, object]:
    """The retries a charge took (at most those its dice plan: a lost connection's redeliveries
    count as attempts too, never as retries) and their planned spacing, for retries_bounded."""
    if retries <= 0:
        return payload
    return {**payload, "retries": retries,
            "retry_delays_s": [retry_delay_s(ctx.decisions, msg.order_id, n) for n in range(1, retries + 1)]}


def charge(msg: Message, ctx: HandlerContext, fails: bool, attempt: str = "") -> Outcome:
    """Charge (or decline) what `msg` asks for; `attempt` tells apart a second charge's row."""
    new = Payment(
        payment_id=payment_id_for(msg.order_id, attempt),
        order_id=msg.order_id,
        user_id=str(msg.payload.get("user_id", "")),
        amount=float(msg.payload.get("amount", 0.0)),
        status=FAILED if fails else COMPLETED,
    )
    key = PAYMENT_FAILED if fails else PAYMENT_COMPLETED
    return Outcome(new, (_reply(msg, new, key, ctx),), f"payment {new.status}")


def refund_payment(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
    if payment is None:
        # Nothing charged yet: remember the refund, so a charge arriving late cannot take money.
        tombstone = Payment(payment_id_for(msg.order_id), msg.order_id, "",
                            float(msg.payload.get("amount", 0.0)), CANCELLED)
        reply = caused_by(msg, PAYMENT_REFUNDED, {"amount": 0.0}, ctx.now)
        return Outcome(tombstone, (reply,), "refund before any charge: cancelled")
    if payment.status in (FAILED, CANCELLED):
        # Never charged: nothing to give back, but confirm so the saga can go on.
        reply = caused_by(msg, PAYMENT_REFUNDED, {"amount": 0.0}, ctx.now)
        return Outcome(payment, (reply,), "refund of an uncharged order")
    if payment.status == REFUNDED:
        return Outcome(payment, (_reply(msg, payment, PAYMENT_REFUNDED, ctx),), "already refunded")
    return refund(payment, msg, ctx)


def refund(payment: Payment, msg: Message, ctx: HandlerContext) -> Outcome:
    """Pay the charge back."""
    refunded = payment._replace(
        status=REFUNDED, refunded_amount=round(payment.refunded_amount + payment.amount, 2)
    )
    return Outcome(refunded, (_reply(msg, refunded, PAYMENT_REFUNDED, ctx),), "refunded")


def _reply(msg: Message, payment: Payment, key: str, ctx: HandlerContext) -> Message:
    payload = {"payment_id": payment.payment_id, "amount": payment.amount}
    return caused_by(msg, key, payload, ctx.now)
