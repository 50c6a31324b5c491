"""Our port to a Toxiproxy 2.x server (the real one or harness.toxiproxy), over toxiproxy-python.

`Toxiproxy` is the port (what the fault API and the runner need); `ToxiproxyClient` is its HTTP
adapter and harness.toxiproxy.fake.FakeToxiproxy its in-memory one, for unit tests.

toxiproxy-python is the client: every request goes through its `APIConsumer`, and its
ProxyExists / NotFound / InvalidToxic become our errors. The port mends what the library gets
wrong for a chaos harness:
- host and port are class-level globals: each call sets them for its own server under a lock, so
  one process can talk to several servers (tests do);
- it ignores 5xx answers (a bind failure looks like success): a response hook raises on them;
- it passes no timeout (a black-holed API would hang a run): every call passes one;
- its high-level objects cannot update a toxic or read one back: we use its transport for those.
Only endpoints and methods every 2.x release has are used (POST for updates: PATCH is 2.6+).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests
from toxiproxy import exceptions as library_errors
from toxiproxy.api import APIConsumer

# toxiproxy-python keeps the server address in class attributes: one call at a time sets them.
_LIBRARY_GLOBALS = threading.RLock()

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


class Toxiproxy(Protocol):
    """A Toxiproxy server, as the fault API (harness.faults) and the runner use it."""

    url: str

    def close(self) -> None: ...

    def proxies(self) -> dict[str, Proxy]: ...

    def get_proxy(self, name: str) -> Proxy: ...

    def disable(self, name: str) -> Proxy: ...

    def enable(self, name: str) -> Proxy: ...

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, int] | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic: ...

    def remove_toxic(self, proxy: str, name: str) -> None: ...


class ToxiproxyClient:
    """The HTTP adapter of the `Toxiproxy` port (and the rest of the API, for the runner)."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"Toxiproxy URL must look like http://host:port, not {url!r}")
        self._host, self._port = parts.hostname, parts.port or 80
        self._timeout = timeout

    def close(self) -> None:
        """Nothing to release: the library opens a connection per request."""

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
        created = self._call("POST", "/populate", json=proxies).json()["proxies"]
        return [Proxy.from_json(p) for p in created or []]  # upstream answers null for none

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

    # Transport: toxiproxy-python's APIConsumer, pointed at this server for the call's duration.
    @contextmanager
    def _library(self) -> Iterator[None]:
        with _LIBRARY_GLOBALS:
            saved = (APIConsumer.host, APIConsumer.port)
            APIConsumer.host, APIConsumer.port = self._host, self._port
            try:
                yield
            finally:
                APIConsumer.host, APIConsumer.port = saved

    def _call(self, method: str, path: str, json: Any = None) -> requests.Response:
        what = f"{method} {path}"
        options: dict[str, Any] = {
            "timeout": self._timeout,
            "headers": {"User-Agent": "saga-harness"},
            "hooks": {"response": _raise_unless_2xx_or_library_handled(what)},
        }
        send = {"GET": APIConsumer.get, "POST": APIConsumer.post, "DELETE": APIConsumer.delete}[method]
        try:
            with self._library():
                return send(path, json=json, **options)
        except library_errors.ProxyExists as exc:
            raise AlreadyExists(f"{what}: HTTP 409: {_message(exc.args[0])}", 409) from None
        except library_errors.NotFound as exc:
            raise NotFound(f"{what}: HTTP 404: {_message(exc.args[0])}", 404) from None
        except library_errors.InvalidToxic as exc:
            raise BadRequest(f"{what}: HTTP 400: {_message(exc.args[0])}", 400) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ToxiproxyUnreachable(f"Toxiproxy at {self.url} is unreachable: {exc}") from exc


def _raise_unless_2xx_or_library_handled(what: str):
    """A requests hook: raise on what toxiproxy-python would let through (5xx, 403, 405...)."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.ok or response.status_code in _BY_STATUS:
            return response  # 2xx, or a status the library maps to its own exception
        raise ToxiproxyError(
            f"{what}: HTTP {response.status_code}: {_message(response.content)}", response.status_code
        )

    return hook


def _message(body: bytes | str) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return text.strip() or "no message"


def _seg(name: str) -> str:
    return quote(name, safe="")
