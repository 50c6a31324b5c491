"""A local RabbitMQ cluster for one instance (`saga-harness up --broker-nodes 3`).

Three nodes of the installed RabbitMQ (3.10 here: quorum queues, `join_cluster`, no Khepri),
each with its own node name (`<vhost>_n<k>@localhost`, e.g. saga_test_n2), AMQP port, Erlang distribution
port, data and log directories, plugins file (none: no management listener to clash with the
machine's), environment file and Erlang cookie under `$SAGA_HOME/rabbitmq/`. The machine's own
broker (rabbit@localhost, 5672, its cookie) is never touched: every command here names one of
our nodes with `-n` and runs with our HOME, hence our cookie.

A partition (`partition(node)`) cuts one node off from the others at the TCP level while its
process keeps running: nftables rules (a table of the instance's own, nothing else touched) drop
the distribution traffic between it and its peers. A port alone cannot tell node 2's connection to
node 1 from node 3's (the connecting side's port is ephemeral), so each node connects from an
address of its own, 127.0.0.1<k> (`-kernel inet_dist_connect_options`), and the rules name the
addresses and the distribution ports. rabbitmqctl connects from 127.0.0.1 and still reaches
every node. The nodes tick every 10 s, not 60 (`net_ticktime`): a partition is noticed within
about 10-12.5 s and cluster_partition_handling = pause_minority then pauses the lone node, which
starts again by itself once its peers are back in reach.

Node 1 starts first; nodes 2 and 3 `join_cluster` it. Quorum queues declared afterwards (the
services declare theirs at start) get one member per node. Ports: AMQP `SAGA_BROKER_PORT_BASE`
+ k (default: the instance's order port + 670, so 8672-8674 for the demo and 32672-32674 for the
test instance at 32000), distribution that + 10.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.runner.layout import Layout, service_port

RABBITMQ_BIN = Path(os.environ.get("SAGA_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
NET_TICKTIME_S = 10


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class BrokerNode:
    index: int  # 1-based
    name: str  # saga_<x>_<k>@localhost
    amqp_port: int
    dist_port: int
    home: Path  # its data, logs and config

    @property
    def label(self) -> str:
        """How experiments and faults name it: rabbitmq#2."""
        return f"rabbitmq#{self.index}"

    @property
    def dist_source(self) -> str:
        """The address its distribution connections to its peers come from (what a partition names)."""
        return f"127.0.0.1{self.index}"


class LocalCluster:
    def __init__(self, layout: Layout, env: dict[str, str], nodes: int, prefix: str) -> None:
        self.layout = layout
        self.root = layout.home / "rabbitmq"
        base = int(env.get("SAGA_BROKER_PORT_BASE") or service_port("order", env) + 670)
        safe = "".join(c if c.isalnum() else "_" for c in prefix).strip("_") or "saga"
        self.safe = safe
        self.nodes = [
            BrokerNode(k, f"{safe}_n{k}@localhost", base + k, base + 10 + k, self.root / f"node{k}")
            for k in range(1, nodes + 1)
        ]

    # -- files ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cookie = self.root / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20))
            cookie.chmod(0o400)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text(
            "ERL_EPMD_ADDRESS=127.0.0.1\n"
            f'export ERL_FLAGS="-kernel inet_dist_use_interface {{127,0,0,1}} -kernel net_ticktime {NET_TICKTIME_S}"\n'
        )
        for node in self.nodes:
            for sub in ("mnesia", "log"):
                (node.home / sub).mkdir(parents=True, exist_ok=True)
            (node.home / "rabbitmq.conf").write_text(
                f"listeners.tcp.1 = 127.0.0.1:{node.amqp_port}\n"
                "loopback_users = none\n"
                "cluster_partition_handling = pause_minority\n"
            )

    def node_env(self, node: BrokerNode) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root),  # the cookie: ours, not the machine broker's
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_CONFIG_FILE": str(node.home / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.home / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(node.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.home / "log"),
            "RABBITMQ_PID_FILE": str(node.home / "pid"),
            "ERL_CRASH_DUMP": str(self.root / "erl_crash.dump"),  # not in the working directory
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                f"-kernel inet_dist_connect_options [{{ip,{{{node.dist_source.replace('.', ',')}}}}}]",
        }

    # -- commands ---------------------------------------------------------------------------
    def ctl(self, node: BrokerNode, *args: str, timeout: float = 120, check: bool = True) -> str:
        """rabbitmqctl against one of our nodes (with our cookie)."""
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", node.name, *args],
            env=self.node_env(node), capture_output=True, text=True, timeout=timeout,
        )
        if check and done.returncode != 0:
            raise ClusterError(f"rabbitmqctl -n {node.name} {' '.join(args)}: "
                               f"{(done.stderr or done.stdout).strip()[-500:]}")
        return done.stdout

    def ctl_argv(self) -> list[str]:
        """The argv prefix that reaches node 1 (for the runner's vhost and user commands)."""
        return [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.nodes[0].name]

    def ctl_env(self) -> dict[str, str]:
        return self.node_env(self.nodes[0])

    def running(self, node: BrokerNode) -> bool:
        try:
            done = subprocess.run(
                [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", node.name, "status"],
                env=self.node_env(node), capture_output=True, text=True, timeout=60,
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def start_node(self, node: BrokerNode, timeout: float = 180) -> None:
        for port in (node.amqp_port, node.dist_port):  # a clear error, not a crash dump
            if not port_free(port):
                raise ClusterError(f"{node.label}: port {port} is taken (SAGA_BROKER_PORT_BASE moves the nodes' ports)")
        subprocess.run([str(RABBITMQ_BIN / "rabbitmq-server"), "-detached"], env=self.node_env(node),
                       capture_output=True, text=True, timeout=60)
        # await_startup gives up at once while the node is not even registered with epmd yet.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl(node, "await_startup", "--timeout", str(int(timeout)), timeout=timeout + 30)
                return
            except ClusterError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def members(self) -> set[str]:
        out = self.ctl(self.nodes[0], "cluster_status", "--formatter", "json")
        return set(json.loads(out).get("running_nodes", []))

    def up(self, say=print) -> list[BrokerNode]:
        """Start the nodes that are down and join them to node 1; idempotent."""
        if not (RABBITMQ_BIN / "rabbitmq-server").exists() or shutil.which("epmd") is None and not Path(
            "/usr/lib/erlang/bin/epmd").exists():
            raise ClusterError(f"no RabbitMQ installation at {RABBITMQ_BIN} (SAGA_RABBITMQ_BIN)")
        self._prepare()
        first = self.nodes[0]
        if not self.running(first):
            self.start_node(first)
            say(f"{first.label}: started {first.name} on 127.0.0.1:{first.amqp_port}")
        for node in self.nodes[1:]:
            if self.running(node) and node.name in self.members():
                continue
            if not self.running(node):
                self.start_node(node)
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
            self.ctl(node, "await_startup")
            say(f"{node.label}: {node.name} on 127.0.0.1:{node.amqp_port} joined {first.name}")
        members = self.members()
        missing = [n.name for n in self.nodes if n.name not in members]
        if missing:
            raise ClusterError(f"nodes not in the cluster: {', '.join(missing)}")
        return self.nodes

    def stop_app(self, node: BrokerNode) -> None:
        self.ctl(node, "stop_app")

    def start_app(self, node: BrokerNode) -> None:
        self.ctl(node, "start_app")
        self.ctl(node, "await_startup")

    # -- partitions ----------------------------------------------------------------------------
    @property
    def partition_table(self) -> str:
        """The nftables table (family inet) of this instance's partitions, and nothing else."""
        return f"{self.safe}_partition"

    def partition(self, node: BrokerNode) -> None:
        """Cut `node` off from its peers: drop, as they arrive, the packets of every distribution
        connection between it and them, either way round (a silent loss, as on a cut cable, not
        a refusal). Its process, AMQP listener and rabbitmqctl's link stay as they are. One
        partition at a time per instance (the broker nemesis's faults take turns): the table is
        replaced, never added to."""
        nft = shutil.which("nft")
        if nft is None:
            raise ClusterError("a partition needs nftables (`apt-get install nftables`): the nft command is missing")
        rules = partition_rules(self.partition_table, node, [n for n in self.nodes if n != node])
        subprocess.run([nft, "delete", "table", "inet", self.partition_table], capture_output=True, check=False)
        done = subprocess.run([nft, "-f", "-"], input=rules, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise ClusterError(f"nft refused the partition rules: {done.stderr.strip()[-500:]}")

    def heal_partition(self) -> bool:
        """Drop this instance's partition table; True if there was one."""
        nft = shutil.which("nft")
        if nft is None:
            return False
        return subprocess.run([nft, "delete", "table", "inet", self.partition_table],
                              capture_output=True, check=False).returncode == 0

    def mend(self, node: BrokerNode, timeout: float = 120) -> None:
        """End the partition and wait until `node` runs again in the cluster (pause_minority starts
        its application by itself once its peers are in reach)."""
        self.heal_partition()
        deadline = time.monotonic() + timeout
        while not self._back(node):
            if time.monotonic() > deadline:
                raise ClusterError(f"{node.label} did not run in the cluster again within {timeout:.0f}s of the heal")
            time.sleep(0.5)

    def _back(self, node: BrokerNode) -> bool:
        try:
            return bool(self.rabbit_running(node)) and node.name in self.members()
        except (ClusterError, subprocess.TimeoutExpired):  # a node still busy rejoining: ask again
            return False

    def partition_view(self, node: BrokerNode) -> dict[str, object]:
        """What the cluster shows of a partitioned node: whether it paused (its application stopped
        while its Erlang node answers), and the running nodes and partitions its first peer that
        answers sees."""
        view: dict[str, object] = {"paused": self.rabbit_running(node) is False}
        for peer in (n for n in self.nodes if n != node):
            try:
                status = json.loads(self.ctl(peer, "cluster_status", "--formatter", "json", timeout=30))
            except (ClusterError, subprocess.TimeoutExpired, ValueError):
                continue
            view["peers_running"] = sorted(status.get("running_nodes", []))
            view["peers_partitions"] = status.get("partitions") or {}
            break
        return view

    def rabbit_running(self, node: BrokerNode) -> bool | None:
        """Whether the node's RabbitMQ application runs (False: stopped or paused by
        pause_minority); None when the Erlang node itself does not answer."""
        try:
            out = self.ctl(node, "eval", "rabbit:is_running().", timeout=30)
        except (ClusterError, subprocess.TimeoutExpired):
            return None
        return out.strip() == "true"

    def down(self) -> list[str]:
        """Stop every node that answers (`rabbitmqctl stop`: the Erlang node exits). Not gated on
        `status`: with two nodes gone, pause_minority pauses the last one, which then fails it."""
        self.heal_partition()  # never leave a rule behind
        stopped = []
        for node in reversed(self.nodes):
            if not (self.root / ".erlang.cookie").exists():
                break
            try:
                done = subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", node.name, "stop"],
                                      env=self.node_env(node), capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired:
                continue
            if done.returncode == 0:
                stopped.append(node.label)
        return stopped

    def wipe(self) -> None:
        self.down()
        shutil.rmtree(self.root, ignore_errors=True)


def partition_rules(table: str, node: BrokerNode, peers: list[BrokerNode]) -> str:
    """The nftables ruleset that cuts `node` off from `peers`. On the input hook, so a packet is
    lost on arrival and its sender sees silence (on output a SYN would fail at once with EPERM)."""
    peer_ports = ", ".join(str(p.dist_port) for p in peers)
    peer_sources = ", ".join(p.dist_source for p in peers)
    return (
        f"table inet {table} {{\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    ip saddr {node.dist_source} tcp dport {{ {peer_ports} }} drop\n"  # its connections to them
        f"    ip daddr {node.dist_source} tcp sport {{ {peer_ports} }} drop\n"
        f"    ip saddr {{ {peer_sources} }} tcp dport {node.dist_port} drop\n"  # theirs to it
        f"    ip daddr {{ {peer_sources} }} tcp sport {node.dist_port} drop\n"
        "  }\n"
        "}\n"
    )


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        # As the node's own listeners do: a port a stopped node left in TIME_WAIT is free to it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
