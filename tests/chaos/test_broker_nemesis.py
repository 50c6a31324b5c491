"""The broker nemesis's two kinds on a local cluster (restart a node, partition a node) and the
nftables rules a partition adds; the real thing runs in `make test-cluster`."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest

from harness.nemesis import broker as broker_nemesis
from harness.nemesis.base import NemesisError, PlannedFault, event_kind
from harness.nemesis.broker import BrokerControl, BrokerNemesis
from harness.runner.cluster import LocalCluster, partition_rules
from harness.runner.layout import Layout


def _control(calls: list[str], name: str, seen: dict | None = None) -> BrokerControl:
    return BrokerControl(lambda: calls.append(f"stop {name}"), lambda: calls.append(f"start {name}"), name,
                         (lambda: calls.append(f"observe {name}") or dict(seen)) if seen is not None else None)


def _fault(kind: str, target: str) -> PlannedFault:
    return PlannedFault(id=0, nemesis="broker", kind=kind, target=target, at_s=0.0, duration_s=1.0)


def test_a_partition_cuts_the_node_observes_it_before_the_heal_and_joins_it_again(monkeypatch):
    monkeypatch.setattr(broker_nemesis, "wait_accepting", lambda url, timeout=60.0: 0.5)
    calls: list[str] = []
    nemesis = BrokerNemesis(_control(calls, "machine"), "amqp://x", {"rabbitmq#2": _control(calls, "restart#2")},
                            {"rabbitmq#2": _control(calls, "cut#2", {"paused": True})})
    fault = _fault("partition", "rabbitmq#2")
    injection = nemesis.inject(fault, threading.Event())
    healed = nemesis.heal(fault, injection)
    assert calls == ["stop cut#2", "observe cut#2", "start cut#2"]
    assert healed == {"paused": True, "accepting_after_s": 0.5} and event_kind(fault) == "broker_partition"
    calls.clear()
    nemesis.inject(_fault("restart", "rabbitmq#2"), threading.Event())
    nemesis.inject(fault, threading.Event())
    nemesis.heal_all()  # the run ends with both open: both undone
    assert calls == ["stop restart#2", "stop cut#2", "start cut#2", "start restart#2"]
    assert event_kind(_fault("restart", "rabbitmq")) == "broker_restart"


def test_only_a_node_of_the_instances_own_cluster_can_be_partitioned():
    nemesis = BrokerNemesis(_control([], "machine"), "amqp://x")
    for target in ("rabbitmq", "rabbitmq#2"):
        with pytest.raises(NemesisError, match="to partition here; known: no cluster"):
            nemesis.inject(_fault("partition", target), threading.Event())


def test_the_partition_rules_name_only_the_nodes_distribution_addresses_and_ports(tmp_path):
    cluster = LocalCluster(Layout(tmp_path), {"SAGA_BROKER_PORT_BASE": "28540"}, 3, "saga_wclx")
    node1, node2, node3 = cluster.nodes
    assert [n.dist_source for n in cluster.nodes] == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    assert "{ip,{127,0,0,12}}" in cluster.node_env(node2)["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    rules = partition_rules(cluster.partition_table, node2, [node1, node3])
    assert rules.startswith("table inet saga_wclx_partition {") and "hook input" in rules
    assert [line.strip() for line in rules.splitlines() if "drop" in line] == [
        "ip saddr 127.0.0.12 tcp dport { 28551, 28553 } drop",
        "ip daddr 127.0.0.12 tcp sport { 28551, 28553 } drop",
        "ip saddr { 127.0.0.11, 127.0.0.13 } tcp dport 28552 drop",
        "ip daddr { 127.0.0.11, 127.0.0.13 } tcp sport 28552 drop",
    ]
    nft = shutil.which("nft")
    if nft:  # nft's own parser accepts them (-c: check only, nothing is added)
        done = subprocess.run([nft, "-c", "-f", "-"], input=rules, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
