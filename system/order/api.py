"""Order HTTP API: place an order (with an optional Idempotency-Key) and read saga state."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from system.catalog import INITIAL_STOCK
from system.composition import placement
from system.config import ServiceConfig
from system.http_input import TOO_LARGE, ValidationProblem, problem, service_router, unprocessable
from system.order import store
from system.order.domain import STATUSES, Conflict, OrderRequest
from system.order.placement import Placed
from system.order.view import order_view
from system.stores.sqlite import utc_now
from system.stores.threads import StoreThreads
from system.tracing import new_order_id, now_ns
from system.validation import MAX_AMOUNT, MAX_QUANTITY, positive_amount, positive_quantity

Force = Literal["fail", "succeed"]


class ForceOutcome(BaseModel):
    """Test hook: force a step's outcome for this order instead of rolling the dice."""

    model_config = ConfigDict(extra="forbid")
    payment: Force | None = None
    delivery: Force | None = None


class CreateOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=200)
    product_id: str = Field(min_length=1, max_length=200)
    # The shared rule (system/validation.py) decides; Field only describes it in the OpenAPI.
    quantity: int = Field(gt=0, le=MAX_QUANTITY, strict=True)
    amount: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="> 0 once rounded to cents")
    force: ForceOutcome | None = None

    @field_validator("quantity", mode="before")
    @classmethod
    def positive_quantity(cls, value: object) -> int:
        return positive_quantity(value)

    @field_validator("amount", mode="before")
    @classmethod
    def positive_amount(cls, value: object) -> float:
        return positive_amount(value)

    @field_validator("product_id")
    @classmethod
    def known_product(cls, value: str) -> str:
        if value not in INITIAL_STOCK:
            raise ValueError(f"unknown product {value!r}; known: {', '.join(INITIAL_STOCK)}")
        return value

    def to_request(self) -> OrderRequest:
        force = self.force or ForceOutcome()
        return OrderRequest(
            user_id=self.user_id,
            product_id=self.product_id,
            quantity=self.quantity,
            amount=round(self.amount, 2),
            force_payment=force.payment,
            force_delivery=force.delivery,
        )


class Accepted(BaseModel):
    order_id: str
    status: str


def routes(db: StoreThreads, config: ServiceConfig) -> APIRouter:
    router = service_router()

    place = placement(config.defects, config.style, config.decisions.timeouts)

    @router.post(
        "/orders",
        status_code=201,
        response_model=Accepted,
        responses={
            200: {"model": Accepted, "description": "A retry with the same Idempotency-Key and body: the same order"},
            409: problem("The Idempotency-Key was used with a different body"),
            413: TOO_LARGE,
            422: {"model": ValidationProblem, "description": "A field, or the body's JSON, is invalid"},
        },
    )
    async def create_order(
        body: CreateOrder,
        request: Request,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse:
        book = store.SqlOrderBook(db.store)
        tracing, began_ns = request.app.state.tracing, now_ns()
        result = await db.commit(place, book, new_order_id(request.scope), body.to_request(), idempotency_key, utc_now())
        if isinstance(result, Conflict):
            raise HTTPException(
                409,
                f"Idempotency-Key {idempotency_key!r} was already used for order {result.order.order_id} "
                "with a different request body",
            )
        order = result.order
        if isinstance(result, Placed):
            tracing.placed(order.order_id, began_ns)
            request.app.state.runtime.wake_relay()
            return JSONResponse({"order_id": order.order_id, "status": order.status}, status_code=201)
        tracing.replayed(order.order_id)
        return JSONResponse({"order_id": order.order_id, "status": order.status}, status_code=200)  # a retry

    @router.get("/orders")
    async def list_orders(
        response: Response,
        status: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=store.PAGE_MAX)] = store.PAGE_DEFAULT,
        after: Annotated[str | None, Query(max_length=400)] = None,
    ) -> list[dict]:
        """One page, oldest first; X-Next-After carries the cursor of the next page if any."""
        if status is not None and status not in STATUSES:
            raise unprocessable(("query", "status"), f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        try:
            orders = await db.run(store.list_orders, db.store.conn, status, limit + 1, after)
        except ValueError as exc:
            raise unprocessable(("query", "after"), str(exc)) from None
        if len(orders) > limit:  # one more row than asked for: there is a next page
            orders = orders[:limit]
            response.headers["X-Next-After"] = store.page_cursor(orders[-1])
        return [order_view(o) for o in orders]

    @router.get("/orders/{order_id}", responses={404: problem("No such order")})
    async def get_order(order_id: str) -> dict:
        order = await db.run(store.get, db.store.conn, order_id)
        if order is None:
            raise HTTPException(404, f"order {order_id} not found")
        return order_view(order)

    return router
