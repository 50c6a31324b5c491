"""Delivery HTTP API: every delivery with its status."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from system.config import ServiceConfig
from system.delivery import store
from system.http_input import service_router
from system.stores.sqlite import SqlConnection, SqlStore


def routes(db: Callable[[], SqlStore], config: ServiceConfig) -> APIRouter:
    router = service_router()

    def conn() -> SqlConnection:
        return db().conn

    @router.get("/deliveries")
    async def deliveries(order_id: str | None = None) -> list[dict]:
        return store.list_deliveries(conn(), order_id)

    return router
