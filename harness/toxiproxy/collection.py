"""The set of proxies and the operations the API performs on it, with upstream's semantics."""

from __future__ import annotations

import asyncio

from harness.toxiproxy import model
from harness.toxiproxy.model import ApiError, ProxyInput, ToxicSpec
from harness.toxiproxy.proxy import Proxy


class Collection:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.proxies: dict[str, Proxy] = {}
        # Upstream serialises changes with mutexes; one lock keeps awaiting handlers from
        # interleaving (a toxic removal awaits every link it rewires).
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise model.proxy_not_found() from None

    async def create(self, spec: ProxyInput) -> Proxy:
        if spec.name in self.proxies:
            raise model.proxy_exists()
        proxy = Proxy(spec, self.seed)
        if spec.enabled:
            await proxy.start()  # a bind failure leaves nothing behind
        self.proxies[spec.name] = proxy
        return proxy

    async def populate(self, specs: list[ProxyInput]) -> list[Proxy]:
        """Upstream's AddOrReplace for each entry; on failure the error carries what was done."""
        done: list[Proxy] = []
        for spec in specs:
            existing = self.proxies.get(spec.name)
            try:
                if existing is not None:
                    if not existing.differs(spec):
                        done.append(existing)  # same listen and upstream: kept, toxics included
                        continue
                    existing.stop()
                proxy = Proxy(spec, self.seed)
                if spec.enabled:
                    await proxy.start()
            except ValueError as exc:
                raise PopulateError(ApiError(str(exc), 500), done) from None
            except ApiError as exc:
                raise PopulateError(exc, done) from None
            self.proxies[spec.name] = proxy
            done.append(proxy)
        return done

    async def update(self, name: str, body: bytes) -> Proxy:
        proxy = self.get(name)
        new = model.parse_proxy_update(body, proxy.spec)
        try:
            await proxy.update(new)
        except ValueError as exc:
            raise ApiError(str(exc), 500) from None
        return proxy

    async def delete(self, name: str) -> None:
        self.get(name).stop()
        del self.proxies[name]

    async def reset(self) -> None:
        """Re-enable every proxy and remove every toxic; the proxies stay."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            await proxy.remove_all_toxics()

    async def add_toxic(self, proxy_name: str, body: bytes) -> ToxicSpec:
        proxy = self.get(proxy_name)
        spec = model.parse_new_toxic(body, {t.name for t in proxy.toxics()})
        proxy.add_toxic(spec)
        return spec

    async def update_toxic(self, proxy_name: str, toxic_name: str, body: bytes) -> ToxicSpec:
        proxy = self.get(proxy_name)
        current = proxy.find_toxic(toxic_name)
        if current is None:
            raise model.toxic_not_found()
        spec = model.parse_toxic_update(body, current)
        await proxy.update_toxic(spec)
        return spec

    async def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        proxy = self.get(proxy_name)
        if proxy.find_toxic(toxic_name) is None:
            raise model.toxic_not_found()
        await proxy.remove_toxic(toxic_name)

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()


class PopulateError(Exception):
    def __init__(self, error: ApiError, done: list[Proxy]) -> None:
        super().__init__(error.message)
        self.error = error
        self.done = done
