"""The network fault API: what it asks Toxiproxy for, and that it always heals."""

from __future__ import annotations

import json

import pytest

from harness.faults import network
from harness.faults.network import FaultUsageError, NetworkFaults, plan, proxy_names
from harness.toxiproxy.client import NotFound
from tests.toxiproxy.txp_helpers import connect, round_trip

LINKS = ["amqp_order", "amqp_inventory", "amqp_payment", "amqp_delivery", "http_order"]


class Boom(Exception):
    pass


@pytest.fixture
def system(client, echo_port, tmp_path, monkeypatch):
    """The runner's proxies on a fresh set of names, and the proxies.json it would write."""
    client.reset()
    for name in LINKS:
        try:
            client.delete_proxy(name)
        except NotFound:
            pass
    proxies = {
        p.name: p
        for p in client.populate(
            [
                {"name": n, "upstream": f"127.0.0.1:{echo_port}", "listen": "127.0.0.1:0"}
                for n in LINKS
            ]
        )
    }
    mapping = {
        "toxiproxy_url": client.url,
        "proxies": {n: {"listen": p.listen, "upstream": p.upstream} for n, p in proxies.items()},
    }
    (tmp_path / "proxies.json").write_text(json.dumps(mapping))
    monkeypatch.setenv("SAGA_HOME", str(tmp_path))
    faults = NetworkFaults.from_saga_home()
    yield faults, proxies
    faults.close()


def toxic_names(client, proxy):
    return sorted(t.name for t in client.toxics(proxy))


# --- pure ---------------------------------------------------------------------------------
def test_targets_map_to_the_runner_proxy_names():
    assert proxy_names("payment") == ["amqp_payment"]
    assert proxy_names("order_api") == ["http_order"]
    assert proxy_names("all") == ["amqp_order", "amqp_inventory", "amqp_payment", "amqp_delivery"]
    with pytest.raises(FaultUsageError, match="unknown target"):
        proxy_names("billing")


def test_plan_black_hole_hits_both_streams_of_every_link():
    plans = plan("black_hole", "all", {})
    assert len(plans) == 8
    assert {p.type for p in plans} == {"timeout"}
    assert {p.name for p in plans} == {"chaos_black_hole_upstream", "chaos_black_hole_downstream"}


@pytest.mark.parametrize(
    ("kind", "attrs", "message"),
    [
        ("earthquake", {}, "unknown fault type"),
        ("latency", {"latency": 1, "speed": 2}, "no attribute speed"),
        ("latency", {}, "needs the attribute latency"),
        ("latency", {"latency": -1}, "non-negative integer"),
    ],
)
def test_plan_rejects_faults_that_cannot_exist(kind, attrs, message):
    with pytest.raises(FaultUsageError, match=message):
        plan(kind, "order", attrs)


def test_missing_proxy_map_falls_back_to_the_default_url(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGA_HOME", str(tmp_path / "nowhere"))
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    assert network.load_proxy_map().toxiproxy_url == "http://127.0.0.1:8474"


# --- against the bundled server -----------------------------------------------------------
def test_latency_context_manager_adds_then_heals(system, client):
    faults, proxies = system
    with faults.latency("payment", ms=80) as fault:
        assert toxic_names(client, "amqp_payment") == ["chaos_latency_downstream"]
        assert toxic_names(client, "amqp_order") == []
        with connect(proxies["amqp_payment"].listen) as sock:
            assert round_trip(sock) >= 0.079
    assert fault.toxics == [("amqp_payment", "chaos_latency_downstream")]
    assert toxic_names(client, "amqp_payment") == []


def test_heals_even_when_the_body_raises(system, client):
    faults, _ = system
    with pytest.raises(Boom), faults.black_hole("all"):
        assert len(toxic_names(client, "amqp_delivery")) == 2
        raise Boom
    assert all(toxic_names(client, p) == [] for p in LINKS)


def test_partition_disables_and_always_re_enables(system, client):
    faults, proxies = system
    with pytest.raises(Boom), faults.partition("order"):
        assert client.get_proxy("amqp_order").enabled is False
        assert client.get_proxy("amqp_payment").enabled is True
        with pytest.raises(ConnectionRefusedError):
            connect(proxies["amqp_order"].listen).close()
        raise Boom
    assert client.get_proxy("amqp_order").enabled is True


def test_order_api_target_is_the_http_proxy(system, client):
    faults, _ = system
    with faults.reset_peer("order_api", timeout_ms=10):
        assert toxic_names(client, "http_order") == [
            "chaos_reset_peer_downstream",
            "chaos_reset_peer_upstream",
        ]


def test_nested_identical_faults_get_distinct_names(system, client):
    faults, _ = system
    with faults.bandwidth("inventory", rate_kb=100), faults.bandwidth("inventory", rate_kb=50):
        assert toxic_names(client, "amqp_inventory") == [
            "chaos_bandwidth_downstream",
            "chaos_bandwidth_downstream_2",
        ]
    assert toxic_names(client, "amqp_inventory") == []


def test_every_kind_can_be_injected(system, client):
    faults, _ = system
    for cm in [
        faults.slicer("delivery", average_size=10, size_variation=2, delay_us=10),
        faults.limit_data("delivery", nbytes=1000),
        faults.slow_close("delivery", delay_ms=10),
    ]:
        with cm as fault:
            assert toxic_names(client, "amqp_delivery") == [fault.toxics[0][1]]


def test_a_failed_add_leaves_nothing_behind(system, client):
    faults, _ = system
    client.delete_proxy("amqp_delivery")  # the last of "all" will fail
    with pytest.raises(NotFound):
        faults.add("latency", "all", latency=10)
    assert all(
        toxic_names(client, p) == [] for p in ["amqp_order", "amqp_inventory", "amqp_payment"]
    )


def test_heal_all_removes_only_chaos_toxics_and_enables_proxies(system, client):
    faults, _ = system
    client.add_toxic("amqp_order", "latency", {"latency": 1}, name="someone_elses")
    faults.add("latency", "all", latency=10)
    faults.partition_now("payment")
    report = faults.heal_all()
    assert len(report.removed) == 4 and report.enabled == ["amqp_payment"]
    assert toxic_names(client, "amqp_order") == ["someone_elses"]
    assert all(p.enabled for p in client.proxies().values())


def test_module_level_shortcuts_use_the_proxy_map(system, client):
    with network.inject("latency", "delivery", latency=1):
        assert toxic_names(client, "amqp_delivery") == ["chaos_latency_downstream"]
    fault = network.add("limit_data", "order", bytes=10)
    assert toxic_names(client, "amqp_order") == ["chaos_limit_data_downstream"]
    network.heal(fault)
    network.add("black_hole", "order")
    with pytest.raises(Boom), network.partition("payment"):
        assert client.get_proxy("amqp_payment").enabled is False
        raise Boom
    assert client.get_proxy("amqp_payment").enabled is True
    assert len(network.heal_all().removed) == 2
