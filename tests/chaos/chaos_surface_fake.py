"""A tiny in-process fake of one service's /_chaos/handler-faults surface (httpx.MockTransport),
behaving as the contract says: 404 without a token, 403 for a wrong one, POST arms the next
`count` deliveries of `routing_key` (null: any), GET lists what is armed, DELETE clears (204).
`deliver(key)` plays a delivery reaching the handler: True if it raised."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

PATH = "/_chaos/handler-faults"


@dataclass
class FakeHandlerFaults:
    token: str | None = "secret"
    routes: bool = True  # False: a build without the resource (FastAPI's 404 "Not Found")
    armed: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, body))
        if not self.routes or request.url.path != PATH:
            return httpx.Response(404, json={"detail": "Not Found"})
        if not self.token:
            return httpx.Response(404, json={"detail": "chaos control is disabled (SAGA_CHAOS_TOKEN is not set)"})
        if request.headers.get("X-Chaos-Token") != self.token:
            return httpx.Response(403, json={"detail": "missing or wrong X-Chaos-Token header"})
        if request.method == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("count"), int) or body["count"] < 1:
                return httpx.Response(422, json={"detail": "count must be an integer >= 1"})
            entry = {"routing_key": body.get("routing_key"), "count": body["count"]}
            self.armed.append(entry)
            return httpx.Response(200, json={"armed": entry})
        if request.method == "GET":
            return httpx.Response(200, json={"armed": [dict(a) for a in self.armed]})
        if request.method == "DELETE":
            self.armed.clear()
            return httpx.Response(204)
        return httpx.Response(405)

    def deliver(self, routing_key: str) -> bool:
        for entry in self.armed:
            if entry["routing_key"] in (None, routing_key) and entry["count"] > 0:
                entry["count"] -= 1
                if entry["count"] == 0:
                    self.armed.remove(entry)
                return True
        return False
