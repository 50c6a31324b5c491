"""Payment HTTP API: every payment with its status and what was refunded."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from system.config import ServiceConfig
from system.http_input import service_router
from system.payment import store
from system.stores.sqlite import SqlConnection, SqlStore


def routes(db: Callable[[], SqlStore], config: ServiceConfig) -> APIRouter:
    router = service_router()

    def conn() -> SqlConnection:
        return db().conn

    @router.get("/payments")
    async def payments(order_id: str | None = None) -> list[dict]:
        return store.list_payments(conn(), order_id)

    return router
