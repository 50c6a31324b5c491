"""Composition root: the proxy collection, the API over it, the HTTP listener, the config file."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any

from harness.toxiproxy import VERSION, jsonio, model
from harness.toxiproxy.api import Api
from harness.toxiproxy.collection import Collection, PopulateError
from harness.toxiproxy.httpd import serve
from harness.toxiproxy.model import ApiError

log = logging.getLogger("harness.toxiproxy")


class ToxiproxyServer:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.collection = Collection(seed)
        self.api = Api(self.collection)
        self._http: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 8474) -> tuple[str, int]:
        """Start the API; returns the bound (host, port), useful with port 0."""
        self._http = await serve(self.api, host, port)
        bound = self._http.sockets[0].getsockname()
        log.info(
            "toxiproxy %s: API on http://%s:%s, seed=%d", VERSION, bound[0], bound[1], self.seed
        )
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._http is not None:
            self._http.close()
            await self._http.wait_closed()
            self._http = None
        self.collection.close()

    async def load_config(self, path: str | Path) -> int:
        """Create the proxies of a /populate-format file; returns how many. Errors are logged.

        Beyond upstream, an entry may carry `"toxics": [...]` (the POST /toxics body format):
        its users keep asking for toxics loaded at start.
        """
        try:
            entries = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            log.error("config %s: cannot read: %s", path, exc)
            return 0
        try:
            specs = model.parse_populate(json.dumps(entries).encode())
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
