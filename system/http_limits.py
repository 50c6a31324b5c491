"""What one HTTP client may cost a service: body bytes, time to send a request, connections.

Two pieces, both installed by the service process (system/__main__.py, system/app.py):

- `BodyLimit`, a pure-ASGI middleware that counts body bytes as they arrive. A declared
  Content-Length over the limit is refused before any byte is read; a chunked (or lying) body is
  refused as soon as the running count passes the limit, so the body is never held whole.
- `GuardedH11Protocol`, uvicorn's h11 protocol with the two guards uvicorn lacks: a deadline for
  a whole request (uvicorn arms its keep-alive timer only after a response, so a connection that
  sends nothing, or half a request, stays open for ever) and a cap on open connections (uvicorn's
  `limit_concurrency` answers 503 to requests but keeps the idle sockets, so it frees no file
  descriptors).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import h11
from starlette.exceptions import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from system.config import HttpLimits

log = logging.getLogger("saga.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large_detail(limit: int, seen: int | None = None) -> str:
    if seen is None:
        return f"request body exceeds the limit of {limit} bytes"
    return f"request body of {seen} bytes exceeds the limit of {limit} bytes"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the running count passes the limit.

    An HTTPException on purpose: FastAPI re-raises those from its body parsing (any other error
    there becomes a 400), so the app's own handler answers 413 with the usual `{"detail": ...}`.
    """

    def __init__(self, limit: int, seen: int | None = None) -> None:
        super().__init__(status_code=413, detail=too_large_detail(limit, seen))


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body, counted as the bytes arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_413(send, too_large_detail(self.max_bytes, declared))
            return
        received = 0
        started = tripped = False

        async def counting_receive() -> Message:
            nonlocal received, tripped
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    tripped = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if tripped:
                    # Whoever answers, the connection must close: otherwise the server goes on
                    # reading (and discarding) the rest of the body to reach the next request.
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            # The app let it through (it is not FastAPI, or read the body outside its parsing):
            # answer here unless a response is already under way.
            if started:
                raise
            await _send_413(send, str(exc.detail))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _send_413(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            # The rest of the body is never read: closing is the only way to resynchronise.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request deadline, an idle timer from the start, a connection cap.

    Timers, per connection:
    - idle (uvicorn's keep-alive timer, `timeout_keep_alive`): armed on accept here as well as after
      each response (uvicorn only does the latter); any received byte cancels it.
    - request (`limits.request_timeout`): armed on the first byte of a request; if the request
      (head and body) is not complete when it fires, the connection is closed. A fixed deadline,
      not reset by each byte, so a trickling client cannot hold it open either.
    """

    limits: HttpLimits  # set by `protocol_class`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning("connection cap of %d reached; closing a new connection", self.limits.max_connections)
            transport.abort()
            return
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        if self._request_deadline is None and self.conn.their_state is h11.IDLE:
            self._request_deadline = self.loop.call_later(self.limits.request_timeout, self._request_timed_out)
        super().data_received(data)

    def on_response_complete(self) -> None:
        self._cancel_request_deadline()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_deadline()
        super().connection_lost(exc)

    def _cancel_request_deadline(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _request_timed_out(self) -> None:
        self._request_deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            log.warning("request not complete within %ss; closing the connection", self.limits.request_timeout)
            self.transport.close()


def protocol_class(limits: HttpLimits) -> type[GuardedH11Protocol]:
    """The protocol class for uvicorn.Config(http=...), carrying these limits."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})


def uvicorn_settings(limits: HttpLimits) -> dict[str, Any]:
    """Keyword arguments for uvicorn.Config: our protocol, its idle timer, a bounded header size."""
    return {
        "http": protocol_class(limits),
        "timeout_keep_alive": limits.keep_alive,
        # h11's default (16 KiB) bounds a request head already; named here so it is a decision.
        "h11_max_incomplete_event_size": 16 * 1024,
        # Requests in flight beyond the connection cap cannot exist; uvicorn's own limit would
        # only add 503s for connections we already accepted, so it stays off.
        "limit_concurrency": None,
    }
