"""Delivery HTTP API: every delivery with its status."""

from __future__ import annotations

from fastapi import APIRouter

from system.config import ServiceConfig
from system.delivery import store
from system.http_input import service_router
from system.stores.threads import StoreThreads


def routes(db: StoreThreads, config: ServiceConfig) -> APIRouter:
    router = service_router()

    @router.get("/deliveries")
    async def deliveries(order_id: str | None = None) -> list[dict]:
        return await db.run(store.list_deliveries, db.store.conn, order_id)

    return router
