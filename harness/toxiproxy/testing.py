"""Run the server in a background thread with its own event loop, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from types import TracebackType

from harness.toxiproxy.httpd import READ_TIMEOUT
from harness.toxiproxy.server import ToxiproxyServer

START_TIMEOUT = 10.0


class BackgroundToxiproxy:
    """`with BackgroundToxiproxy(seed=1) as server: server.url` -> http://127.0.0.1:<port>."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        config: str | None = None,
        api_read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.host, self.port, self.seed, self.config = host, port, seed, config
        self.api_read_timeout = api_read_timeout
        self.url = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: ToxiproxyServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundToxiproxy:
        ready: Future[tuple[str, int]] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="toxiproxy", daemon=True
        )
        self._thread.start()
        host, port = ready.result(timeout=START_TIMEOUT)
        self.port = port
        self.url = f"http://{host}:{port}"
        return self

    def _run(self, ready: Future[tuple[str, int]]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self.server = ToxiproxyServer(self.seed, self.api_read_timeout)
        try:
            if self.config:
                loop.run_until_complete(self.server.load_config(self.config))
            ready.set_result(loop.run_until_complete(self.server.start(self.host, self.port)))
        except BaseException as exc:  # hand any start failure to the waiting thread
            ready.set_exception(exc)
            loop.close()
            return
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.server.close())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        if self.loop is not None and self._thread is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> BackgroundToxiproxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, seed: int = 0, config: str | None = None
) -> BackgroundToxiproxy:
    """Start a server in a daemon thread; call `.stop()` on the result when done."""
    return BackgroundToxiproxy(host, port, seed, config).start()
