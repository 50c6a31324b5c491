"""The fault API's planning and healing against the in-memory Toxiproxy (no server, no sockets)."""

from __future__ import annotations

import pytest

from harness.faults.network import NetworkFaults
from harness.toxiproxy.client import BadRequest
from harness.toxiproxy.fake import FakeToxiproxy

LINKS = ["amqp_order", "amqp_inventory", "amqp_payment", "amqp_delivery", "http_order"]


class Boom(Exception):
    pass


@pytest.fixture
def fake() -> FakeToxiproxy:
    return FakeToxiproxy(LINKS)


@pytest.fixture
def faults(fake) -> NetworkFaults:
    return NetworkFaults(fake)


def test_latency_adds_one_toxic_on_the_target_link_and_heals_it(faults, fake):
    with faults.latency("payment", ms=80, jitter=5) as fault:
        [toxic] = fake.get_proxy("amqp_payment").toxics
        assert (toxic.name, toxic.type, toxic.stream) == ("chaos_latency_downstream", "latency", "downstream")
        assert toxic.attributes == {"latency": 80, "jitter": 5}
        assert all(fake.toxic_names(p) == [] for p in LINKS if p != "amqp_payment")
    assert fault.toxics == [("amqp_payment", "chaos_latency_downstream")]
    assert fake.toxic_names("amqp_payment") == []


def test_black_hole_on_all_covers_both_streams_of_every_amqp_link_and_heals_on_error(faults, fake):
    with pytest.raises(Boom), faults.black_hole("all"):
        for link in LINKS[:4]:
            assert fake.toxic_names(link) == ["chaos_black_hole_downstream", "chaos_black_hole_upstream"]
        assert fake.toxic_names("http_order") == []
        raise Boom
    assert all(fake.toxic_names(p) == [] for p in LINKS)


def test_partition_disables_only_enabled_proxies_and_re_enables_them(faults, fake):
    fake.disable("amqp_inventory")  # somebody else's: not ours to re-enable
    with pytest.raises(Boom), faults.partition("all") as fault:
        assert not any(p.enabled for n, p in fake.proxies().items() if n.startswith("amqp_"))
        raise Boom
    assert "amqp_inventory" not in fault.disabled
    assert fake.get_proxy("amqp_order").enabled and not fake.get_proxy("amqp_inventory").enabled


def test_nested_identical_faults_get_distinct_names(faults, fake):
    with faults.bandwidth("inventory", rate_kb=100), faults.bandwidth("inventory", rate_kb=50):
        assert fake.toxic_names("amqp_inventory") == ["chaos_bandwidth_downstream", "chaos_bandwidth_downstream_2"]
    assert fake.toxic_names("amqp_inventory") == []


def test_a_failed_add_rolls_back_what_was_already_added(faults, fake):
    fake.fail_add_after = 3  # the fourth link of "all" refuses
    with pytest.raises(BadRequest):
        faults.add("latency", "all", latency=10)
    assert all(fake.toxic_names(p) == [] for p in LINKS)
    assert [c[0] for c in fake.calls] == ["add", "add", "add", "remove", "remove", "remove"]


def test_heal_all_removes_only_chaos_toxics_and_enables_every_proxy(faults, fake):
    fake.add_toxic("amqp_order", "latency", {"latency": 1}, name="someone_elses")
    faults.add("latency", "all", latency=10)
    faults.partition_now("payment")
    report = faults.heal_all()
    assert len(report.removed) == 4 and report.enabled == ["amqp_payment"]
    assert fake.toxic_names("amqp_order") == ["someone_elses"]
    assert all(p.enabled for p in fake.proxies().values())


def test_healing_a_fault_already_healed_elsewhere_is_not_an_error(faults, fake):
    fault = faults.add("reset_peer", "order_api", timeout=0)
    faults.heal_all()
    faults.heal(fault)  # its toxics are gone (NotFound): healed anyway
    assert fake.toxic_names("http_order") == []
