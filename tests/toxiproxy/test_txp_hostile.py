"""The bundled Toxiproxy against hostile or lazy API clients, and as a process on every supported
Python (issue 14, items 5 and 8). Needs only the standard library, pytest and httpx, so that
`make test-toxiproxy-py312` can run it on another interpreter."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.toxiproxy.httpd import READ_TIMEOUT
from harness.toxiproxy.testing import BackgroundToxiproxy
from tests.toxiproxy.txp_helpers import IO_TIMEOUT, address, free_port

ROOT = Path(__file__).resolve().parents[2]
SHORT = 0.5  # the read timeout of the server these tests start


@pytest.fixture(scope="module")
def lazy_server() -> Iterator[BackgroundToxiproxy]:
    with BackgroundToxiproxy(seed=1, api_read_timeout=SHORT) as server:
        yield server


def closed_by_server_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed `sock`; fails if it is still open after `seconds`."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        while sock.recv(65536):
            pass  # a reply to what was sent before; wait for the close after it
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the API kept the connection open for more than {seconds} s")
    return time.monotonic() - start


# --- item 5: idle and half-sent API connections are closed ----------------------------------
def test_the_default_read_timeout_is_within_20_s_as_the_issue_asks():
    assert READ_TIMEOUT <= 20


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connected, never spoke
        b"GET /version HTTP/1.1\r\nHost: x",  # half a head
        b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na",  # half a body
        b"POST /populate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[\r\n",
    ],
    ids=["idle", "half-head", "half-body", "half-chunked"],
)
def test_an_idle_or_half_sent_connection_is_closed(lazy_server, sent):
    with socket.create_connection(address(lazy_server.url.removeprefix("http://"))) as sock:
        sock.sendall(sent)
        assert closed_by_server_within(sock, IO_TIMEOUT) >= SHORT * 0.5


def test_an_idle_keep_alive_connection_is_closed_after_its_last_reply(lazy_server):
    with socket.create_connection(address(lazy_server.url.removeprefix("http://"))) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        closed_by_server_within(sock, IO_TIMEOUT)


def test_a_prompt_client_keeps_its_connection_across_requests(lazy_server):
    with httpx.Client(base_url=lazy_server.url, timeout=IO_TIMEOUT) as http:
        for _ in range(3):
            assert http.get("/version").status_code == 200
            time.sleep(SHORT / 5)
        assert http.get("/proxies").json() == {}


# --- item 8b: any body that fails to parse is a 400 in upstream's error shape ---------------
DEEP = b"[" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000


@pytest.fixture
def http(lazy_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lazy_server.url, timeout=IO_TIMEOUT) as c:
        yield c


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deeply_nested_json_is_a_400_on_every_route_that_reads_a_body(http, body):
    created = http.post("/proxies", json={"name": "deep", "upstream": "127.0.0.1:1"})
    assert created.status_code == 201
    try:
        for path in ("/proxies", "/proxies/deep", "/proxies/deep/toxics"):
            r = http.post(path, content=body)
            assert r.status_code == 400, path
            error = r.json()
            assert error["status"] == 400 and error["error"].startswith("bad request body: ")
            assert "exceeded max depth" in error["error"]
        http.post("/proxies/deep/toxics", json={"name": "t", "type": "latency"})
        assert http.post("/proxies/deep/toxics/t", content=body).status_code == 400
        r = http.post("/populate", content=body)
        assert r.status_code == 400 and r.json()["proxies"] is None
    finally:
        http.delete("/proxies/deep")


def test_a_deeply_nested_config_file_is_refused_and_the_server_still_starts(tmp_path):
    config = tmp_path / "deep.json"
    config.write_bytes(DEEP)
    with BackgroundToxiproxy(seed=1, config=str(config), api_read_timeout=SHORT) as server:
        assert httpx.get(f"{server.url}/proxies", timeout=IO_TIMEOUT).json() == {}


# --- item 8c: populate with nothing answers null, as upstream's proxiesWithToxics ------------
@pytest.mark.parametrize("body", [b"[]", b"null", b"  [] trailing ignored"])
def test_populate_with_nothing_answers_proxies_null(http, body):
    r = http.post("/populate", content=body)
    assert r.status_code == 201
    assert r.content == b'{"proxies":null}'


def test_a_failed_populate_that_created_nothing_answers_proxies_null(http):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        entry = {"name": "clash", "listen": f"127.0.0.1:{port}", "upstream": "127.0.0.1:1"}
        r = http.post("/populate", json=[entry])
    finally:
        taken.close()
    assert r.status_code == 500
    assert r.json()["proxies"] is None


# --- items 8a and 8d: the process, on every supported Python installed here -----------------
def interpreters() -> list[str]:
    """This one and any other supported CPython found on PATH or under pyenv."""
    found = [sys.executable]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in (11, 12, 13):
        if sys.version_info[:2] == (3, minor):
            continue
        candidates = sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"), reverse=True)
        usable = [str(c) for c in candidates if os.access(c, os.X_OK)]
        if usable:
            found.append(usable[0])
    return found


def start_server(python: str, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [python, "-m", "harness.toxiproxy", *flags],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_api(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/version", timeout=1)
            return
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"server did not start: {proc.communicate()[1]}")
            time.sleep(0.05)


@pytest.mark.parametrize("python", interpreters())
def test_sigterm_is_prompt_with_idle_api_clients_connected(python):
    port = free_port()
    proc = start_server(python, "--port", str(port), "--seed", "1")
    try:
        wait_for_api(port, proc)
        idle = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        kept = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=IO_TIMEOUT)
        assert kept.get("/version").status_code == 200  # leaves a keep-alive connection open
        time.sleep(0.2)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{python}: still running 5 s after SIGTERM with idle API clients")
        took = time.monotonic() - start
        idle.close()
        kept.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert took < 2


@pytest.mark.parametrize(
    "flags",
    [
        ["-port", "{port}", "-host", "127.0.0.1", "-config", "{config}", "-seed", "7"],
        ["--port", "{port}", "--host", "127.0.0.1", "--config", "{config}", "--seed", "7"],
        ["-port={port}", "--host=127.0.0.1", "-config={config}", "--seed=7"],
    ],
    ids=["single-dash", "double-dash", "with-equals"],
)
def test_upstream_flags_with_one_or_two_dashes(flags, tmp_path):
    port = free_port()
    config = tmp_path / "proxies.json"
    config.write_text('[{"name": "from_config", "listen": "127.0.0.1:0", "upstream": "x:1"}]')
    argv = [f.format(port=port, config=config) for f in flags]
    proc = start_server(sys.executable, *argv)
    try:
        wait_for_api(port, proc)
        proxies = httpx.get(f"http://127.0.0.1:{port}/proxies", timeout=IO_TIMEOUT).json()
        assert list(proxies) == ["from_config"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "seed=7" in err
