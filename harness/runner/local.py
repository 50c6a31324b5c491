"""Run the saga locally: four service processes, each on its own proxied AMQP link."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.runner import processes
from harness.runner.commands import service_argv
from harness.runner.instance import VhostError, ensure_accounts
from harness.runner.layout import (
    Endpoints,
    Layout,
    account_amqp_url,
    broker_address,
    local_endpoints,
    service_port,
)
from harness.runner.topology import (
    TOXIPROXY_MARKER,
    amqp_proxy_name,
    ensure_proxies,
    ensure_toxiproxy,
    proxied_amqp_url,
)
from system.config import DEFAULT_AMQP_URL
from system.contracts import SERVICES

SERVICE_MARKER = "-m system"


class BrokerUnreachable(RuntimeError):
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
        self.proxied = proxied and self.env.get("SAGA_NO_PROXY") != "1"
        self.cwd = cwd or Path.cwd()
        self.say = say

    @property
    def amqp_url(self) -> str:
        return self.env.get("SAGA_AMQP_URL", DEFAULT_AMQP_URL)

    def endpoints(self) -> Endpoints:
        return local_endpoints(self.layout, self.env)

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
            if not any(self.pid(s) for s in SERVICES):
                self.chaos_token_file.unlink(missing_ok=True)
            return None
        token = self.chaos_token() or self.env.get("SAGA_CHAOS_TOKEN") or secrets.token_hex(16)
        tmp = self.chaos_token_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(token)
        tmp.replace(self.chaos_token_file)
        return token

    def _ensure_accounts(self) -> None:
        """Each service logs in as its own user, which may publish only its own routing keys
        (system/access.py). Without rabbitmqctl (a broker on another machine) they log in as
        SAGA_AMQP_URL's user, and the broker does not check who publishes what."""
        if self.env.get("SAGA_AMQP_USERS") == "0":
            self.layout.amqp_passwords_file.unlink(missing_ok=True)
            return
        try:
            ensure_accounts(self.layout, self.amqp_url, self.env.get("SAGA_STYLE"))
        except VhostError as exc:
            self.layout.amqp_passwords_file.unlink(missing_ok=True)
            self.say(f"warning: {exc}; every service logs in as SAGA_AMQP_URL's user")

    # -- up ------------------------------------------------------------------------------
    def up(self, *, chaos: bool = False, timeout: float = 60.0) -> list[ServiceStatus]:
        check_broker(self.amqp_url)
        for d in (self.layout.home, self.layout.data_dir, self.layout.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        token = self._begin_run(chaos)
        self._ensure_accounts()
        proxy_map = None
        if self.proxied:
            url, how = ensure_toxiproxy(self.layout, self.env, self.cwd)
            proxy_map = ensure_proxies(self.layout, url, self.amqp_url, self.env)
            self.say(f"toxiproxy: {url} ({how}); proxy map in {self.layout.proxy_map_file}")
        for service in SERVICES:
            pid = self.pid(service)
            if pid:
                self.say(f"{service}: already running (pid {pid})")
                continue
            pid = self._spawn(service, proxy_map, token)
            self.say(f"{service}: started (pid {pid}, port {service_port(service, self.env)})")
        return self.wait_ready(timeout)

    def service_env(self, service: str, proxy_map: dict | None, token: str | None) -> dict[str, str]:
        env = dict(self.env)
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
        if token:
            env["SAGA_CHAOS_TOKEN"] = token
        return env

    def start_service(self, service: str, proxy_map: dict | None = None) -> int:
        """Start one service (`restart`) in the mode of the running run: with its token if it was
        brought up with --chaos, without one otherwise."""
        return self._spawn(service, proxy_map, self.chaos_token())

    def _spawn(self, service: str, proxy_map: dict | None, token: str | None) -> int:
        if proxy_map is None and self.proxied:
            proxy_map = self.layout.read_proxy_map()
        return processes.spawn(
            service_argv(service),
            self.service_env(service, proxy_map, token),
            self.layout.log_file(service),
            self.layout.pid_file(service),
            self.cwd,
        )

    def wait_ready(self, timeout: float = 60.0, services: tuple[str, ...] = SERVICES) -> list[ServiceStatus]:
        started = time.monotonic()
        deadline = started + timeout
        while True:
            statuses = [self.service_status(s) for s in services]
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
    def pid(self, service: str) -> int | None:
        return processes.alive_pid(self.layout.pid_file(service), SERVICE_MARKER)

    def service_status(self, service: str) -> ServiceStatus:
        port = service_port(service, self.env)
        pid = self.pid(service)
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
        return [self.service_status(s) for s in SERVICES]

    # -- process control (the crash nemesis uses these) -------------------------------------
    def kill_service(self, service: str) -> int | None:
        pid = self.pid(service)
        if pid:
            processes.kill(pid)
        return pid

    def restart_service(self, service: str, timeout: float = 30.0) -> ServiceStatus:
        if not self.pid(service):
            self.start_service(service)
        return self.wait_ready(timeout, (service,))[0]

    # -- down ----------------------------------------------------------------------------
    def down(self) -> list[str]:
        stopped = []
        for service in SERVICES:
            pid = self.pid(service)
            if pid:
                processes.stop(pid)
                stopped.append(service)
        toxiproxy_pid = processes.alive_pid(self.layout.pid_file("toxiproxy"), TOXIPROXY_MARKER)
        if toxiproxy_pid:
            processes.stop(toxiproxy_pid)
            stopped.append("toxiproxy")
            self.layout.proxy_map_file.unlink(missing_ok=True)
        # The token belongs to the run that just ended: the next plain `up` must not find it.
        self.chaos_token_file.unlink(missing_ok=True)
        return stopped
