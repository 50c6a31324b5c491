"""The bundled server through toxiproxy-python, the client the harness's users already know.

toxiproxy-python keeps the server address in class attributes, so the fixture points them at
our server and puts them back afterwards.
"""

from __future__ import annotations

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.toxiproxy.txp_helpers import connect, recv_until_eof, round_trip


@pytest.fixture
def tp(toxiproxy):
    saved = APIConsumer.host, APIConsumer.port
    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", toxiproxy.port)
    yield server
    APIConsumer.host, APIConsumer.port = saved


@pytest.fixture
def proxy(tp, unique, echo_port):
    p = tp.create(upstream=f"127.0.0.1:{echo_port}", name=unique("py"))
    yield p
    tp.destroy(p)


def test_running_and_version(tp):
    assert tp.running()
    assert b"version" in tp.version()


def test_create_returns_a_listening_proxy(proxy):
    assert proxy.enabled is True
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    with connect(proxy.listen) as sock:
        round_trip(sock)


def test_proxies_and_get_proxy(tp, proxy):
    assert proxy.name in tp.proxies()
    got = tp.get_proxy(proxy.name)
    assert (got.name, got.listen, got.upstream, got.enabled) == (
        proxy.name,
        proxy.listen,
        proxy.upstream,
        True,
    )
    assert tp.get_proxy("no-such-proxy") is None


def test_duplicate_create_raises_proxy_exists(tp, proxy):
    with pytest.raises(ProxyExists):
        tp.create(upstream=proxy.upstream, name=proxy.name)
    with pytest.raises(ProxyExists):  # the server's own 409, not the library's pre-check
        APIConsumer.post(
            "/proxies",
            json={"name": proxy.name, "upstream": proxy.upstream, "listen": "127.0.0.1:0"},
        )


def test_toxic_round_trip(proxy):
    proxy.add_toxic(type="latency", attributes={"latency": 80, "jitter": 0})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"]
    toxic = proxy.get_toxic("latency_downstream")
    assert (toxic.type, toxic.stream, toxic.toxicity, toxic.attributes) == (
        "latency",
        "downstream",
        1,
        {"latency": 80, "jitter": 0},
    )
    with connect(proxy.listen) as sock:
        assert round_trip(sock) >= 0.079
    assert proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}


def test_invalid_toxic_raises_invalid_toxic(proxy):
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="not-a-toxic")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="sideways")


def test_destroying_a_missing_toxic_raises_not_found(proxy):
    with pytest.raises(NotFound):
        proxy.destroy_toxic("ghost")


def test_down_disables_then_enables(proxy):
    with proxy.down():
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.listen).close()
    with connect(proxy.listen) as sock:
        round_trip(sock)


def test_disable_closes_open_connections(proxy):
    with connect(proxy.listen) as sock:
        round_trip(sock)
        proxy.disable()
        assert recv_until_eof(sock) == b""
    proxy.enable()


def test_reset_removes_toxics(tp, proxy):
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    assert tp.reset()
    assert proxy.toxics() == {}


def test_populate_creates_missing_and_keeps_existing(tp, proxy, unique, echo_port):
    other = unique("pop")
    created = tp.populate(
        [
            {"name": proxy.name, "upstream": proxy.upstream, "listen": proxy.listen},
            {"name": other, "upstream": f"127.0.0.1:{echo_port}", "listen": "127.0.0.1:0"},
        ]
    )
    assert [p.name for p in created] == [other]
    tp.destroy(tp.get_proxy(other))


def test_destroy_then_not_found(tp, unique, echo_port):
    p = tp.create(upstream=f"127.0.0.1:{echo_port}", name=unique("gone"))
    assert tp.destroy(p)
    with pytest.raises(NotFound):
        p.destroy()
