"""Our port to a Toxiproxy 2.x server (the real one or harness.toxiproxy).

Why not toxiproxy-python directly: it keeps host and port as class-level globals (two servers in
one process are impossible), swallows 5xx answers (a bind failure looks like success) and cannot
update a toxic. This client talks the same HTTP API, one instance per server URL, and raises a
`ToxiproxyError` carrying status and upstream's message on anything but success. It only uses
endpoints and methods every 2.x release has (POST for updates: PATCH only exists since 2.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8474"


class ToxiproxyError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ToxiproxyUnreachable(ToxiproxyError):
    """No server answers at the URL."""


class NotFound(ToxiproxyError):
    pass


class AlreadyExists(ToxiproxyError):
    pass


class BadRequest(ToxiproxyError):
    pass


_BY_STATUS = {400: BadRequest, 404: NotFound, 409: AlreadyExists}


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Toxic:
        return cls(
            name=data["name"],
            type=data["type"],
            stream=data.get("stream", "downstream"),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proxy:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data["enabled"]),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or ()),
        )


class ToxiproxyClient:
    def __init__(self, url: str = DEFAULT_URL, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, headers={"User-Agent": "saga-harness"}
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Server.
    def version(self) -> str:
        response = self._call("GET", "/version")
        try:
            return str(response.json()["version"])
        except (ValueError, KeyError, TypeError):
            return response.text.strip()  # before 2.7 the body was the bare version string

    def is_running(self) -> bool:
        try:
            self.version()
        except ToxiproxyError:
            return False
        return True

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (ours and anybody else's)."""
        self._call("POST", "/reset")

    # Proxies.
    def proxies(self) -> dict[str, Proxy]:
        return {
            name: Proxy.from_json(p) for name, p in self._call("GET", "/proxies").json().items()
        }

    def get_proxy(self, name: str) -> Proxy:
        return Proxy.from_json(self._call("GET", f"/proxies/{_seg(name)}").json())

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> Proxy:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return Proxy.from_json(self._call("POST", "/proxies", json=body).json())

    def populate(self, proxies: list[dict[str, Any]]) -> list[Proxy]:
        """Create or replace many proxies at once; an unchanged one keeps its toxics."""
        return [
            Proxy.from_json(p)
            for p in self._call("POST", "/populate", json=proxies).json()["proxies"]
        ]

    def update_proxy(self, name: str, **fields: Any) -> Proxy:
        return Proxy.from_json(self._call("POST", f"/proxies/{_seg(name)}", json=fields).json())

    def disable(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=False)

    def enable(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=True)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{_seg(name)}")

    # Toxics.
    def toxics(self, proxy: str) -> list[Toxic]:
        return [
            Toxic.from_json(t) for t in self._call("GET", f"/proxies/{_seg(proxy)}/toxics").json()
        ]

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, int] | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic:
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes or {},
        }
        if name:
            body["name"] = name
        return Toxic.from_json(
            self._call("POST", f"/proxies/{_seg(proxy)}/toxics", json=body).json()
        )

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: dict[str, int] | None = None,
        toxicity: float | None = None,
    ) -> Toxic:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        return Toxic.from_json(
            self._call("POST", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}", json=body).json()
        )

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}")

    # Transport.
    def _call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TransportError as exc:
            raise ToxiproxyUnreachable(f"Toxiproxy at {self.url} is unreachable: {exc}") from exc
        if response.is_success:
            return response
        raise _error(response, f"{method} {path}")


def _error(response: httpx.Response, what: str) -> ToxiproxyError:
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = response.text.strip() or response.reason_phrase
    cls = _BY_STATUS.get(response.status_code, ToxiproxyError)
    return cls(f"{what}: HTTP {response.status_code}: {message}", response.status_code)


def _seg(name: str) -> str:
    return quote(name, safe="")
