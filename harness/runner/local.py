"""Run the saga locally: four services, each on its own proxied AMQP link; one process each, or
N replicas each (`up --replicas N`, on a shared PostgreSQL store) competing on its queue.

Process names: `payment` when a service runs one process; `payment#1` ... `payment#N` with
replicas. Every command that takes a name takes either: a replica is that one process, a bare
service all of its processes. Replicas share the service's documented port (SO_REUSEPORT: the
kernel spreads connections, no balancer process to fail) and each also listens on a port of its
own (`replica_port`), where status, readiness and crash points reach that very process.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from harness.runner import processes
from harness.runner.cluster import ClusterError, LocalCluster
from harness.runner.commands import service_argv
from harness.runner.instance import VhostError, ensure_accounts, ensure_vhost
from harness.runner.layout import (
    Endpoints,
    Layout,
    account_amqp_url,
    amqp_vhost,
    broker_address,
    local_endpoints,
    replica_names,
    replica_port,
    service_port,
    split_replica,
)
from harness.runner.topology import (
    TOXIPROXY_MARKER,
    amqp_proxy_name,
    ensure_proxies,
    ensure_toxiproxy,
    proxied_amqp_url,
    proxied_store_url,
    store_proxy_name,
)
from system.config import DEFAULT_AMQP_URL
from system.contracts import SERVICES
from system.messaging.ports import StoreUnavailable
from system.stores.postgres import database_of, ensure_database, is_postgres_url

SERVICE_MARKER = "-m system"


class BrokerUnreachable(RuntimeError):
    pass


class ReplicasNeedSharedStore(RuntimeError):
    """`up --replicas N` (N > 1) on SQLite: each process would have a database of its own."""


class StoreUnreachable(RuntimeError):
    pass


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    pid: int | None
    port: int
    ready: bool
    reason: str


def check_broker(amqp_url: str, timeout: float = 2.0) -> None:
    host, port = broker_address(amqp_url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise BrokerUnreachable(
            f"RabbitMQ is not reachable at {host}:{port} ({exc.strerror or exc}).\n"
            "Start it with `rabbitmq-server -detached` (or `sudo systemctl start rabbitmq-server`),\n"
            "or point SAGA_AMQP_URL at a running broker."
        ) from None


class LocalSystem:
    def __init__(
        self,
        layout: Layout | None = None,
        env: dict[str, str] | None = None,
        *,
        proxied: bool = True,
        cwd: Path | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.layout = layout or Layout.from_env(self.env)
        broker = self.layout.read_broker()
        if broker:  # this instance runs its own RabbitMQ cluster: the harness talks to node 1
            self.env["SAGA_AMQP_URL"] = broker["amqp_url"]
        self.proxied = proxied and self.env.get("SAGA_NO_PROXY") != "1"
        self.cwd = cwd or Path.cwd()
        self.say = say

    @property
    def amqp_url(self) -> str:
        return self.env.get("SAGA_AMQP_URL", DEFAULT_AMQP_URL)

    @property
    def store_url(self) -> str | None:
        """SAGA_STORE when it names PostgreSQL; None for SQLite (the default)."""
        url = self.env.get("SAGA_STORE")
        return url if is_postgres_url(url) else None

    # -- replicas ------------------------------------------------------------------------------
    @property
    def replicas(self) -> int:
        """Processes per service: the running run's (`up --replicas N`), else SAGA_REPLICAS, else 1."""
        recorded = self.layout.read_replicas()
        if recorded:
            return recorded
        return max(1, int(self.env.get("SAGA_REPLICAS") or 1))

    def processes(self, name: str | None = None) -> list[str]:
        """Process names: all of them, a service's (`payment`), or one replica (`payment#2`)."""
        n = self.replicas
        if name is None:
            return [p for s in SERVICES for p in replica_names(s, n)]
        service, replica = split_replica(name)
        if replica is None:
            return replica_names(service, n)
        if n <= 1 or replica > n:
            raise ValueError(f"{name}: this run has {n} process{'es' if n > 1 else ''} per service")
        return [name]

    def process_port(self, process: str) -> int:
        """Where that one process answers: its own port with replicas, else the service's."""
        service, replica = split_replica(process)
        return service_port(service, self.env) if replica is None else replica_port(service, replica, self.env)

    def endpoints(self) -> Endpoints:
        return local_endpoints(self.layout, self.env, self.replicas)

    @property
    def chaos_token_file(self) -> Path:
        return self.layout.home / "chaos-token"

    def chaos_token(self) -> str | None:
        """The token of the running `up --chaos`, or None: the file lives from `up --chaos` to `down`.
        (Not SAGA_CHAOS_TOKEN from our environment: a service gets a token only through the file.)"""
        try:
            return self.chaos_token_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def _begin_run(self, chaos: bool) -> str | None:
        """The token the services that `up` starts get. `--chaos` keeps the running run's token (or
        SAGA_CHAOS_TOKEN, or a new one); a plain `up` of a stopped instance drops a token left by a
        run that was never brought `down`, and never hands one out."""
        if not chaos:
            if not any(self._process_pid(p) for p in self._pid_files()):
                self.chaos_token_file.unlink(missing_ok=True)
            return None
        token = self.chaos_token() or self.env.get("SAGA_CHAOS_TOKEN") or secrets.token_hex(16)
        tmp = self.chaos_token_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(token)
        tmp.replace(self.chaos_token_file)
        return token

    def _ensure_accounts(self, cluster: LocalCluster | None = None) -> None:
        """Each service logs in as its own user, which may publish only its own routing keys
        (system/access.py). Without rabbitmqctl (a broker on another machine) they log in as
        SAGA_AMQP_URL's user, and the broker does not check who publishes what."""
        if self.env.get("SAGA_AMQP_USERS") == "0":
            self.layout.amqp_passwords_file.unlink(missing_ok=True)
            return
        try:
            ensure_accounts(self.layout, self.amqp_url, self.env.get("SAGA_STYLE"),
                            (cluster.ctl_argv(), cluster.ctl_env()) if cluster else None)
        except VhostError as exc:
            self.layout.amqp_passwords_file.unlink(missing_ok=True)
            self.say(f"warning: {exc}; every service logs in as SAGA_AMQP_URL's user")

    # -- up ------------------------------------------------------------------------------
    # -- the instance's own RabbitMQ cluster --------------------------------------------------
    def cluster(self, nodes: int | None = None) -> LocalCluster | None:
        """The instance's cluster (`up --broker-nodes N`), or None: it uses the machine's broker."""
        recorded = self.layout.read_broker()
        n = nodes or (recorded or {}).get("nodes") or 1
        if n <= 1:
            return None
        return LocalCluster(self.layout, self.env, n, amqp_vhost(self.amqp_url))

    def _start_cluster(self, nodes: int) -> LocalCluster | None:
        recorded = (self.layout.read_broker() or {}).get("nodes")
        if recorded and nodes != recorded:
            raise RuntimeError(f"this instance runs a {recorded}-node broker; `saga-harness down` first")
        if nodes <= 1:
            return None
        cluster = self.cluster(nodes)
        assert cluster is not None
        url = urlsplit(self.amqp_url)._replace(
            netloc=f"{urlsplit(self.amqp_url).netloc.rpartition('@')[0] or 'guest:guest'}@127.0.0.1:{cluster.nodes[0].amqp_port}"
        ).geturl()
        # Recorded before the first node starts: `down` must find nodes a failed start left behind.
        self.layout.home.mkdir(parents=True, exist_ok=True)
        self.layout.broker_file.write_text(json.dumps({"nodes": nodes, "amqp_url": url}))
        try:
            cluster.up(self.say)
            ensure_vhost(amqp_vhost(url), url, (cluster.ctl_argv(), cluster.ctl_env()))
        except ClusterError as exc:
            cluster.down()
            self.layout.broker_file.unlink(missing_ok=True)
            raise BrokerUnreachable(f"the local RabbitMQ cluster did not start: {exc}") from None
        self.env["SAGA_AMQP_URL"] = url
        return cluster

    def _amqp_upstreams(self, cluster: LocalCluster | None) -> dict[str, str] | None:
        """With a cluster, the services' links spread over its nodes: order -> 1, inventory -> 2, ..."""
        if cluster is None:
            return None
        nodes = cluster.nodes
        return {s: f"127.0.0.1:{nodes[i % len(nodes)].amqp_port}" for i, s in enumerate(SERVICES)}

    def up(self, *, chaos: bool = False, timeout: float = 60.0, replicas: int | None = None,
           broker_nodes: int | None = None) -> list[ServiceStatus]:
        """Start what is down. `replicas`: processes per service (default: the running run's,
        else SAGA_REPLICAS, else 1); more than one needs SAGA_STORE=postgresql://...
        `broker_nodes`: more than one starts the instance's own local RabbitMQ cluster."""
        n = self.replicas if replicas is None else replicas
        if n < 1:
            raise ValueError(f"--replicas {n}: at least 1")
        if n > 1 and self.store_url is None:
            raise ReplicasNeedSharedStore(
                f"--replicas {n} needs a store the replicas share, and SQLite is one file per process: "
                "set SAGA_STORE=postgresql://postgres@127.0.0.1:5432/<database> (PostgreSQL)"
            )
        alive = any(self._process_pid(p) for p in self._pid_files())
        running = (self.layout.read_replicas() or 1) if alive else None
        if running is not None and running != n:
            raise RuntimeError(
                f"this instance runs {running} process(es) per service; `saga-harness down` first to change it to {n}"
            )
        cluster = self._start_cluster(broker_nodes or (self.layout.read_broker() or {}).get("nodes") or 1)
        check_broker(self.amqp_url)
        if self.store_url:
            try:
                if ensure_database(self.store_url):
                    self.say(f"store: created database {database_of(self.store_url)}")
            except StoreUnavailable as exc:
                raise StoreUnreachable(str(exc)) from None
        for d in (self.layout.home, self.layout.data_dir, self.layout.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        if n > 1:
            self.layout.replicas_file.write_text(str(n))
        else:
            self.layout.replicas_file.unlink(missing_ok=True)
        token = self._begin_run(chaos)
        self._ensure_accounts(cluster)
        proxy_map = None
        if self.proxied:
            url, how = ensure_toxiproxy(self.layout, self.env, self.cwd)
            proxy_map = ensure_proxies(self.layout, url, self.amqp_url, self.env, self._store_proxies(),
                                       self._amqp_upstreams(cluster))
            self.say(f"toxiproxy: {url} ({how}); proxy map in {self.layout.proxy_map_file}")
        for process in self.processes():
            pid = self._process_pid(process)
            if pid:
                self.say(f"{process}: already running (pid {pid})")
                continue
            pid = self._spawn(process, proxy_map, token)
            self.say(f"{process}: started (pid {pid}, port {self.process_port(process)})")
        return self.wait_ready(timeout)

    def _store_proxies(self) -> dict[str, str]:
        """With PostgreSQL, each process reaches it through a proxy of its own (`pg_payment_2`),
        so a network fault can cut one replica off the database."""
        if self.store_url is None:
            return {}
        parts = urlsplit(self.store_url)
        upstream = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
        return {store_proxy_name(p): upstream for p in self.processes()}

    def service_env(self, process: str, proxy_map: dict | None, token: str | None) -> dict[str, str]:
        service, replica = split_replica(process)
        env = dict(self.env)
        env.pop("SAGA_REPLICA", None)
        env.pop("SAGA_REPLICA_PORT", None)
        if replica is not None:
            env["SAGA_REPLICA"] = process
            env["SAGA_REPLICA_PORT"] = str(self.process_port(process))
        env.pop("SAGA_CHAOS_TOKEN", None)  # only `token` turns the control surface on
        env["SAGA_DATA_DIR"] = str(self.layout.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("SAGA_AMQP_URL", self.amqp_url)
        own_url = account_amqp_url(self.layout, self.amqp_url, service)
        env[f"SAGA_AMQP_URL_{service.upper()}"] = own_url
        if proxy_map:
            listen = proxy_map["proxies"][amqp_proxy_name(service)]["listen"]
            heartbeat = int(self.env.get("SAGA_HEARTBEAT", "5"))
            env[f"SAGA_AMQP_URL_{service.upper()}"] = proxied_amqp_url(own_url, listen, heartbeat)
        store_proxy = (proxy_map or {}).get("proxies", {}).get(store_proxy_name(process))
        if self.store_url and store_proxy:
            env["SAGA_STORE"] = proxied_store_url(self.store_url, store_proxy["listen"])
        if token:
            env["SAGA_CHAOS_TOKEN"] = token
        return env

    def start_service(self, name: str, proxy_map: dict | None = None) -> int:
        """Start one process (`restart`) in the mode of the running run: with its token if it was
        brought up with --chaos, without one otherwise. A bare service name with replicas: each
        of its processes that is down; the pid of the last one started."""
        pid = 0
        for process in self.processes(name):
            if not self._process_pid(process):
                pid = self._spawn(process, proxy_map, self.chaos_token())
        return pid

    def _spawn(self, process: str, proxy_map: dict | None, token: str | None) -> int:
        if proxy_map is None and self.proxied:
            proxy_map = self.layout.read_proxy_map()
        return processes.spawn(
            service_argv(split_replica(process)[0]),
            self.service_env(process, proxy_map, token),
            self.layout.log_file(process),
            self.layout.pid_file(process),
            self.cwd,
        )

    def wait_ready(self, timeout: float = 60.0, services: tuple[str, ...] = SERVICES) -> list[ServiceStatus]:
        """Wait until every process of `services` (services or replicas) is ready."""
        started = time.monotonic()
        deadline = started + timeout
        names = [p for name in services for p in self.processes(name)]
        while True:
            statuses = [self.service_status(p) for p in names]
            if all(s.ready for s in statuses):
                return statuses
            # Dead, or its port answered by somebody else's process: waiting will not help.
            dead = [s for s in statuses if s.pid is None or "another process" in s.reason]
            if dead or time.monotonic() > deadline:
                problems = ", ".join(f"{s.service}: {s.reason}" for s in statuses if not s.ready)
                logs = ", ".join(str(self.layout.log_file(s.service)) for s in statuses if not s.ready)
                raise RuntimeError(
                    f"not ready after {time.monotonic() - started:.0f}s: {problems} (logs: {logs})"
                )
            time.sleep(0.2)

    # -- status --------------------------------------------------------------------------
    def _process_pid(self, process: str) -> int | None:
        return processes.alive_pid(self.layout.pid_file(process), SERVICE_MARKER)

    def _pid_files(self) -> list[str]:
        """Every process name with a pid file in this home, whatever the replica count was."""
        names = []
        for service in SERVICES:
            names.append(service)
            names += sorted(p.stem for p in self.layout.home.glob(f"{service}#*.pid"))
        return names

    def pid(self, name: str) -> int | None:
        """A process's pid if it lives. A bare service with replicas: its first replica's pid
        when every replica lives, else None (so "the service is down" once any replica is)."""
        pids = [self._process_pid(p) for p in self.processes(name)]
        return pids[0] if all(pids) else None

    def pids(self, name: str) -> dict[str, int | None]:
        """Every process of a service (or the one replica named) -> its pid, None if it is down."""
        return {p: self._process_pid(p) for p in self.processes(name)}

    def service_status(self, service: str) -> ServiceStatus:
        """One process's status (a service's, or a replica's, `payment#2`)."""
        port = self.process_port(service)
        pid = self._process_pid(service)
        if pid is None:
            return ServiceStatus(service, None, port, False, "not running")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2.0)
            body = response.json()
            if body.get("pid") not in (None, pid):
                return ServiceStatus(service, pid, port, False,
                                     f"port {port} is answered by another process (pid {body['pid']})")
            return ServiceStatus(service, pid, port, response.status_code == 200, body.get("reason", ""))
        except (httpx.HTTPError, ValueError) as exc:
            return ServiceStatus(service, pid, port, False, f"not answering on {port} ({type(exc).__name__})")

    def status(self) -> list[ServiceStatus]:
        """Every process: one per service, or each replica (`payment#1`, `payment#2`, ...)."""
        return [self.service_status(p) for p in self.processes()]

    # -- process control (the crash nemesis uses these) -------------------------------------
    def kill_service(self, service: str) -> int | None:
        """SIGKILL a process (`payment#2`), or every process of a service (`payment`); the
        first pid killed, or None if none was running."""
        killed = None
        for process in self.processes(service):
            pid = self._process_pid(process)
            if pid:
                processes.kill(pid)
                killed = killed or pid
        return killed

    def restart_service(self, service: str, timeout: float = 30.0) -> ServiceStatus:
        """Start what is down of a process or service and wait until it is ready; the status of
        the process named (a service's first replica for a bare service name)."""
        self.start_service(service)
        return self.wait_ready(timeout, (service,))[0]

    # -- down ----------------------------------------------------------------------------
    def down(self) -> list[str]:
        stopped = []
        for process in self._pid_files():
            pid = self._process_pid(process)
            if pid:
                processes.stop(pid)
                stopped.append(process)
        toxiproxy_pid = processes.alive_pid(self.layout.pid_file("toxiproxy"), TOXIPROXY_MARKER)
        if toxiproxy_pid:
            processes.stop(toxiproxy_pid)
            stopped.append("toxiproxy")
            self.layout.proxy_map_file.unlink(missing_ok=True)
        # The token belongs to the run that just ended: the next plain `up` must not find it.
        self.chaos_token_file.unlink(missing_ok=True)
        self.layout.replicas_file.unlink(missing_ok=True)
        cluster = self.cluster()
        if cluster is not None:
            stopped += cluster.down()
            self.layout.broker_file.unlink(missing_ok=True)
        return stopped
