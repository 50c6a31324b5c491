"""Composition root: the proxy collection, the API over it, the HTTP listener, the config file."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from harness.toxiproxy import VERSION, jsonio, model
from harness.toxiproxy.api import Api
from harness.toxiproxy.collection import Collection, PopulateError
from harness.toxiproxy.httpd import READ_TIMEOUT, HttpServer
from harness.toxiproxy.model import ApiError

log = logging.getLogger("harness.toxiproxy")


class ToxiproxyServer:
    def __init__(self, seed: int, api_read_timeout: float = READ_TIMEOUT) -> None:
        self.seed = seed
        self.collection = Collection(seed)
        self.api = Api(self.collection)
        self._http = HttpServer(self.api, api_read_timeout)

    async def start(self, host: str = "127.0.0.1", port: int = 8474) -> tuple[str, int]:
        """Start the API; returns the bound (host, port), useful with port 0."""
        bound = await self._http.start(host, port)
        log.info(
            "toxiproxy %s: API on http://%s:%s, seed=%d", VERSION, bound[0], bound[1], self.seed
        )
        return bound

    async def close(self) -> None:
        await self._http.close()
        self.collection.close()

    async def load_config(self, path: str | Path) -> int:
        """Create the proxies of a /populate-format file; returns how many. Errors are logged.

        Beyond upstream, an entry may carry `"toxics": [...]` (the POST /toxics body format):
        its users keep asking for toxics loaded at start.
        """
        try:
            body = Path(path).read_bytes()
        except OSError as exc:
            log.error("config %s: cannot read: %s", path, exc)
            return 0
        try:
            specs = model.parse_populate(body)  # refuses what the API would, depth included
            entries = jsonio.decode_first(body) or []  # `null` populates nothing
            async with self.collection.lock:
                proxies = await self.collection.populate(specs)
                for entry, proxy in zip(entries, proxies, strict=True):
                    for toxic in _toxics_of(entry):
                        await self.collection.add_toxic(proxy.name, jsonio.encode(toxic))
        except PopulateError as exc:
            log.error("config %s: failed to populate proxies: %s", path, exc.error.message)
            return len(exc.done)
        except ApiError as exc:
            log.error("config %s: failed to populate proxies: %s", path, exc.message)
            return 0
        log.info("config %s: populated %d proxies", path, len(proxies))
        return len(proxies)


def _toxics_of(entry: Any) -> list[Any]:
    toxics = entry.get("toxics") if isinstance(entry, dict) else None
    return toxics if isinstance(toxics, list) else []


async def serve_forever(host: str, port: int, seed: int, config: str | None = None) -> None:
    """Run until SIGINT or SIGTERM, then close every proxy."""
    server = ToxiproxyServer(seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if config:
            await server.load_config(config)  # before the API listens, as upstream
        await server.start(host, port)
        await stop.wait()
    finally:
        log.info("toxiproxy: shutting down")
        await server.close()
