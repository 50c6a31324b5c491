"""Our Toxiproxy port raises clearly on every failure instead of swallowing it."""

from __future__ import annotations

import socket

import pytest

from harness.toxiproxy.client import (
    AlreadyExists,
    BadRequest,
    NotFound,
    ToxiproxyClient,
    ToxiproxyError,
    ToxiproxyUnreachable,
)
from tests.toxiproxy.txp_helpers import free_port


def test_version_and_is_running(client):
    assert client.version()
    assert client.is_running()


def test_unreachable_server_raises_unreachable():
    with ToxiproxyClient(f"http://127.0.0.1:{free_port()}", timeout=2) as dead:
        assert not dead.is_running()
        with pytest.raises(ToxiproxyUnreachable, match="unreachable"):
            dead.proxies()


def test_proxy_lifecycle(client, unique, echo_port):
    name = unique()
    created = client.create_proxy(name, f"127.0.0.1:{echo_port}")
    assert created.enabled and created.toxics == ()
    assert client.get_proxy(name) == created
    assert client.proxies()[name] == created
    assert client.disable(name).enabled is False
    assert client.enable(name).enabled is True
    client.delete_proxy(name)
    with pytest.raises(NotFound, match="proxy not found"):
        client.get_proxy(name)


def test_errors_carry_status_and_upstream_message(client, unique, echo_port):
    name = unique()
    client.create_proxy(name, f"127.0.0.1:{echo_port}")
    try:
        with pytest.raises(AlreadyExists, match="HTTP 409: proxy already exists"):
            client.create_proxy(name, f"127.0.0.1:{echo_port}")
        with pytest.raises(BadRequest, match="invalid toxic type") as info:
            client.add_toxic(name, "nope")
        assert info.value.status == 400
        with pytest.raises(NotFound, match="toxic not found"):
            client.remove_toxic(name, "ghost")
    finally:
        client.delete_proxy(name)


def test_server_errors_are_raised_not_swallowed(client, unique):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ToxiproxyError, match="address already in use") as info:
            client.create_proxy(unique(), "127.0.0.1:1", listen=f"127.0.0.1:{port}")
    assert info.value.status == 500


def test_toxic_lifecycle(client, unique, echo_port):
    name = unique()
    client.create_proxy(name, f"127.0.0.1:{echo_port}")
    try:
        toxic = client.add_toxic(
            name, "latency", {"latency": 5}, stream="upstream", toxicity=0.5, name="t"
        )
        assert (toxic.name, toxic.stream, toxic.toxicity, toxic.attributes) == (
            "t",
            "upstream",
            0.5,
            {"latency": 5, "jitter": 0},
        )
        assert client.update_toxic(name, "t", {"jitter": 2}).attributes == {
            "latency": 5,
            "jitter": 2,
        }
        assert client.toxics(name) == [client.update_toxic(name, "t", toxicity=0.5)]
        client.remove_toxic(name, "t")
        assert client.toxics(name) == []
    finally:
        client.delete_proxy(name)


def test_populate_and_reset(client, unique, echo_port):
    name = unique()
    [proxy] = client.populate(
        [{"name": name, "upstream": f"127.0.0.1:{echo_port}", "listen": "127.0.0.1:0"}]
    )
    client.add_toxic(name, "timeout")
    client.disable(name)
    client.reset()
    after = client.get_proxy(name)
    assert after.enabled and after.toxics == () and after.listen == proxy.listen
    client.delete_proxy(name)
