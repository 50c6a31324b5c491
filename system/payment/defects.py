"""Opt-in defects of the payment service, as wrappers around its correct handler."""

from __future__ import annotations

from dataclasses import replace

from system.contracts import PAYMENT_PROCESS, PAYMENT_REFUND, HandlerContext, Message, Outcome
from system.decisions import FORCE_FAIL, RETRY_SEARCH, payment_fails, roll, step_fails
from system.messaging.handling import Handler
from system.payment.domain import REFUNDED, Payment, charge, refund


def charging_again(handle: Handler) -> Handler:
    """Trusts the inbox: a repeated payment.process charges again, a new row (with no_inbox_dedup)."""

    def wrapped(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
        if msg.type != PAYMENT_PROCESS or payment is None:
            return handle(payment, msg, ctx)
        fails = payment_fails(ctx.decisions, msg.order_id, msg.payload.get("force"))
        return charge(msg, ctx, fails, attempt=payment.payment_id)

    return wrapped


def refunding_again(handle: Handler) -> Handler:
    """A repeated refund pays back again."""

    def wrapped(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
        if msg.type == PAYMENT_REFUND and payment is not None and payment.status == REFUNDED:
            return refund(payment, msg, ctx)
        return handle(payment, msg, ctx)

    return wrapped


def rerolling_per_delivery(handle: Handler) -> Handler:
    """The classic bug: a fresh dice roll per delivery of the command instead of per order."""

    def wrapped(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
        if msg.type != PAYMENT_PROCESS:
            return handle(payment, msg, ctx)
        force = msg.payload.get("force")
        fails = roll(ctx.decisions.seed, msg.message_id, "payment") < ctx.decisions.payment_failure_rate
        fails = fails if force is None else force == FORCE_FAIL
        return charge(msg, ctx, fails, attempt=msg.message_id)

    return wrapped


def relabelled_dice(handle: Handler) -> Handler:
    """The payment decision rolls the dice under the wrong step key ("delivery")."""

    def wrapped(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
        if msg.type != PAYMENT_PROCESS or payment is not None:
            return handle(payment, msg, ctx)
        d = ctx.decisions
        fails = step_fails(d.seed, msg.order_id, "delivery", d.payment_failure_rate, msg.payload.get("force"))
        return charge(msg, ctx, fails)

    return wrapped


def retrying_without_bound(handle: Handler) -> Handler:
    """unbounded_retries: a transient gateway error is retried as long as the gateway keeps
    failing, SAGA_MAX_RETRIES ignored (until the consumer's own attempts run out)."""

    def wrapped(payment: Payment | None, msg: Message, ctx: HandlerContext) -> Outcome:
        return handle(payment, msg, ctx._replace(decisions=replace(ctx.decisions, max_retries=RETRY_SEARCH)))

    return wrapped
