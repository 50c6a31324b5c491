"""Inventory: reserve stock for an order, release it on compensation. Pure functions only.

`reserved` counts units allocated to orders that are in flight or completed (shipped), so stock
is conserved: available + reserved == opening stock, for every product, at every commit.
"""

from __future__ import annotations

from typing import NamedTuple

from system.contracts import (
    INVENTORY_FAILED,
    INVENTORY_RELEASE,
    INVENTORY_RELEASED,
    INVENTORY_RESERVE,
    INVENTORY_RESERVED,
    HandlerContext,
    Message,
    Outcome,
    RefusedCommand,
    caused_by,
    command_field,
)
from system.validation import positive_quantity, text

RESERVED, RELEASED, REJECTED = "reserved", "released", "rejected"

class Stock(NamedTuple):
    product_id: str
    available: int
    reserved: int


class Reservation(NamedTuple):
    order_id: str
    product_id: str
    quantity: int
    status: str  # reserved | released | rejected
    # A rejection's evidence: the units available when inventory refused (None otherwise, and for
    # an unknown product). The checker judges a refusal from it when no recording of the bus exists.
    available_seen: int | None = None


class InventoryState(NamedTuple):
    """The slice of inventory one message touches: one product's stock and one order's reservation."""

    stock: Stock | None
    reservation: Reservation | None


def handle(state: InventoryState, msg: Message, ctx: HandlerContext) -> Outcome:
    if msg.type == INVENTORY_RESERVE:
        check_command(state, msg)
        return reserve_stock(state, msg, ctx)
    if msg.type == INVENTORY_RELEASE:
        check_command(state, msg)
        return release_stock(state, msg, ctx)
    return Outcome(state, (), f"inventory ignores {msg.type}")


def check_command(state: InventoryState, msg: Message) -> None:
    """Refuse (RefusedCommand: dead letter, no reply) a reserve or release whose fields are
    verifiably wrong: a quantity that is not a positive integer, a product inventory does not
    hold. The order API refuses both, so only a forged or corrupted command gets here."""
    command_field(msg, "quantity", positive_quantity)
    product_id = command_field(msg, "product_id", text)
    if state.stock is None:
        raise RefusedCommand(f"{msg.type}: payload.product_id {product_id[:200]!r} is not a known product")


def reserve_stock(state: InventoryState, msg: Message, ctx: HandlerContext) -> Outcome:
    existing = state.reservation
    if existing is not None:
        # Already decided for this order (a re-sent command): repeat the answer, change nothing.
        if existing.status == RESERVED:
            return Outcome(state, (_reply(msg, INVENTORY_RESERVED, existing, ctx),), "already reserved")
        if existing.status == REJECTED:
            failed = _failed(msg, "insufficient_inventory", ctx, existing.available_seen)
            return Outcome(state, (failed,), "already rejected")
        if existing.quantity == 0:
            # Released before it was ever reserved (a timed-out saga's compensation overtook this
            # reserve, issue #16): take nothing, and answer with what holds, it is released.
            return Outcome(state, (_reply(msg, INVENTORY_RELEASED, existing, ctx),), "reserve after release refused")
        # Reserved, then released (a copy of the reserve arriving late): decided long ago, the
        # original was answered; a copy gets no second, different answer.
        return Outcome(state, (), "reserve after release ignored")
    quantity = int(msg.payload["quantity"])
    product_id = str(msg.payload["product_id"])
    stock = state.stock
    if stock is None:  # check_command refuses this; a defect's wrapper may call without it
        raise RefusedCommand(f"{msg.type}: payload.product_id {product_id[:200]!r} is not a known product")
    if stock.available < quantity:
        return reject_insufficient(stock, msg, ctx)
    reservation = Reservation(msg.order_id, product_id, quantity, RESERVED)
    taken = take(stock, quantity)
    return Outcome(
        InventoryState(taken, reservation),
        (_reply(msg, INVENTORY_RESERVED, reservation, ctx, available=taken.available),),
        f"reserved {quantity} of {product_id}",
    )


def take(stock: Stock, quantity: int) -> Stock:
    """`quantity` units move from available to reserved."""
    return Stock(stock.product_id, stock.available - quantity, stock.reserved + quantity)


def give_back(stock: Stock, quantity: int) -> Stock:
    """`quantity` units move from reserved back to available."""
    return Stock(stock.product_id, stock.available + quantity, stock.reserved - quantity)


def reject_insufficient(stock: Stock, msg: Message, ctx: HandlerContext) -> Outcome:
    """Not enough stock for `msg`: a rejected reservation recording the units available when it
    decided (its evidence, in the reply as well), the stock unchanged."""
    quantity = int(msg.payload.get("quantity", 0))
    product_id = str(msg.payload.get("product_id", ""))
    rejected = Reservation(msg.order_id, product_id, quantity, REJECTED, stock.available)
    return Outcome(
        InventoryState(stock, rejected),
        (_failed(msg, "insufficient_inventory", ctx, stock.available),),
        f"insufficient: {stock.available} < {quantity}",
    )


def reserved_reply(msg: Message, reservation: Reservation, ctx: HandlerContext) -> Message:
    return _reply(msg, INVENTORY_RESERVED, reservation, ctx)


def release_stock(state: InventoryState, msg: Message, ctx: HandlerContext) -> Outcome:
    existing = state.reservation
    if existing is None:
        # Never applied: remember the release so a late reserve cannot take stock afterwards.
        tombstone = Reservation(
            msg.order_id, str(msg.payload.get("product_id", "")), 0, RELEASED
        )
        return Outcome(
            InventoryState(state.stock, tombstone),
            (_reply(msg, INVENTORY_RELEASED, tombstone, ctx),),
            "release of unknown reservation",
        )
    if existing.status == RESERVED:
        return release(state, existing, msg, ctx)
    # Already released, or never reserved (rejected): nothing to give back, but confirm it.
    return Outcome(state, (_reply(msg, INVENTORY_RELEASED, existing, ctx),), "already released")


def release(state: InventoryState, existing: Reservation, msg: Message, ctx: HandlerContext) -> Outcome:
    """Give the reservation's units back and mark it released."""
    new_stock = give_back(state.stock, existing.quantity) if state.stock is not None else None
    released = existing._replace(status=RELEASED)
    return Outcome(
        InventoryState(new_stock, released),
        (_reply(msg, INVENTORY_RELEASED, released, ctx),),
        f"released {existing.quantity} of {existing.product_id}",
    )


def _reply(msg: Message, key: str, reservation: Reservation, ctx: HandlerContext,
           available: int | None = None) -> Message:
    """`available`: the product's units available after a fresh reservation (a repeat has none)."""
    payload: dict[str, object] = {"product_id": reservation.product_id, "quantity": reservation.quantity}
    if available is not None:
        payload["available"] = available
    return caused_by(msg, key, payload, ctx.now)


def _failed(msg: Message, reason: str, ctx: HandlerContext, available: int | None = None) -> Message:
    """`available`: for insufficient_inventory, the units available when inventory refused."""
    payload = {
        "product_id": msg.payload.get("product_id"),
        "quantity": msg.payload.get("quantity"),
        "reason": reason,
    }
    if available is not None:
        payload["available"] = available
    return caused_by(msg, INVENTORY_FAILED, payload, ctx.now)
