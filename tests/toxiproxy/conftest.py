"""Fixtures for the Toxiproxy tests: a bundled server in a thread, loopback echo servers, and
helpers that never wait without a deadline."""

from __future__ import annotations

import socketserver
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from harness.toxiproxy.client import ToxiproxyClient
from harness.toxiproxy.testing import BackgroundToxiproxy


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(30)
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    server = EchoServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[BackgroundToxiproxy]:
    with BackgroundToxiproxy(seed=1234) as server:
        yield server


@pytest.fixture
def client(toxiproxy: BackgroundToxiproxy) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(toxiproxy.url) as c:
        yield c


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique names per test instead of resetting shared state."""
    return lambda prefix="p": f"{prefix}_{uuid.uuid4().hex[:8]}"
