"""The Toxiproxy HTTP API: routes, status codes and bodies exactly as upstream's api.go."""

from __future__ import annotations

import base64
import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.toxiproxy import VERSION, jsonio, model
from harness.toxiproxy.collection import Collection, PopulateError
from harness.toxiproxy.httpd import Request, Response
from harness.toxiproxy.model import ApiError
from harness.toxiproxy.proxy import Proxy

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

Route = Callable[..., Awaitable[Response]]


def json_reply(value: Any, status: int = 200) -> Response:
    return Response(status, jsonio.encode(value), [("Content-Type", JSON)])


def error_reply(error: ApiError) -> Response:
    # Upstream writes the JSON through http.Error, hence text/plain and a trailing newline.
    body = jsonio.encode(error.body()) + b"\n"
    return Response(
        error.status, body, [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")]
    )


def proxy_reply(proxy: Proxy) -> dict[str, Any]:
    return model.proxy_json(proxy.spec, proxy.toxics())


def proxies_reply(proxies: list[Proxy]) -> list[dict[str, Any]] | None:
    """Upstream's proxiesWithToxics appends to a nil slice, so no proxies encode as `null`."""
    return [proxy_reply(p) for p in proxies] or None


_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))


def request_id() -> str:
    """A 20-character xid-like id (time, random, counter), as upstream's zerolog hlog."""
    raw = (
        int(time.time()).to_bytes(4, "big")
        + os.urandom(5)
        + (next(_counter) % 2**24).to_bytes(3, "big")
    )
    return base64.b32hexencode(raw).decode().rstrip("=").lower()


class Api:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._routes: list[tuple[re.Pattern[str], dict[str, Route]]] = [
            (re.compile(r"/reset"), {"POST": self.reset}),
            (re.compile(r"/proxies"), {"GET": self.proxy_index, "POST": self.proxy_create}),
            (re.compile(r"/populate"), {"POST": self.populate}),
            (
                re.compile(r"/proxies/([^/]+)"),
                {
                    "GET": self.proxy_show,
                    "POST": self.proxy_update,
                    "PATCH": self.proxy_update,
                    "DELETE": self.proxy_delete,
                },
            ),
            (
                re.compile(r"/proxies/([^/]+)/toxics"),
                {"GET": self.toxic_index, "POST": self.toxic_create},
            ),
            (
                re.compile(r"/proxies/([^/]+)/toxics/([^/]+)"),
                {
                    "GET": self.toxic_show,
                    "POST": self.toxic_update,
                    "PATCH": self.toxic_update,
                    "DELETE": self.toxic_delete,
                },
            ),
            (re.compile(r"/version"), {"GET": self.version}),
        ]

    async def __call__(self, request: Request) -> Response:
        response = await self._dispatch(request)
        response.headers.append(("X-Toxiproxy-Request-Id", request_id()))
        return response

    async def _dispatch(self, request: Request) -> Response:
        for pattern, methods in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                return Response(405)  # gorilla/mux: empty body
            if request.headers.get("user-agent", "").startswith("Mozilla/"):
                return Response(
                    403,
                    b"User agent not allowed\n",
                    [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")],
                )
            try:
                async with self.collection.lock:
                    return await handler(request, *match.groups())
            except ApiError as error:
                return error_reply(error)
        return Response(
            404,
            b"404 page not found\n",
            [("Content-Type", TEXT), ("X-Content-Type-Options", "nosniff")],
        )

    # Server-wide.
    async def reset(self, request: Request) -> Response:
        await self.collection.reset()
        return Response(204)

    async def version(self, request: Request) -> Response:
        body = f'{{"version": "{VERSION}"}}\n'.encode()  # upstream's exact bytes
        return Response(200, body, [("Content-Type", "application/json;charset=utf-8")])

    # Proxies.
    async def proxy_index(self, request: Request) -> Response:
        proxies = self.collection.proxies
        return json_reply({name: proxy_reply(proxies[name]) for name in sorted(proxies)})

    async def proxy_create(self, request: Request) -> Response:
        spec = model.parse_proxy_create(request.body)
        proxy = await self.collection.create(spec)
        return json_reply(proxy_reply(proxy), 201)

    async def populate(self, request: Request) -> Response:
        try:
            specs = model.parse_populate(request.body)
        except ApiError as error:
            return json_reply({**error.body(), "proxies": None}, error.status)
        try:
            proxies = await self.collection.populate(specs)
        except PopulateError as failure:
            body = {**failure.error.body(), "proxies": proxies_reply(failure.done)}
            return json_reply(body, failure.error.status)
        return json_reply({"proxies": proxies_reply(proxies)}, 201)

    async def proxy_show(self, request: Request, name: str) -> Response:
        return json_reply(proxy_reply(self.collection.get(name)))

    async def proxy_update(self, request: Request, name: str) -> Response:
        proxy = await self.collection.update(name, request.body)
        return json_reply(proxy_reply(proxy))

    async def proxy_delete(self, request: Request, name: str) -> Response:
        await self.collection.delete(name)
        return Response(204)

    # Toxics.
    async def toxic_index(self, request: Request, proxy: str) -> Response:
        return json_reply([model.toxic_json(t) for t in self.collection.get(proxy).toxics()])

    async def toxic_create(self, request: Request, proxy: str) -> Response:
        spec = await self.collection.add_toxic(proxy, request.body)
        return json_reply(model.toxic_json(spec))  # 200, not 201: upstream's choice

    async def toxic_show(self, request: Request, proxy: str, toxic: str) -> Response:
        spec = self.collection.get(proxy).find_toxic(toxic)
        if spec is None:
            raise model.toxic_not_found()
        return json_reply(model.toxic_json(spec))

    async def toxic_update(self, request: Request, proxy: str, toxic: str) -> Response:
        spec = await self.collection.update_toxic(proxy, toxic, request.body)
        return json_reply(model.toxic_json(spec))

    async def toxic_delete(self, request: Request, proxy: str, toxic: str) -> Response:
        await self.collection.remove_toxic(proxy, toxic)
        return Response(204)
