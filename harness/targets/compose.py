"""The compose target: the saga as `docker-compose.yml` runs it, seen from the host.

Everything the harness needs to know (service URLs, the order API through Toxiproxy, the broker's
URL and login, the Toxiproxy API, the proxy map) is read from docker-compose.yml and the Toxiproxy
config file it mounts, so the file stays the one source of truth. Process control goes through the
Compose CLI: a crash is `docker compose kill <svc>` (SIGKILL, like the local runner's), a restart
is `docker compose start <svc>`. Set SAGA_COMPOSE (for example `docker-compose`) to use another
Compose command.

`python -m harness.targets.compose env` prints the shell exports that point the harness's external
target (pytest plugin, BDD steps) at a running compose system.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.runner.layout import Endpoints
from harness.runner.local import ServiceStatus
from harness.runner.topology import HTTP_ORDER_PROXY
from system.contracts import SERVICES

DEFAULT_COMPOSE_FILE = Path("docker-compose.yml")
DEFAULT_COMPOSE_COMMAND = "docker compose"
BROKER = "rabbitmq"
TOXIPROXY = "toxiproxy"
TOXIPROXY_API_PORT = 8474
AMQP_PORT = 5672

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

# What the docker CLI says about `docker compose ...` when the Compose plugin is not installed.
_NO_PLUGIN = re.compile(r"unknown shorthand flag: 'f'|unknown command|is not a docker command")


class ComposeError(RuntimeError):
    """A Compose command failed, or the compose file does not say what the harness needs."""


class ComposeUnavailable(ComposeError):
    """No Compose command on this machine."""


def compose_service(service: str) -> str:
    """The compose service that runs a saga service: `order` -> `order-service`."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return f"{service}-service"


# -- reading the compose file (pure) -----------------------------------------------------------

_VARIABLE = re.compile(r"\$(?:(\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable interpolation over a parsed document: $$, $VAR, ${VAR}, ${VAR:-default},
    ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt} (no nesting)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        braced = _BRACED.match(match.group("braced"))
        if not braced:
            raise ComposeError(f"invalid interpolation format in {value!r}")
        name, op, arg = braced.group("name"), braced.group("op"), braced.group("arg") or ""
        present = name in env
        nonempty = bool(env.get(name))
        if op is None:
            return env.get(name, "")
        if op in (":-", "-"):
            return env[name] if (nonempty if op == ":-" else present) else arg
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else present) else ""
        if not (nonempty if op == ":?" else present):  # ":?" and "?": required variable
            raise ComposeError(f"required variable {name} is missing a value: {arg}")
        return env[name]

    return _VARIABLE.sub(substitute, value)


def read_dotenv(path: Path) -> dict[str, str]:
    """The `.env` file beside the compose file, which Compose also reads for interpolation."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return values
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_compose(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file parsed (YAML anchors and merge keys resolved) and interpolated."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ComposeError(f"no compose file at {path}") from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
        raise ComposeError(f"{path} has no `services` mapping")
    return interpolate(document, os.environ if env is None else env)


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str
    host_port: int
    container_port: int


def published_ports(service_def: Mapping[str, Any]) -> list[PublishedPort]:
    """The ports a service publishes, from the short ("[ip:]host:container[/proto]") or long syntax."""
    result = []
    for entry in service_def.get("ports") or ():
        if isinstance(entry, dict):
            if entry.get("published") is None:
                continue
            result.append(
                PublishedPort(
                    str(entry.get("host_ip", "0.0.0.0")),
                    int(entry["published"]),
                    int(entry["target"]),
                )
            )
            continue
        text = str(entry).split("/", 1)[0]
        parts = text.rsplit(":", 2)
        if len(parts) == 1:  # container port only: Docker picks a random host port
            continue
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        host_port, container_port = parts[-2], parts[-1]
        if "-" in host_port or "-" in container_port:
            raise ComposeError(f"port ranges are not supported here: {entry!r}")
        result.append(PublishedPort(host_ip, int(host_port), int(container_port)))
    return result


def host_url_for(
    service_def: Mapping[str, Any], container_port: int, name: str, scheme: str = "http"
) -> str:
    for port in published_ports(service_def):
        if port.container_port == container_port:
            host = "127.0.0.1" if port.host_ip in ("0.0.0.0", "", "::") else port.host_ip
            return f"{scheme}://{host}:{port.host_port}"
    raise ComposeError(f"compose service {name!r} does not publish container port {container_port}")


def _environment(service_def: Mapping[str, Any]) -> dict[str, str]:
    raw = service_def.get("environment") or {}
    if isinstance(raw, list):  # ["KEY=value", ...]
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def service_container_port(compose: Mapping[str, Any], service: str) -> int:
    env = _environment(compose["services"][compose_service(service)])
    key = f"SAGA_{service.upper()}_PORT"
    if not env.get(key):
        raise ComposeError(f"{compose_service(service)} does not set {key}")
    return int(env[key])


def toxiproxy_config_path(compose: Mapping[str, Any], base: Path) -> Path:
    """The host file mounted as Toxiproxy's `-config` file."""
    toxiproxy = compose["services"].get(TOXIPROXY) or {}
    command = toxiproxy.get("command") or []
    if isinstance(command, str):
        command = shlex.split(command)
    target = next((arg.split("=", 1)[1] for arg in command if arg.startswith("-config=")), None)
    if target is None:
        raise ComposeError("the toxiproxy service has no -config=FILE argument")
    for volume in toxiproxy.get("volumes") or ():
        if isinstance(volume, dict):
            source, mounted = volume.get("source"), volume.get("target")
        else:
            source, mounted = (str(volume).split(":") + [""])[:2]
        if mounted == target and source:
            return (base / source).resolve()
    raise ComposeError(f"no volume of the toxiproxy service mounts its config file {target}")


def proxy_map(compose: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The Toxiproxy config in the shape of the local runner's proxy map."""
    path = toxiproxy_config_path(compose, base)
    try:
        proxies = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ComposeError(f"cannot read the Toxiproxy config {path}: {exc}") from None
    toxiproxy_url = host_url_for(compose["services"][TOXIPROXY], TOXIPROXY_API_PORT, TOXIPROXY)
    return {
        "toxiproxy_url": toxiproxy_url,
        "proxies": {p["name"]: {"listen": p["listen"], "upstream": p["upstream"]} for p in proxies},
    }


def broker_url(compose: Mapping[str, Any]) -> str:
    """The broker as the harness reaches it from the host: published AMQP port, compose login."""
    rabbitmq = compose["services"][BROKER]
    env = _environment(rabbitmq)
    user, password = (
        env.get("RABBITMQ_DEFAULT_USER", "guest"),
        env.get("RABBITMQ_DEFAULT_PASS", "guest"),
    )
    address = host_url_for(rabbitmq, AMQP_PORT, BROKER, scheme="amqp").removeprefix("amqp://")
    return f"amqp://{user}:{password}@{address}/"


def compose_endpoints(compose: Mapping[str, Any], base: Path) -> Endpoints:
    services = {
        s: host_url_for(
            compose["services"][compose_service(s)],
            service_container_port(compose, s),
            compose_service(s),
        )
        for s in SERVICES
    }
    proxies = proxy_map(compose, base)
    order_api = services["order"]
    http_order = proxies["proxies"].get(HTTP_ORDER_PROXY)
    if http_order:
        listen_port = int(http_order["listen"].rsplit(":", 1)[1])
        try:
            order_api = host_url_for(compose["services"][TOXIPROXY], listen_port, TOXIPROXY)
        except ComposeError:
            pass  # the proxy is not published: clients go to the order service directly
    return Endpoints(
        services=services,
        order_api=order_api,
        amqp_url=broker_url(compose),
        toxiproxy_url=proxies["toxiproxy_url"],
    )


def external_target_env(endpoints: Endpoints) -> dict[str, str]:
    """The variables of the pytest plugin's `external` target, pointing at these endpoints."""
    env = {"SAGA_TARGET": "external"}
    env.update({f"SAGA_{s.upper()}_URL": url for s, url in endpoints.services.items()})
    env["SAGA_ORDER_API_URL"] = endpoints.order_api
    env["SAGA_AMQP_URL"] = endpoints.amqp_url
    if endpoints.toxiproxy_url:
        env["TOXIPROXY_URL"] = endpoints.toxiproxy_url
    return env


# -- driving the compose system (imperative shell) ---------------------------------------------


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
        token = _environment(self.compose["services"][compose_service("order")]).get(
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.targets.compose",
        description="Print how the harness reaches the compose system.",
    )
    parser.add_argument(
        "what", choices=["env", "endpoints"], help="env: shell exports; endpoints: JSON"
    )
    parser.add_argument("-f", "--file", default=str(DEFAULT_COMPOSE_FILE), help="compose file")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 254
    try:
        system = ComposeSystem(args.file, say=lambda line: None)
        endpoints = system.endpoints()
    except ComposeError as exc:
        print(f"compose target: {exc}", file=sys.stderr)
        return 1
    if args.what == "env":
        for key, value in external_target_env(endpoints).items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        print(
            json.dumps({**endpoints.__dict__, "proxies": system.proxy_map()["proxies"]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
