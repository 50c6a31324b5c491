"""Opt-in defects of the inventory service, as wrappers around its correct handler."""

from __future__ import annotations

from system.contracts import INVENTORY_RELEASE, INVENTORY_RESERVE, HandlerContext, Message, Outcome
from system.inventory.domain import (
    RELEASED,
    RESERVED,
    InventoryState,
    reject_insufficient,
    release,
    reserved_reply,
    take,
)
from system.messaging.handling import Handler


def reserving_again(handle: Handler) -> Handler:
    """Trusts the inbox: a repeated reserve takes the stock again (with no_inbox_dedup)."""

    def wrapped(state: InventoryState, msg: Message, ctx: HandlerContext) -> Outcome:
        existing, stock = state.reservation, state.stock
        if msg.type != INVENTORY_RESERVE or existing is None or existing.status != RESERVED or stock is None:
            return handle(state, msg, ctx)
        taken = InventoryState(take(stock, existing.quantity), existing)
        return Outcome(taken, (reserved_reply(msg, existing, ctx),), "reserved again")

    return wrapped


def releasing_again(handle: Handler) -> Handler:
    """A repeated release returns the stock again."""

    def wrapped(state: InventoryState, msg: Message, ctx: HandlerContext) -> Outcome:
        existing = state.reservation
        if msg.type == INVENTORY_RELEASE and existing is not None and existing.status == RELEASED:
            return release(state, existing, msg, ctx)
        return handle(state, msg, ctx)

    return wrapped


def refusing_exact_stock(handle: Handler) -> Handler:
    """Off by one: an order for exactly the remaining stock is refused (> instead of >=)."""

    def wrapped(state: InventoryState, msg: Message, ctx: HandlerContext) -> Outcome:
        stock = state.stock
        if msg.type == INVENTORY_RESERVE and state.reservation is None and stock is not None:
            if stock.available > 0 and int(msg.payload.get("quantity", 0)) == stock.available:
                return reject_insufficient(stock, msg, ctx)
        return handle(state, msg, ctx)

    return wrapped
