"""A real service process (no broker needed for HTTP) closes idle and half-sent connections within
its configured timeouts, caps its connections, and refuses a chunked body past the limit as it
arrives."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from system.app import MAX_BODY_BYTES

KEEP_ALIVE = 1.0
REQUEST_TIMEOUT = 2.0
MAX_CONNECTIONS = 8
SLACK = 1.5  # scheduling on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def order_service(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(base URL, log file) of an order service process with short timeouts and a small cap."""
    port = free_port()
    log_file = tmp_path_factory.mktemp("log") / "order.log"
    env = {**os.environ, "SAGA_ORDER_PORT": str(port), "SAGA_DATA_DIR": str(tmp_path_factory.mktemp("data")),
           "SAGA_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/",  # nothing there: HTTP works without a broker
           "SAGA_HTTP_KEEP_ALIVE": str(KEEP_ALIVE), "SAGA_HTTP_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
           "SAGA_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    proc = subprocess.Popen([sys.executable, "-m", "system", "order"], env=env,
                            stdout=log_file.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the order service did not start"
            time.sleep(0.1)
        yield url, log_file
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def order_url(order_service) -> str:
    return order_service[0]


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """Wait for the server to close `sock` (EOF or reset); how long it took."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return float("inf")
    finally:
        sock.close()
    return time.monotonic() - start


# Before: uvicorn armed its keep-alive timer only after a response, so these stayed open for ever.
def test_an_idle_connection_is_closed_after_the_keep_alive(order_url):
    assert seconds_until_closed(connect(order_url), 30) < KEEP_ALIVE + SLACK


def test_a_half_sent_request_head_is_closed_after_the_request_timeout(order_url):
    sock = connect(order_url)
    sock.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-")
    assert seconds_until_closed(sock, 30) < REQUEST_TIMEOUT + SLACK


def test_a_trickling_request_is_closed_at_the_deadline(order_url):
    sock = connect(order_url)
    start = time.monotonic()
    try:
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass  # closed while we were still sending: what we want
    assert (time.monotonic() - start) + seconds_until_closed(sock, 30) < REQUEST_TIMEOUT + SLACK


def test_a_half_sent_body_is_closed_after_the_request_timeout(order_url):
    sock = connect(order_url)
    sock.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    closed_after = seconds_until_closed(sock, 30)
    assert closed_after < REQUEST_TIMEOUT + SLACK


def test_a_keep_alive_connection_serves_requests_then_closes_when_idle(order_url):
    sock = connect(order_url)
    for _ in range(3):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # head and body may come in separate segments
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
    assert seconds_until_closed(sock, 30) < KEEP_ALIVE + SLACK


def test_connections_beyond_the_cap_are_closed_at_once(order_url):
    socks = [connect(order_url) for _ in range(MAX_CONNECTIONS * 3)]
    try:
        time.sleep(0.3)
        closed = 0
        for sock in socks:
            sock.settimeout(0.05)
            try:
                if sock.recv(1) == b"":
                    closed += 1
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed >= MAX_CONNECTIONS * 2
    finally:
        for sock in socks:
            sock.close()
    assert httpx.get(order_url + "/health", timeout=5).status_code == 200  # and it still serves


# Before: a chunked body was read whole (300 MB took 469 s and 1.58 GB).
def test_a_chunked_body_past_the_limit_is_413_naming_it_without_being_read(order_url):
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(300 * 1024):  # 300 MB in 1 KiB chunks, unless the server stops it
            sent += 1024
            yield b"x" * 1024

    start = time.monotonic()
    try:
        response = httpx.post(order_url + "/orders", content=body(), headers={"Content-Type": "application/json"},
                              timeout=30)
        assert response.status_code == 413 and str(MAX_BODY_BYTES) in response.json()["detail"]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered and closed while the client was still writing: also refused
    assert time.monotonic() - start < 10 and sent < 50 * 1024 * 1024


def test_a_plain_body_past_the_limit_is_413_on_the_real_server(order_url):
    response = httpx.post(order_url + "/orders", content=b"x" * (MAX_BODY_BYTES + 1),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413 and str(MAX_BODY_BYTES) in response.json()["detail"]


# Before: uvicorn logged each bad request on its own handler, one line each, past our filter.
def test_a_flood_of_bad_requests_writes_a_few_log_lines(order_service):
    url, log_file = order_service
    for _ in range(500):
        with connect(url) as sock:
            sock.sendall(b"GARBAGE\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
    time.sleep(0.2)
    lines = [line for line in log_file.read_text().splitlines() if "Invalid HTTP request" in line]
    assert 1 <= len(lines) <= 20 and " order uvicorn.error: " in lines[0]
