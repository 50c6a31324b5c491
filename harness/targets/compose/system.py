"""Driving the compose system through the Compose CLI, with the local runner's control surface.

A crash is `docker compose kill -s SIGKILL <svc>` (like the local runner's kill), a restart is
`docker compose start <svc>`. Set SAGA_COMPOSE (for example `docker-compose`) to use another
Compose command.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from harness.runner.layout import Endpoints
from harness.runner.local import ServiceStatus
from harness.targets.compose.endpoints import compose_endpoints, environment, proxy_map
from harness.targets.compose.errors import (
    BROKER,
    DEFAULT_COMPOSE_FILE_NAME,
    ComposeError,
    ComposeUnavailable,
    compose_service,
)
from harness.targets.compose.files import load_compose, read_dotenv
from system.contracts import SERVICES

DEFAULT_COMPOSE_FILE = Path(DEFAULT_COMPOSE_FILE_NAME)
DEFAULT_COMPOSE_COMMAND = "docker compose"

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

# What the docker CLI says about `docker compose ...` when the Compose plugin is not installed.
_NO_PLUGIN = re.compile(r"unknown shorthand flag: 'f'|unknown command|is not a docker command")


class ComposeSystem:
    """The compose system with the local runner's control surface: endpoints, status, wait_ready,
    kill_service, restart_service, chaos_token; plus the broker's stop, start and restart."""

    def __init__(
        self,
        compose_file: Path | str = DEFAULT_COMPOSE_FILE,
        *,
        project: str | None = None,
        env: Mapping[str, str] | None = None,
        run: Runner = subprocess.run,
        say: Callable[[str], None] = print,
    ) -> None:
        self.compose_file = Path(compose_file).resolve()
        self.project = project
        self.env = dict(os.environ if env is None else env)
        self.run = run
        self.say = say
        # As Compose does: the environment wins over the .env file beside the compose file.
        variables = {**read_dotenv(self.compose_file.parent / ".env"), **self.env}
        self.compose = load_compose(self.compose_file, variables)

    # -- what the harness reads --------------------------------------------------------------
    def endpoints(self) -> Endpoints:
        return compose_endpoints(self.compose, self.compose_file.parent)

    def proxy_map(self) -> dict[str, Any]:
        return proxy_map(self.compose, self.compose_file.parent)

    def chaos_token(self) -> str | None:
        """The crash-point token compose passed to the services (empty, so off, unless set)."""
        token = environment(self.compose["services"][compose_service("order")]).get(
            "SAGA_CHAOS_TOKEN"
        )
        return token or None

    # -- the Compose CLI ---------------------------------------------------------------------
    def compose_argv(self, *args: str) -> list[str]:
        argv = shlex.split(self.env.get("SAGA_COMPOSE") or DEFAULT_COMPOSE_COMMAND)
        argv += ["-f", str(self.compose_file)]
        if self.project:
            argv += ["-p", self.project]
        return argv + list(args)

    def _compose(self, *args: str, timeout: float = 120.0) -> str:
        argv = self.compose_argv(*args)
        try:
            done = self.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env)
        except FileNotFoundError:
            raise ComposeUnavailable(
                f"{argv[0]!r} not found: install Docker with the Compose plugin, "
                "or set SAGA_COMPOSE to your Compose command (for example docker-compose)"
            ) from None
        except subprocess.TimeoutExpired:
            raise ComposeError(
                f"`{shlex.join(argv)}` did not finish within {timeout:.0f}s"
            ) from None
        if done.returncode != 0:
            output = (done.stderr or done.stdout or "").strip()
            if argv[:2] == ["docker", "compose"] and _NO_PLUGIN.search(output):
                # Without the plugin, the docker CLI reads `compose -f` as its own (bad) flags.
                raise ComposeUnavailable(
                    "this docker CLI has no Compose plugin (`docker compose` is unknown): install "
                    "it, or set SAGA_COMPOSE to your Compose command (for example docker-compose)"
                )
            # Compose v1 ends in a long traceback when the engine is down: its last lines say why.
            detail = "\n".join(output.splitlines()[-3:])
            raise ComposeError(f"`{shlex.join(argv)}` exited {done.returncode}: {detail}")
        return done.stdout or ""

    # -- life cycle --------------------------------------------------------------------------
    def up(self, *, build: bool = True, timeout: float = 180.0) -> list[ServiceStatus]:
        self._compose("up", "-d", *(["--build"] if build else []), timeout=max(timeout, 600.0))
        return self.wait_ready(timeout)

    def down(self, *, volumes: bool = False) -> None:
        self._compose("down", *(["-v"] if volumes else []))

    # -- process control (the crash and broker nemeses use these) ----------------------------
    def kill_service(self, service: str) -> None:
        """SIGKILL the service's container: no chance to tidy up, like the local runner's kill."""
        self._compose("kill", "-s", "SIGKILL", compose_service(service))
        self.say(f"{service}: killed ({compose_service(service)} container, SIGKILL)")

    def start_service(self, service: str) -> None:
        self._compose("start", compose_service(service))

    def restart_service(self, service: str, timeout: float = 60.0) -> ServiceStatus:
        self.start_service(service)
        return self.wait_ready(timeout, (service,))[0]

    def stop_broker(self) -> None:
        self._compose("stop", BROKER)

    def start_broker(self) -> None:
        self._compose("start", BROKER)

    def restart_broker(self) -> None:
        self._compose("restart", BROKER)

    # -- readiness ---------------------------------------------------------------------------
    def service_status(self, service: str) -> ServiceStatus:
        url = self.endpoints().services[service]
        port = int(url.rsplit(":", 1)[1])
        try:
            response = httpx.get(f"{url}/ready", timeout=2.0)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return ServiceStatus(
                service, None, port, False, f"not answering at {url} ({type(exc).__name__})"
            )
        return ServiceStatus(
            service, None, port, response.status_code == 200, body.get("reason", "")
        )

    def status(self) -> list[ServiceStatus]:
        return [self.service_status(s) for s in SERVICES]

    def wait_ready(
        self, timeout: float = 60.0, services: tuple[str, ...] = SERVICES
    ) -> list[ServiceStatus]:
        deadline = time.monotonic() + timeout
        while True:
            statuses = [self.service_status(s) for s in services]
            if all(s.ready for s in statuses):
                return statuses
            if time.monotonic() > deadline:
                problems = ", ".join(f"{s.service}: {s.reason}" for s in statuses if not s.ready)
                raise ComposeError(
                    f"not ready after {timeout:.0f}s: {problems} "
                    f"(see `{shlex.join(self.compose_argv('logs'))}`)"
                )
            time.sleep(0.5)
