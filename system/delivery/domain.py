"""Delivery: schedule a delivery for a paid order, or report that it cannot be. Pure functions only."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from system.contracts import (
    DELIVERY_CANCEL,
    DELIVERY_CANCELLED,
    DELIVERY_FAILED,
    DELIVERY_SCHEDULE,
    DELIVERY_SCHEDULED,
    HandlerContext,
    Message,
    Outcome,
    caused_by,
    command_field,
    uuid5_text,
)
from system.decisions import delivery_fails
from system.validation import forced_outcome, positive_quantity, text

SCHEDULED, FAILED, CANCELLED = "scheduled", "failed", "cancelled"

_DELIVERY_NS = uuid.UUID("a3e0f6b4-2c9d-4f1a-8e57-5d1b9c0e7f32").bytes


class Delivery(NamedTuple):
    delivery_id: str
    order_id: str
    status: str  # scheduled | failed | cancelled


def delivery_id_for(order_id: str) -> str:
    return uuid5_text(_DELIVERY_NS, order_id)


def handle(delivery: Delivery | None, msg: Message, ctx: HandlerContext) -> Outcome:
    if msg.type == DELIVERY_SCHEDULE:
        check_schedule(msg)
        return schedule_delivery(delivery, msg, ctx)
    if msg.type == DELIVERY_CANCEL:
        return cancel_delivery(delivery, msg, ctx)
    return Outcome(delivery, (), f"delivery ignores {msg.type}")


def check_schedule(msg: Message) -> None:
    """Refuse (RefusedCommand: dead letter, no reply) a schedule whose fields are verifiably wrong."""
    command_field(msg, "user_id", text)
    command_field(msg, "product_id", text)
    command_field(msg, "quantity", positive_quantity)
    command_field(msg, "force", forced_outcome, optional=True)


def schedule_delivery(delivery: Delivery | None, msg: Message, ctx: HandlerContext) -> Outcome:
    if delivery is not None:
        key = DELIVERY_SCHEDULED if delivery.status == SCHEDULED else DELIVERY_FAILED
        return Outcome(delivery, (_reply(msg, delivery, key, ctx),), "already decided")
    fails = delivery_fails(ctx.decisions, msg.order_id, msg.payload.get("force"))
    new = Delivery(delivery_id_for(msg.order_id), msg.order_id, FAILED if fails else SCHEDULED)
    key = DELIVERY_FAILED if fails else DELIVERY_SCHEDULED
    return Outcome(new, (_reply(msg, new, key, ctx),), f"delivery {new.status}")


def cancel_delivery(delivery: Delivery | None, msg: Message, ctx: HandlerContext) -> Outcome:
    """A timed-out saga's compensation (issue #16): a scheduled delivery is cancelled; none yet
    leaves a cancelled tombstone, so a schedule arriving late is refused; a failed one stays."""
    if delivery is None:
        tombstone = Delivery(delivery_id_for(msg.order_id), msg.order_id, CANCELLED)
        return Outcome(tombstone, (_reply(msg, tombstone, DELIVERY_CANCELLED, ctx),), "cancelled before scheduling")
    if delivery.status == SCHEDULED:
        cancelled = delivery._replace(status=CANCELLED)
        return Outcome(cancelled, (_reply(msg, cancelled, DELIVERY_CANCELLED, ctx),), "delivery cancelled")
    return Outcome(delivery, (_reply(msg, delivery, DELIVERY_CANCELLED, ctx),), f"cancel of a {delivery.status} delivery")


def _reply(msg: Message, delivery: Delivery, key: str, ctx: HandlerContext) -> Message:
    payload = {"delivery_id": delivery.delivery_id}
    if key == DELIVERY_FAILED:
        payload["reason"] = "cancelled" if delivery.status == CANCELLED else "delivery_failed"
    return caused_by(msg, key, payload, ctx.now)
