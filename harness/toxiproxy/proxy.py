"""A proxy: its settings, its toxic chains, its listener and its open connections."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from harness.toxiproxy import listener
from harness.toxiproxy.connection import Connection, Side
from harness.toxiproxy.link import Link
from harness.toxiproxy.model import STREAMS, ProxyInput, ToxicSpec

log = logging.getLogger("harness.toxiproxy")


class Proxy:
    def __init__(self, spec: ProxyInput, seed: int) -> None:
        self.spec = replace(spec, enabled=False)  # enabled only once it really listens
        self.seed = seed
        self._chains: dict[str, list[ToxicSpec]] = {stream: [] for stream in STREAMS}
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._accepted = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def enabled(self) -> bool:
        return self.spec.enabled

    # Listener.
    async def start(self) -> None:
        """Listen (ApiError 500 when the address cannot be bound); no-op when already enabled."""
        if self.enabled:
            return
        sock = listener.listen(self.spec.listen)
        self._server = await asyncio.get_running_loop().create_server(self._accept, sock=sock)
        self.spec = replace(self.spec, listen=listener.bound_address(sock), enabled=True)
        log.info(
            "proxy %s: listening on %s, upstream %s",
            self.name,
            self.spec.listen,
            self.spec.upstream,
        )

    def stop(self) -> None:
        """Close the listener (new clients are refused) and drop every open connection."""
        if not self.enabled:
            return
        self.spec = replace(self.spec, enabled=False)
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()
        log.info("proxy %s: stopped", self.name)

    def _accept(self) -> Side:
        self._accepted += 1
        conn = Connection(self, self._accepted)
        self._connections.add(conn)
        return conn.client

    def forget(self, conn: Connection) -> None:
        self._connections.discard(conn)

    def upstream_address(self) -> tuple[str, int]:
        return listener.dial_address(self.spec.upstream)

    def differs(self, other: ProxyInput) -> bool:
        """Upstream's Differs: compares the resolved listen address and the upstream string."""
        return (
            self.spec.listen != listener.canonical(other.listen)
            or self.spec.upstream != other.upstream
        )

    async def update(self, new: ProxyInput) -> None:
        """Upstream's Update: a new address restarts the proxy; `enabled` toggles it."""
        if self.differs(new):
            self.stop()
            self.spec = replace(self.spec, listen=new.listen, upstream=new.upstream)
        if new.enabled != self.enabled:
            if new.enabled:
                await self.start()
            else:
                self.stop()

    # Toxics.
    def chain(self, direction: str) -> list[ToxicSpec]:
        return list(self._chains[direction])

    def toxics(self) -> list[ToxicSpec]:
        return [spec for stream in STREAMS for spec in self._chains[stream]]

    def find_toxic(self, name: str) -> ToxicSpec | None:
        return next((t for t in self.toxics() if t.name == name), None)

    def add_toxic(self, spec: ToxicSpec) -> None:
        self._chains[spec.direction].append(spec)
        for link in self._links(spec.direction):
            link.add_stage(spec)

    async def update_toxic(self, spec: ToxicSpec) -> None:
        chain = self._chains[spec.direction]
        chain[[t.name for t in chain].index(spec.name)] = spec
        await asyncio.gather(*(link.update_stage(spec) for link in self._links(spec.direction)))

    async def remove_toxic(self, name: str) -> None:
        spec = self.find_toxic(name)
        if spec is None:
            return
        self._chains[spec.direction].remove(spec)
        await asyncio.gather(*(link.remove_stage(name) for link in self._links(spec.direction)))

    async def remove_all_toxics(self) -> None:
        for spec in self.toxics():
            await self.remove_toxic(spec.name)

    def _links(self, direction: str) -> list[Link]:
        return [c.links[direction] for c in self._connections if direction in c.links]
