"""Payment HTTP API: every payment with its status and what was refunded."""

from __future__ import annotations

from fastapi import APIRouter

from system.config import ServiceConfig
from system.http_input import service_router
from system.payment import store
from system.stores.threads import StoreThreads


def routes(db: StoreThreads, config: ServiceConfig) -> APIRouter:
    router = service_router()

    @router.get("/payments")
    async def payments(order_id: str | None = None) -> list[dict]:
        return await db.run(store.list_payments, db.store.conn, order_id)

    return router
