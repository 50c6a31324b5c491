"""Each toxic measured on real sockets through the bundled server, against a loopback echo.

Bounds are generous on purpose: they check the effect exists, never how fast the machine is.
"""

from __future__ import annotations

import socket
import time

import pytest

from harness.waiting import wait_until
from tests.toxiproxy.txp_helpers import (
    IO_TIMEOUT,
    connect,
    free_port,
    recv_exactly,
    recv_until_eof,
    round_trip,
)


@pytest.fixture
def proxy(client, unique, echo_port):
    p = client.create_proxy(unique("toxic"), f"127.0.0.1:{echo_port}")
    yield p
    client.delete_proxy(p.name)


def test_no_toxic_passes_bytes_both_ways(proxy):
    payload = bytes(range(256)) * 4096  # 1 MiB, larger than any single read
    with connect(proxy.listen) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


def test_latency_adds_at_least_its_figure(client, proxy):
    client.add_toxic(proxy.name, "latency", {"latency": 100})
    with connect(proxy.listen) as sock:
        assert round_trip(sock) >= 0.099


def test_latency_on_both_streams_adds_up(client, proxy):
    client.add_toxic(proxy.name, "latency", {"latency": 60}, stream="upstream")
    client.add_toxic(proxy.name, "latency", {"latency": 60}, stream="downstream")
    with connect(proxy.listen) as sock:
        assert round_trip(sock) >= 0.119


def test_jitter_stays_within_latency_plus_or_minus_jitter(client, proxy):
    client.add_toxic(proxy.name, "latency", {"latency": 60, "jitter": 40})
    with connect(proxy.listen) as sock:
        samples = [round_trip(sock) for _ in range(6)]
    assert all(s >= 0.0199 for s in samples)
    assert min(samples) < max(samples)  # it does vary


def test_bandwidth_caps_the_rate(client, proxy):
    client.add_toxic(proxy.name, "bandwidth", {"rate": 200})  # 200 KB/s
    payload = b"b" * 40_000  # 0.2 s at that rate
    with connect(proxy.listen) as sock:
        start = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        assert time.perf_counter() - start >= 0.15


def test_timeout_swallows_data_and_removing_it_closes_the_connection(client, proxy):
    client.add_toxic(proxy.name, "timeout", {"timeout": 0})
    with connect(proxy.listen) as sock:
        sock.settimeout(0.3)
        sock.sendall(b"into the void")
        with pytest.raises(TimeoutError):
            sock.recv(100)
        client.remove_toxic(proxy.name, "timeout_downstream")
        sock.settimeout(IO_TIMEOUT)
        assert sock.recv(100) == b""


def test_timeout_closes_the_connection_after_its_delay(client, proxy):
    client.add_toxic(proxy.name, "timeout", {"timeout": 200})
    with connect(proxy.listen) as sock:
        start = time.perf_counter()
        assert sock.recv(100) == b""
        assert time.perf_counter() - start >= 0.19


def test_reset_peer_resets_the_connection(client, proxy):
    client.add_toxic(proxy.name, "reset_peer", {"timeout": 0})
    with connect(proxy.listen) as sock:
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
            sock.recv(100)  # a second read in case the first raced the RST


def test_reset_peer_added_to_an_open_connection_still_resets(client, proxy):
    with connect(proxy.listen) as sock:
        round_trip(sock)
        client.add_toxic(proxy.name, "reset_peer", {"timeout": 50}, stream="upstream")
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
            sock.recv(100)


def test_limit_data_closes_after_n_bytes(client, proxy):
    client.add_toxic(proxy.name, "limit_data", {"bytes": 10})
    with connect(proxy.listen) as sock:
        sock.sendall(b"x" * 100)
        assert recv_until_eof(sock) == b"x" * 10


def test_limit_data_counts_across_chunks(client, proxy):
    client.add_toxic(proxy.name, "limit_data", {"bytes": 6})
    with connect(proxy.listen) as sock:
        assert round_trip(sock, b"abcd") > 0
        sock.sendall(b"efgh")
        assert recv_until_eof(sock) == b"ef"


def test_slicer_splits_data_into_pieces(client, proxy):
    client.add_toxic(
        proxy.name, "slicer", {"average_size": 10, "size_variation": 4, "delay": 20_000}
    )
    payload = bytes(range(100))
    with connect(proxy.listen) as sock:
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(1000))
            assert pieces[-1]
    assert b"".join(pieces) == payload
    assert len(pieces) >= 3


def test_slow_close_delays_the_close(client, proxy):
    client.add_toxic(proxy.name, "slow_close", {"delay": 300})
    with connect(proxy.listen) as sock:
        round_trip(sock)
        start = time.perf_counter()
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(sock) == b""
        assert time.perf_counter() - start >= 0.29


def test_toxics_apply_to_connections_already_open(client, proxy):
    with connect(proxy.listen) as sock:
        assert round_trip(sock) < 1.0
        client.add_toxic(proxy.name, "latency", {"latency": 150}, name="slow")
        assert round_trip(sock) >= 0.149
        client.update_toxic(proxy.name, "slow", {"latency": 60})
        assert 0.059 <= round_trip(sock)
        client.remove_toxic(proxy.name, "slow")
        wait_until(lambda: round_trip(sock), lambda t: t < 0.05, 2, what="a fast round trip once the toxic is gone", poll=0.02)


def test_toxicity_zero_never_applies(client, proxy):
    client.add_toxic(proxy.name, "timeout", {"timeout": 0}, toxicity=0.0)
    with connect(proxy.listen) as sock:
        round_trip(sock)


def test_no_byte_is_lost_or_reordered_while_toxics_change(client, proxy):
    payload = bytes(range(256)) * 2000
    with connect(proxy.listen) as sock:
        sock.sendall(payload[:200_000])
        client.add_toxic(proxy.name, "latency", {"latency": 20, "jitter": 10}, name="l")
        client.add_toxic(
            proxy.name, "slicer", {"average_size": 1000, "size_variation": 100}, name="s"
        )
        sock.sendall(payload[200_000:400_000])
        client.update_toxic(proxy.name, "l", {"latency": 5})
        client.remove_toxic(proxy.name, "l")
        sock.sendall(payload[400_000:])
        client.remove_toxic(proxy.name, "s")
        assert recv_exactly(sock, len(payload)) == payload


def test_disabled_proxy_refuses_new_and_closes_open_connections(client, proxy):
    with connect(proxy.listen) as sock:
        round_trip(sock)
        client.disable(proxy.name)
        assert recv_until_eof(sock) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen).close()
    client.enable(proxy.name)
    with connect(proxy.listen) as sock:
        round_trip(sock)


def test_upstream_down_accepts_then_closes(client, unique):
    p = client.create_proxy(unique("down"), f"127.0.0.1:{free_port()}")
    try:
        with connect(p.listen) as sock:
            assert recv_until_eof(sock) == b""
    finally:
        client.delete_proxy(p.name)
