"""Inventory HTTP API: stock per product, and the reservations behind it."""

from __future__ import annotations

from fastapi import APIRouter

from system.config import ServiceConfig
from system.http_input import service_router
from system.inventory import store
from system.stores.threads import StoreThreads


def routes(db: StoreThreads, config: ServiceConfig) -> APIRouter:
    router = service_router()

    @router.get("/inventory")
    async def inventory() -> list[dict]:
        return await db.run(store.list_stock, db.store.conn)

    @router.get("/inventory/reservations")
    async def reservations(order_id: str | None = None) -> list[dict]:
        return await db.run(store.list_reservations, db.store.conn, order_id)

    return router
