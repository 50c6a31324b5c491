"""Inventory HTTP API: stock per product, and the reservations behind it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from system.config import ServiceConfig
from system.http_input import service_router
from system.inventory import store
from system.stores.sqlite import SqlConnection, SqlStore


def routes(db: Callable[[], SqlStore], config: ServiceConfig) -> APIRouter:
    router = service_router()

    def conn() -> SqlConnection:
        return db().conn

    @router.get("/inventory")
    async def inventory() -> list[dict]:
        return store.list_stock(conn())

    @router.get("/inventory/reservations")
    async def reservations(order_id: str | None = None) -> list[dict]:
        return store.list_reservations(conn(), order_id)

    return router
