"""Serve an ASGI app to a synchronous httpx client inside this process (no port, no server).

The harness's clients are synchronous (pytest-bdd steps, Locust), and httpx.ASGITransport is
asynchronous, so the app runs on an event loop in a background thread, lifespan included (the
service opens its database there), and each request is handed to httpx.ASGITransport on that loop.

    with InProcessTransport(app) as transport:
        client = SagaClient(endpoints, transport=transport)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, app: Any, *, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="in-process-app", daemon=True)
        self._thread.start()
        self._lifespan: AbstractAsyncContextManager[Any] = app.router.lifespan_context(app)
        self._call(self._lifespan.__aenter__())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def forward() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)

        return self._call(forward())

    def close(self) -> None:
        if not self._loop.is_running():
            return
        try:
            self._call(self._lifespan.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._timeout)
            self._loop.close()
