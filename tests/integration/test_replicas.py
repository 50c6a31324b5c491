"""Replicas on PostgreSQL (issue #17): `up --replicas N` refuses SQLite clearly; and, behind
`make test-replicas` (SAGA_TEST_REPLICAS=1, about a minute), the acceptance run: two processes
per service on PostgreSQL, two consumers on every queue, SIGKILL of a payment replica in the
middle of a batch, nothing lost or doubled, `saga-harness check` valid. Behind `make test-cluster`
(SAGA_TEST_CLUSTER=1): the instance's own three-node RabbitMQ cluster losing a node (stopped, or
cut off by a partition), with one process per service and with two on PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable

import pytest

from harness.runner.layout import split_replica
from harness.runner.local import LocalSystem, ReplicasNeedSharedStore
from harness.waiting import wait_until


def _saga_harness(args, env, timeout=240):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


TWO_CONSUMERS_EACH = {"saga.order": "2", "saga.inventory": "2", "saga.payment": "2", "saga.delivery": "2"}


def _work_queue_consumers(listing: str) -> dict[str, str]:
    """Consumers per work queue from `rabbitmqctl list_queues name consumers` (dead-letter and
    recorder queues left out)."""
    rows = (line.split("\t") for line in listing.strip().splitlines()[1:])
    return {q: c for q, c in rows if q.startswith("saga.") and not q.endswith(".dlq")}


def _await_two_consumers_each(listing: Callable[[], str]) -> None:
    """Every work queue gets two consumers; a quorum queue's count comes from metrics the node
    emits every few seconds, so it may lag the replicas' readiness."""
    wait_until(lambda: _work_queue_consumers(listing()), lambda consumers: consumers == TWO_CONSUMERS_EACH, 30,
               what="two consumers on every work queue", poll=1.0)


def _chaos_run_then_check(env: dict[str, str], args: list[str], faults: str) -> None:
    """`chaos run <args>` is valid with `faults` played ("2 crashes"), and `check` agrees after it."""
    run = _saga_harness(["chaos", "run", *args], env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "overall: valid" in run.stdout and faults in run.stdout, run.stdout[-3000:]
    check = _saga_harness(["check"], env)
    assert check.returncode == 0 and "overall: valid" in check.stdout, check.stdout[-3000:]


def test_replicas_on_sqlite_are_refused_with_the_reason_and_nothing_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SAGA_STORE"}
    env["SAGA_HOME"] = str(tmp_path / "home")
    done = _saga_harness(["up", "--replicas", "2"], env, timeout=60)
    assert done.returncode == 1
    assert "--replicas 2 needs a store the replicas share" in done.stderr
    assert "SAGA_STORE=postgresql://" in done.stderr
    assert not list((tmp_path / "home").glob("*.pid"))
    with pytest.raises(ReplicasNeedSharedStore):
        LocalSystem(env=env, say=lambda line: None).up(replicas=2)


def test_replica_names():
    assert split_replica("payment#2") == ("payment", 2) and split_replica("order") == ("order", None)
    for bad in ("payment#0", "payment#x", "shipping#1", "payment#"):
        with pytest.raises(ValueError):
            split_replica(bad)


@pytest.mark.skipif(os.environ.get("SAGA_TEST_REPLICAS") != "1", reason="long: `make test-replicas`")
def test_two_replicas_on_postgres_lose_and_double_nothing_when_a_payment_replica_is_killed():
    from harness.runner.instance import fresh_isolated_env
    from system.stores.postgres import drop_database
    from tests.postgres import URL, reachable

    why = reachable()
    if why:
        pytest.skip(why)
    name = os.environ.get("SAGA_TEST_INSTANCE", "test") + "rep"
    base = int(os.environ.get("SAGA_TEST_PORT_BASE", "18000")) + 600
    env = fresh_isolated_env(name, base, {**os.environ, "SAGA_STORE": URL, "SAGA_REPLICAS": "2"})
    system = LocalSystem(env=env, say=lambda line: None)
    try:
        statuses = system.up(chaos=True, replicas=2, timeout=120)
        assert [s.service for s in statuses][:2] == ["order#1", "order#2"] and all(s.ready for s in statuses)
        _await_two_consumers_each(lambda: subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "-p", f"saga_{name}", "name", "consumers"],
            capture_output=True, text=True, timeout=60).stdout)
        _chaos_run_then_check(env, ["replica-kill", "--seed", "17"], "2 crashes")
    finally:
        system.down()
        drop_database(env["SAGA_STORE"])


def test_a_local_cluster_keeps_off_the_machines_broker(tmp_path):
    """Names, ports, data and cookie of `up --broker-nodes 3` are the instance's own."""
    from harness.runner.cluster import LocalCluster
    from harness.runner.layout import Layout

    cluster = LocalCluster(Layout(tmp_path), {"SAGA_ORDER_PORT": "32001"}, 3, "saga_pg")
    assert [n.name for n in cluster.nodes] == [f"saga_pg_n{k}@localhost" for k in (1, 2, 3)]
    ports = [p for n in cluster.nodes for p in (n.amqp_port, n.dist_port)]
    assert len(set(ports)) == 6 and not {5672, 25672, 15672} & set(ports)
    env = cluster.node_env(cluster.nodes[1])
    assert env["HOME"] == str(tmp_path / "rabbitmq") and env["RABBITMQ_NODENAME"] == "saga_pg_n2@localhost"
    assert cluster.ctl_argv()[-2:] == ["-n", "saga_pg_n1@localhost"]


def _cluster_env(suffix: str, offset: int, broker_offset: int, **extra: str) -> dict[str, str]:
    """A fresh instance of its own (`<instance><suffix>`, ports SAGA_TEST_PORT_BASE + offset) whose
    cluster's AMQP ports start at SAGA_TEST_PORT_BASE + broker_offset: below Linux's ephemeral
    range (32768-60999), where a node's port could be any client's."""
    from harness.runner.instance import fresh_isolated_env

    name = os.environ.get("SAGA_TEST_INSTANCE", "test") + suffix
    port_base = int(os.environ.get("SAGA_TEST_PORT_BASE", "18000"))
    base_env = {k: v for k, v in os.environ.items() if k not in ("SAGA_STORE", "SAGA_REPLICAS")}
    base_env.setdefault("SAGA_BROKER_PORT_BASE", str(port_base + broker_offset))
    return fresh_isolated_env(name, port_base + offset, {**base_env, **extra})


def _queue_members(cluster, vhost: str) -> dict[str, int]:
    """Every queue of the vhost but the recorder's, with the number of nodes holding it."""
    listing = cluster.ctl(cluster.nodes[0], "list_queues", "-p", vhost, "name", "members")
    members = {line.split("\t")[0]: line.count("@localhost") for line in listing.strip().splitlines()[1:]}
    return {q: n for q, n in members.items() if q.startswith("saga.")}


ALL_QUEUES_ON_THREE_NODES = {f"saga.{s}{dlq}": 3 for s in ("order", "inventory", "payment", "delivery")
                             for dlq in ("", ".dlq")}


@pytest.mark.skipif(os.environ.get("SAGA_TEST_CLUSTER") != "1", reason="long: `make test-cluster`")
def test_a_three_node_cluster_loses_nothing_when_nodes_stop_under_load():
    env = _cluster_env("clu", 700, 500)
    system = LocalSystem(env=env, say=lambda line: None)
    try:
        system.up(chaos=True, broker_nodes=3, timeout=120)
        cluster = system.cluster()
        assert cluster is not None and len(cluster.members()) == 3
        assert _queue_members(cluster, env["SAGA_AMQP_URL"].rsplit("/", 1)[1]) == ALL_QUEUES_ON_THREE_NODES
        run = _saga_harness(["chaos", "run", "broker-node-loss", "--seed", "3", "--orders", "60"], env, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "overall: valid" in run.stdout and "2 faults" in run.stdout
    finally:
        system.down()
    assert not system.cluster()  # down forgot it


@pytest.mark.skipif(os.environ.get("SAGA_TEST_CLUSTER") != "1", reason="long: `make test-cluster`")
def test_two_replicas_on_a_three_node_cluster_lose_and_double_nothing_when_nodes_stop_mid_batch():
    """`up --broker-nodes 3 --replicas 2` on PostgreSQL: two consumers on every work queue, each
    replica's link to its service's node; the nodes stop in turn under a batch; `check` valid."""
    from system.stores.postgres import drop_database
    from tests.postgres import URL, reachable

    why = reachable()
    if why:
        pytest.skip(why)
    env = _cluster_env("clr", 800, 520, SAGA_STORE=URL, SAGA_REPLICAS="2")
    system = LocalSystem(env=env, say=lambda line: None)
    try:
        statuses = system.up(chaos=True, replicas=2, broker_nodes=3, timeout=120)
        assert len(statuses) == 8 and all(s.ready for s in statuses)
        cluster = system.cluster()
        assert cluster is not None and len(cluster.members()) == 3
        vhost = env["SAGA_AMQP_URL"].rsplit("/", 1)[1]
        assert _queue_members(cluster, vhost) == ALL_QUEUES_ON_THREE_NODES
        _await_two_consumers_each(lambda: cluster.ctl(cluster.nodes[0], "list_queues", "-p", vhost, "name", "consumers"))
        _chaos_run_then_check(env, ["broker-node-loss", "--seed", "5", "--orders", "80"], "2 faults")
    finally:
        system.down()
        drop_database(env["SAGA_STORE"])
    assert not system.cluster()


@pytest.mark.skipif(os.environ.get("SAGA_TEST_CLUSTER") != "1", reason="long: `make test-cluster`")
def test_a_cluster_node_cut_off_by_a_partition_pauses_and_the_saga_loses_nothing(tmp_path):
    """broker-node-partition: nftables cuts node 3's distribution traffic while its process runs;
    its peers drop it, pause_minority pauses it, the heal brings it back; nothing lost or doubled."""
    if shutil.which("nft") is None:
        pytest.skip("no nft command: `apt-get install nftables` (and root) for partitions")
    env = _cluster_env("clp", 1200, 540)
    system = LocalSystem(env=env, say=lambda line: None)
    try:
        system.up(chaos=True, broker_nodes=3, timeout=120)
        cluster = system.cluster()
        assert cluster is not None
        runs = tmp_path / "runs"
        _chaos_run_then_check(env, ["broker-node-partition", "--seed", "7", "--orders", "60",
                                    "--runs-dir", str(runs)], "1 faults")
        events = [json.loads(line) for line in next(runs.glob("*/faults.jsonl")).read_text().splitlines()]
        assert [(e["kind"], e["target"]) for e in events] == [("broker_partition", "rabbitmq#3")]
        seen = events[0]["detail"]
        assert seen["paused"] is True, seen  # pause_minority paused the lone node
        assert seen["peers_running"] == sorted(n.name for n in cluster.nodes[:2]), seen
        assert cluster.members() == {n.name for n in cluster.nodes}  # back after the heal
        assert cluster.rabbit_running(cluster.nodes[2]) is True
        assert not cluster.heal_partition()  # the heal removed its rules
    finally:
        system.down()
