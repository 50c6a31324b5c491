"""Loopback echo reached directly and through harness.toxiproxy (no toxics), side by side.

    .venv/bin/python bench/bench_proxy.py [--rounds 5000] [--megabytes 512] [--seed 1]

The echo server and the proxy each run in their own process, so the client measures the proxy
the way a service would see it. Prints round-trip latency p50/p99 of each path and what the proxy
adds, then bulk echo throughput (MB/s, counting the bytes that came back) of each path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 256 * 1024


# --- the echo server (runs in a child process) ---------------------------------------------
class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=1024 * 1024)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        self.transport.pause_reading()  # type: ignore[attr-defined]

    def resume_writing(self) -> None:
        self.transport.resume_reading()  # type: ignore[attr-defined]


async def _serve_echo() -> None:
    server = await asyncio.get_running_loop().create_server(_Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


# --- measuring -------------------------------------------------------------------------------
def round_trips(port: int, rounds: int, size: int = 64) -> list[float]:
    payload = b"x" * size
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        samples = []
        for i in range(rounds + 200):
            start = time.perf_counter()
            sock.sendall(payload)
            got = 0
            while got < size:
                got += len(sock.recv(65536))
            if i >= 200:  # warm-up
                samples.append(time.perf_counter() - start)
    return samples


def bulk_echo(port: int, total: int) -> float:
    """Seconds to push `total` bytes through the echo and read them all back."""
    block = os.urandom(CHUNK)
    with socket.create_connection(("127.0.0.1", port)) as sock:

        def send() -> None:
            sent = 0
            while sent < total:
                sock.sendall(block[: min(CHUNK, total - sent)])
                sent += min(CHUNK, total - sent)

        buf = bytearray(CHUNK)
        start = time.perf_counter()
        sender = threading.Thread(target=send)
        sender.start()
        received = 0
        while received < total:
            n = sock.recv_into(buf)
            if n == 0:
                raise RuntimeError("echo closed early")
            received += n
        elapsed = time.perf_counter() - start
        sender.join()
    return elapsed


def quantile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=1000)[int(q * 1000) - 1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, method: str, path: str, body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def _wait_api(url: str, deadline: float) -> None:
    while True:
        try:
            _api(url, "GET", "/version")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        asyncio.run(_serve_echo())
        return 0

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    echo = subprocess.Popen(
        [sys.executable, __file__, "--serve-echo"], stdout=subprocess.PIPE, text=True
    )
    api_port = _free_port()
    proxy_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.toxiproxy",
            "--port",
            str(api_port),
            "--seed",
            str(args.seed),
            "--log-level",
            "WARNING",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        echo_port = int(echo.stdout.readline())  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{api_port}"
        _wait_api(url, time.monotonic() + 10)
        proxy = _api(
            url,
            "POST",
            "/proxies",
            {"name": "bench", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
        )
        proxy_port = int(proxy["listen"].rsplit(":", 1)[1])

        # Alternate blocks so that drift (CPU frequency, other load) hits both paths alike.
        direct: list[float] = []
        proxied: list[float] = []
        for _ in range(5):
            direct += round_trips(echo_port, args.rounds // 5)
            proxied += round_trips(proxy_port, args.rounds // 5)
        total = args.megabytes * 1024 * 1024
        bulk_direct = min(bulk_echo(echo_port, total) for _ in range(3))
        bulk_proxied = min(bulk_echo(proxy_port, total) for _ in range(3))
    finally:
        proxy_proc.terminate()
        echo.terminate()
        proxy_proc.wait(10)
        echo.wait(10)

    us = 1e6
    rows = [
        ("round trip p50 (us)", quantile(direct, 0.5) * us, quantile(proxied, 0.5) * us),
        ("round trip p99 (us)", quantile(direct, 0.99) * us, quantile(proxied, 0.99) * us),
        ("bulk echo (MB/s)", total / bulk_direct / 1e6, total / bulk_proxied / 1e6),
    ]
    print(f"{'':24}{'direct':>12}{'proxied':>12}{'added':>12}")
    for label, d, p in rows:
        added = f"{p - d:12.1f}" if "round" in label else f"{'':12}"
        print(f"{label:24}{d:12.1f}{p:12.1f}{added}")
    print(
        f"({args.rounds} round trips of 64 B each path; {args.megabytes} MiB echoed, best of 3; seed {args.seed})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
