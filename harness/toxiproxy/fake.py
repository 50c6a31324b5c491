"""An in-memory `Toxiproxy` (harness.toxiproxy.client): proxies and toxics as plain data, no
sockets, so the fault API's planning and healing are unit-tested without a server.

It keeps the server's rules that the fault API depends on: unknown names are NotFound, a toxic
name used twice on a proxy is AlreadyExists. `fail_add_after` makes the n-th add fail, to test
that a half-applied fault is rolled back; `calls` records every change, in order.
"""

from __future__ import annotations

from dataclasses import replace

from harness.toxiproxy.client import AlreadyExists, BadRequest, NotFound, Proxy, Toxic


class FakeToxiproxy:
    def __init__(self, proxy_names: list[str], url: str = "http://toxiproxy.fake") -> None:
        self.url = url
        self._proxies = {n: Proxy(n, f"127.0.0.1:{20000 + i}", f"upstream-{n}", True) for i, n in enumerate(proxy_names)}
        self.calls: list[tuple[str, ...]] = []
        self.fail_add_after: int | None = None  # this many adds succeed, the next one fails
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def proxies(self) -> dict[str, Proxy]:
        return dict(self._proxies)

    def get_proxy(self, name: str) -> Proxy:
        if name not in self._proxies:
            raise NotFound(f"proxy {name} not found", 404)
        return self._proxies[name]

    def _set(self, name: str, **changes: object) -> Proxy:
        self._proxies[name] = replace(self.get_proxy(name), **changes)  # type: ignore[arg-type]
        return self._proxies[name]

    def disable(self, name: str) -> Proxy:
        self.calls.append(("disable", name))
        return self._set(name, enabled=False)

    def enable(self, name: str) -> Proxy:
        self.calls.append(("enable", name))
        return self._set(name, enabled=True)

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, int] | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic:
        current = self.get_proxy(proxy)
        toxic = Toxic(name or f"{type}_{stream}", type, stream, toxicity, dict(attributes or {}))
        if any(t.name == toxic.name for t in current.toxics):
            raise AlreadyExists(f"toxic {toxic.name} already exists", 409)
        if self.fail_add_after is not None and sum(1 for c in self.calls if c[0] == "add") >= self.fail_add_after:
            raise BadRequest(f"refused {toxic.name} on {proxy} (fail_add_after)", 400)
        self.calls.append(("add", proxy, toxic.name))
        self._set(proxy, toxics=(*current.toxics, toxic))
        return toxic

    def remove_toxic(self, proxy: str, name: str) -> None:
        current = self.get_proxy(proxy)
        if not any(t.name == name for t in current.toxics):
            raise NotFound(f"toxic {name} not found", 404)
        self.calls.append(("remove", proxy, name))
        self._set(proxy, toxics=tuple(t for t in current.toxics if t.name != name))

    def toxic_names(self, proxy: str) -> list[str]:
        return sorted(t.name for t in self.get_proxy(proxy).toxics)
