"""Static checks of docker-compose.yml, deploy/toxiproxy.json and the Dockerfile.

Needs the dev extras (`dockerfile`, `jsonschema`); nothing else in the harness imports it.

No Docker engine runs where CI runs, so the compose demo cannot be started there. These checks
read the files instead: each is a pure function returning a list of problems (empty: fine), so a
test can run it on the real files and on a deliberately broken copy, and show it can fail.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dockerfile
import jsonschema

from harness.runner.layout import with_credentials
from harness.targets.compose.access import (
    COMPOSE_PASSWORDS,
    DEFINITIONS_FILE,
    SEED_LOGIN,
    VHOST,
    compose_definitions,
)
from harness.targets.compose.endpoints import environment, published_ports
from harness.targets.compose.errors import BROKER, TOXIPROXY, compose_service
from harness.targets.compose.files import interpolate
from system.access import hash_matches, user_name
from system.contracts import DEFAULT_PORTS, SERVICES

# The repository these checks are about (the package is installed from it, editable).
ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "deploy" / "schema" / "compose-spec.json"
# deploy/schema/README.md records where this file came from; the checksum notices edits.
SCHEMA_SHA256 = "1f91e091f16b2dd50ab8860e02bb391d22df553d91c145eacedb1b6eff9c3f0e"

REQUIRED_HOST_PORTS = {8001, 8002, 8003, 8004, 5672, 15672, 8474, 16686}
JAEGER = "jaeger"
JAEGER_OTLP = "http://jaeger:4318"
AMQP_CONTAINER_PORT = 5672
DATA_DIR = "/data"
RABBITMQ_DATA_DIR = "/var/lib/rabbitmq"
TOXIPROXY_IMAGE = re.compile(r"^ghcr\.io/shopify/toxiproxy:v?2\.\d+\.\d+$")
RABBITMQ_IMAGE = re.compile(r"^rabbitmq:3(\.\d+)*-management$")

Compose = Mapping[str, Any]


def _services(compose: Compose) -> dict[str, Any]:
    return dict(compose.get("services") or {})


# -- the Compose Specification ----------------------------------------------------------------


def load_schema(path: Path = SCHEMA_FILE) -> dict[str, Any]:
    return json.loads(path.read_text())


def schema_checksum_problems(path: Path = SCHEMA_FILE, expected: str = SCHEMA_SHA256) -> list[str]:
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        return [f"{path.name}: sha256 {actual} is not the vendored upstream file's {expected}"]
    return []


def schema_problems(compose: Compose, schema: Mapping[str, Any]) -> list[str]:
    """Validation against the official Compose Specification schema (draft 7, as it declares)."""
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for error in sorted(
        validator.iter_errors(compose), key=lambda e: list(map(str, e.absolute_path))
    ):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    return problems


# -- paths ------------------------------------------------------------------------------------


def path_problems(compose: Compose, root: Path) -> list[str]:
    """Every build context, Dockerfile, bind-mount source and env_file the file names exists."""
    problems = []
    for name, service in _services(compose).items():
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            context_dir = (root / context).resolve()
            if not context_dir.is_dir():
                problems.append(f"{name}: build context {context!r} is not a directory")
            else:
                dockerfile_name = (
                    "Dockerfile"
                    if isinstance(build, str)
                    else build.get("dockerfile", "Dockerfile")
                )
                if not (context_dir / dockerfile_name).is_file():
                    problems.append(
                        f"{name}: Dockerfile {dockerfile_name!r} not found in {context!r}"
                    )
        for volume in service.get("volumes") or ():
            if isinstance(volume, dict):
                source = volume.get("source") if volume.get("type") == "bind" else None
            else:
                source = str(volume).split(":", 1)[0]
                if not source.startswith((".", "/", "~")):
                    source = None  # a named volume
            if source and not (root / source).exists():
                problems.append(f"{name}: bind-mount source {source!r} does not exist")
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            env_path = env_file if isinstance(env_file, str) else env_file.get("path")
            required = True if isinstance(env_file, str) else env_file.get("required", True)
            if required and not (root / env_path).is_file():
                problems.append(f"{name}: env_file {env_path!r} does not exist")
    return problems


# -- ports ------------------------------------------------------------------------------------


def port_problems(compose: Compose, required: set[int] = REQUIRED_HOST_PORTS) -> list[str]:
    problems = []
    seen: dict[int, str] = {}
    for name, service in _services(compose).items():
        for entry in service.get("ports") or ():
            # PyYAML reads an unquoted 8001:8001 as a base-60 integer (YAML 1.1); Compose does not.
            if not isinstance(entry, (str, dict)):
                problems.append(f"{name}: port {entry!r} must be a quoted string")
        for port in published_ports(service):
            if port.host_port in seen:
                problems.append(
                    f"{name}: host port {port.host_port} is also published by {seen[port.host_port]}"
                )
            seen[port.host_port] = name
    for missing in sorted(required - seen.keys()):
        problems.append(f"host port {missing} is not published")
    return problems


# -- health and start order -------------------------------------------------------------------


def healthcheck_problems(compose: Compose) -> list[str]:
    problems = []
    for name, service in _services(compose).items():
        check = service.get("healthcheck")
        if not check or check.get("disable"):
            problems.append(f"{name}: no healthcheck")
            continue
        test = check.get("test")
        if not isinstance(test, list) or len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL"):
            problems.append(f'{name}: healthcheck test must be ["CMD", ...] or ["CMD-SHELL", ...]')
    return problems


def depends_on_problems(compose: Compose) -> list[str]:
    """Every dependency waits for `service_healthy` of a service that has a healthcheck; no cycle."""
    services = _services(compose)
    problems = []
    graph: dict[str, list[str]] = {}
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            problems.append(
                f"{name}: depends_on is a list; use the long form with condition: service_healthy"
            )
            depends = {d: {} for d in depends}
        graph[name] = list(depends)
        for dependency, spec in depends.items():
            if dependency not in services:
                problems.append(f"{name}: depends on unknown service {dependency!r}")
                continue
            if (spec or {}).get("condition") != "service_healthy":
                problems.append(
                    f"{name}: depends_on {dependency} must use condition: service_healthy"
                )
            if not services[dependency].get("healthcheck"):
                problems.append(f"{name}: depends on {dependency}, which has no healthcheck")
    problems += [f"dependency cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    return problems


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    return cycles


# -- data volumes -----------------------------------------------------------------------------


def _named_volume_at(service: Mapping[str, Any], target: str) -> str | None:
    for volume in service.get("volumes") or ():
        if isinstance(volume, dict):
            if volume.get("target") == target and volume.get("type", "volume") == "volume":
                return volume.get("source")
            continue
        parts = str(volume).split(":")
        if len(parts) >= 2 and parts[1] == target and not parts[0].startswith((".", "/", "~")):
            return parts[0]
    return None


def volume_problems(compose: Compose) -> list[str]:
    """All state lives in declared named volumes, so `docker compose down -v` clears it."""
    services, declared = _services(compose), set((compose.get("volumes") or {}).keys())
    problems: list[str] = []
    owners: dict[str, str] = {}
    wanted = {BROKER: RABBITMQ_DATA_DIR} | {compose_service(s): DATA_DIR for s in SERVICES}
    for name, target in wanted.items():
        if name not in services:
            continue  # service_problems reports a missing service
        volume = _named_volume_at(services[name], target)
        if volume is None:
            problems.append(f"{name}: no named volume mounted at {target}")
            continue
        if volume not in declared:
            problems.append(f"{name}: volume {volume!r} is not declared under top-level volumes")
        if volume in owners:
            problems.append(f"{name}: shares volume {volume!r} with {owners[volume]}")
        owners[volume] = name
    return problems


# -- the broker and Toxiproxy -----------------------------------------------------------------


def rabbitmq_problems(compose: Compose) -> list[str]:
    rabbitmq = _services(compose).get(BROKER)
    if rabbitmq is None:
        return [f"no {BROKER} service"]
    problems = []
    if not RABBITMQ_IMAGE.match(str(rabbitmq.get("image", ""))):
        problems.append(
            f"{BROKER}: image {rabbitmq.get('image')!r} is not a RabbitMQ 3 -management image"
        )
    env = environment(rabbitmq)
    if (env.get("RABBITMQ_DEFAULT_USER"), env.get("RABBITMQ_DEFAULT_PASS")) != SEED_LOGIN:
        problems.append(f"{BROKER}: the seed's login is admin/admin (RABBITMQ_DEFAULT_USER/PASS)")
    test = (rabbitmq.get("healthcheck") or {}).get("test")
    if test != ["CMD", "rabbitmq-diagnostics", "-q", "ping"]:
        problems.append(
            f"{BROKER}: healthcheck should be rabbitmq-diagnostics -q ping, not {test!r}"
        )
    if not rabbitmq.get("hostname"):
        # The node name, and with it the data directory, follows the hostname.
        problems.append(
            f"{BROKER}: set a fixed hostname, or a re-created container ignores its data"
        )
    return problems


RABBITMQ_CONF = "/etc/rabbitmq/conf.d/20-saga.conf"
RABBITMQ_DEFINITIONS = "/etc/rabbitmq/definitions.json"


def access_problems(compose: Compose, definitions: Any) -> list[str]:
    """The broker loads the users system/access.py derives, and each service logs in as its own."""
    problems = []
    mounts = [str(v) for v in (_services(compose).get(BROKER) or {}).get("volumes") or ()]
    for source, target in (("./deploy/rabbitmq/rabbitmq.conf", RABBITMQ_CONF),
                           ("./deploy/rabbitmq/definitions.json", RABBITMQ_DEFINITIONS)):
        if f"{source}:{target}:ro" not in mounts:
            problems.append(f"{BROKER}: mount {source} at {target} (read-only): the users load at boot")
    expected = compose_definitions()
    passwords = {user_name(VHOST, a): p for a, p in COMPOSE_PASSWORDS.items()} | {SEED_LOGIN[0]: SEED_LOGIN[1]}
    users = {u.get("name"): u for u in (definitions or {}).get("users") or ()}
    for name, password in passwords.items():
        if name not in users or not hash_matches(str(users[name].get("password_hash", "")), password):
            problems.append(f"{DEFINITIONS_FILE.name}: user {name} is missing or has another password")
    for key in ("permissions", "topic_permissions", "vhosts"):
        if (definitions or {}).get(key) != expected[key]:
            problems.append(f"{DEFINITIONS_FILE.name}: {key} differ from system/access.py; "
                            "run python -m harness.targets.compose.access")
    for service in SERVICES:
        name, key = compose_service(service), f"SAGA_AMQP_URL_{service.upper()}"
        url = environment(_services(compose).get(name) or {}).get(key, "")
        own = with_credentials(url, user_name(VHOST, service), COMPOSE_PASSWORDS[service])
        if url != own:
            problems.append(f"{name}: {key} must log in as {user_name(VHOST, service)}, its own user")
    return problems


def toxiproxy_config_problems(proxies: Any) -> list[str]:
    """The file Toxiproxy's -config loads: a JSON array in the /populate format."""
    if not isinstance(proxies, list):
        return ["the Toxiproxy config must be a JSON array of proxies"]
    problems, names, listens = [], set(), set()
    for i, proxy in enumerate(proxies, 1):
        if not isinstance(proxy, dict):
            problems.append(f"proxy {i}: not an object")
            continue
        for field, kind in (("name", str), ("listen", str), ("upstream", str)):
            if not isinstance(proxy.get(field), kind) or not proxy.get(field):
                problems.append(f"proxy {i}: missing required field: {field}")
        if "enabled" in proxy and not isinstance(proxy["enabled"], bool):
            problems.append(f"proxy {i}: enabled must be true or false")
        unknown = set(proxy) - {"name", "listen", "upstream", "enabled"}
        if unknown:
            problems.append(
                f"proxy {i}: unknown fields {sorted(unknown)} (the config holds proxies only)"
            )
        for field in ("listen", "upstream"):
            value = str(proxy.get(field, ""))
            if value and not re.fullmatch(r"[^:\s]+:\d{1,5}", value):
                problems.append(f"proxy {i}: {field} {value!r} is not host:port")
        if proxy.get("name") in names:
            problems.append(f"proxy {i}: duplicate name {proxy.get('name')!r}")
        names.add(proxy.get("name"))
        port = str(proxy.get("listen", "")).rsplit(":", 1)[-1]
        if port in listens:
            problems.append(f"proxy {i}: listen port {port} is already used")
        listens.add(port)
    return problems


def toxiproxy_service_problems(compose: Compose, proxies: list[dict[str, Any]]) -> list[str]:
    toxiproxy = _services(compose).get(TOXIPROXY)
    if toxiproxy is None:
        return [f"no {TOXIPROXY} service"]
    problems = []
    if not TOXIPROXY_IMAGE.match(str(toxiproxy.get("image", ""))):
        problems.append(
            f"{TOXIPROXY}: image {toxiproxy.get('image')!r} is not a pinned ghcr.io/shopify/toxiproxy 2.x"
        )
    command = toxiproxy.get("command") or []
    if "-host=0.0.0.0" not in command:
        problems.append(
            f"{TOXIPROXY}: without -host=0.0.0.0 the API is unreachable from outside the container"
        )
    test = (toxiproxy.get("healthcheck") or {}).get("test") or []
    if test[:1] != ["CMD"] or not str(test[1:2] and test[1]).startswith("/toxiproxy-cli"):
        problems.append(
            f'{TOXIPROXY}: the image has no shell; the healthcheck must be ["CMD", "/toxiproxy-cli", ...]'
        )
    elif test[2:3] == ["inspect"] and proxies and test[3:4] != [proxies[-1].get("name")]:
        problems.append(
            f"{TOXIPROXY}: the healthcheck should inspect the config's last proxy ({proxies[-1].get('name')})"
        )
    published = {p.container_port for p in published_ports(toxiproxy)}
    if 8474 not in published:
        problems.append(f"{TOXIPROXY}: the API port 8474 is not published")
    return problems


def amqp_link_problems(compose: Compose, proxies: list[dict[str, Any]]) -> list[str]:
    """Each service's AMQP URL goes through its own proxy, whose upstream is the broker."""
    services = _services(compose)
    by_name = {p.get("name"): p for p in proxies}
    problems = []  # who logs in is access_problems' business
    used_proxies = set()
    for service in SERVICES:
        name = compose_service(service)
        if name not in services:
            continue
        key = f"SAGA_AMQP_URL_{service.upper()}"
        url = environment(services[name]).get(key)
        proxy = by_name.get(f"amqp_{service}")
        if not url:
            problems.append(f"{name}: {key} is not set")
            continue
        if proxy is None:
            problems.append(f"{name}: the Toxiproxy config has no amqp_{service} proxy")
            continue
        parts = urlsplit(url)
        listen_port = int(proxy["listen"].rsplit(":", 1)[1])
        if parts.scheme != "amqp" or parts.hostname != TOXIPROXY or parts.port != listen_port:
            problems.append(
                f"{name}: {key}={url} must go to {TOXIPROXY}:{listen_port} (proxy amqp_{service})"
            )
        if "heartbeat" not in parse_qs(parts.query):
            problems.append(
                f"{name}: {key} has no short heartbeat, so a black-holed link goes unnoticed"
            )
        if proxy["upstream"] != f"{BROKER}:{AMQP_CONTAINER_PORT}":
            problems.append(
                f"amqp_{service}: upstream {proxy['upstream']} is not {BROKER}:{AMQP_CONTAINER_PORT}"
            )
        if f"amqp_{service}" in used_proxies:
            problems.append(f"{name}: shares proxy amqp_{service}")
        used_proxies.add(f"amqp_{service}")
    http_order = by_name.get("http_order")
    order_port = environment(services.get(compose_service("order"), {})).get("SAGA_ORDER_PORT")
    if http_order is None:
        problems.append("the Toxiproxy config has no http_order proxy")
    elif http_order["upstream"] != f"{compose_service('order')}:{order_port}":
        problems.append(
            f"http_order: upstream {http_order['upstream']} is not {compose_service('order')}:{order_port}"
        )
    return problems


# -- the saga services ------------------------------------------------------------------------


def saga_service_problems(compose: Compose) -> list[str]:
    services = _services(compose)
    problems = []
    for service in SERVICES:
        name = compose_service(service)
        definition = services.get(name)
        if definition is None:
            problems.append(f"no {name} service")
            continue
        env = environment(definition)
        port = DEFAULT_PORTS[service]
        if env.get(f"SAGA_{service.upper()}_PORT") != str(port):
            problems.append(f"{name}: SAGA_{service.upper()}_PORT must be {port} (the seed's port)")
        if env.get("SAGA_HOST") != "0.0.0.0":
            problems.append(
                f"{name}: SAGA_HOST must be 0.0.0.0, or nothing outside the container reaches it"
            )
        if env.get("SAGA_DATA_DIR") != DATA_DIR:
            problems.append(
                f"{name}: SAGA_DATA_DIR must be {DATA_DIR}, where its volume is mounted"
            )
        if not any(
            p.container_port == port and p.host_port == port for p in published_ports(definition)
        ):
            problems.append(f"{name}: port {port} is not published as {port}")
        test = " ".join((definition.get("healthcheck") or {}).get("test") or [])
        if f"127.0.0.1:{port}/ready" not in test:
            problems.append(f"{name}: the healthcheck must ask /ready on port {port}")
        build = definition.get("build") or {}
        if (build if isinstance(build, str) else build.get("context")) != ".":
            problems.append(f"{name}: build the project's one Dockerfile (context .)")
        if definition.get("init") is not True:
            # pid_namespaces(7): PID 1 only gets signals it handles, so a crash point's
            # os.kill(os.getpid(), SIGKILL) would be ignored and the "crash" would not happen.
            problems.append(
                f"{name}: set init: true, or a crash point cannot kill the service (PID 1)"
            )
        if "SAGA_CHAOS_TOKEN" in env and interpolate(env["SAGA_CHAOS_TOKEN"], {}) != "":
            problems.append(
                f"{name}: SAGA_CHAOS_TOKEN must default to empty: crash points off unless set"
            )
    return problems


def jaeger_problems(compose: Compose) -> list[str]:
    """Issue #18: a pinned Jaeger all-in-one with its UI published, and every service tracing
    (unless the caller turns it off) to its OTLP/HTTP endpoint."""
    services = _services(compose)
    jaeger = services.get(JAEGER)
    if jaeger is None:
        return ["no jaeger service: the services' spans have nowhere to go"]
    problems = []
    image = str(jaeger.get("image") or "")
    if not image.startswith("jaegertracing/all-in-one:") or image.endswith(":latest"):
        problems.append(f"jaeger: image {image!r} must be a pinned jaegertracing/all-in-one")
    if not any(p.container_port == 16686 and p.host_port == 16686 for p in published_ports(jaeger)):
        problems.append("jaeger: the UI (16686) is not published as 16686")
    for service in SERVICES:
        definition = services.get(compose_service(service))
        if definition is None:
            continue  # saga_service_problems reports it
        env = environment(definition)
        if interpolate(str(env.get("SAGA_TRACING", "")), {}) != "1":
            problems.append(f"{compose_service(service)}: SAGA_TRACING must default to 1 in the demo")
        if env.get("SAGA_OTLP_ENDPOINT") != JAEGER_OTLP:
            problems.append(f"{compose_service(service)}: SAGA_OTLP_ENDPOINT must be {JAEGER_OTLP}")
    return problems


def command_problems(
    compose: Compose, service_argv: Callable[[str], list[str]], interpreter: str
) -> list[str]:
    """Each container runs the local runner's argv, with `python` for the runner's interpreter."""
    services = _services(compose)
    problems = []
    for service in SERVICES:
        name = compose_service(service)
        if name not in services:
            continue
        local = list(service_argv(service))
        if local[:1] != [interpreter]:
            problems.append(
                f"the local runner's argv for {service} does not start with the interpreter: {local}"
            )
            continue
        expected = ["python", *local[1:]]
        command = services[name].get("command")
        if services[name].get("entrypoint"):
            problems.append(f"{name}: an entrypoint would wrap the command; remove it")
        if command != expected:
            problems.append(f"{name}: command {command!r} is not the local runner's {expected!r}")
    return problems


# -- the Dockerfile ---------------------------------------------------------------------------


def dockerignore_patterns(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match as Docker uses it: `*` and `?` stop at `/`, `**` spans directories."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule for one path (globs, `**`, `!` exceptions; a path is excluded
    when it or a parent directory matches; the last matching line wins)."""
    relative = relative.strip("/").removeprefix("./")
    parts = relative.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = _glob_regex(raw.lstrip("!").strip().strip("/").removeprefix("./"))
        if any(regex.match(c) for c in candidates):
            ignored = not negate
    return ignored


def dockerfile_problems(dockerfile_path: Path, context: Path) -> list[str]:
    """The Dockerfile parses (BuildKit's own parser), starts FROM python:3.11-slim, COPYs only
    files that exist and are not .dockerignored, installs the project with `pip install .`,
    copies what that install needs, runs unprivileged, and uses the exec form for CMD."""
    try:
        commands = dockerfile.parse_file(str(dockerfile_path))
    except (dockerfile.GoParseError, dockerfile.GoIOError) as exc:
        return [f"{dockerfile_path.name} does not parse: {exc}"]
    problems = []
    known = {name.upper() for name in dockerfile.all_cmds()}
    for command in commands:
        # The parser accepts any word as an instruction; `docker build` would stop at it.
        if command.cmd.upper() not in known:
            problems.append(f"line {command.start_line}: unknown instruction {command.cmd}")
    first = next((c for c in commands if c.cmd != "ARG"), None)
    if first is None or first.cmd != "FROM" or first.value[:1] != ("python:3.11-slim",):
        problems.append("the first instruction must be FROM python:3.11-slim")
    if sum(c.cmd == "FROM" for c in commands) != 1:
        problems.append("one stage only: the compose services all run this image")
    patterns = dockerignore_patterns(context / ".dockerignore")
    copied: set[str] = set()
    for command in commands:
        if command.cmd not in ("COPY", "ADD"):
            continue
        if any(flag.startswith("--from") for flag in command.flags):
            continue
        if len(command.value) < 2:
            problems.append(
                f"line {command.start_line}: {command.cmd} needs a source and a destination"
            )
            continue
        for source in command.value[:-1]:
            if re.match(r"^[a-z]+://", source):
                problems.append(
                    f"line {command.start_line}: {command.cmd} from a URL; vendor the file instead"
                )
                continue
            if not (context / source).exists():
                problems.append(
                    f"line {command.start_line}: {command.cmd} source {source!r} does not exist"
                )
            elif is_ignored(source, patterns):
                problems.append(
                    f"line {command.start_line}: {command.cmd} source {source!r} is excluded by .dockerignore"
                )
            copied.add(source.strip("/").removeprefix("./"))
    runs = " ; ".join(" ".join(c.value) for c in commands if c.cmd == "RUN")
    if not re.search(r"\bpip install(\s+-\S+)*\s+\.(\s|$)", runs):
        problems.append("no RUN installs the project with `pip install .`")
    for needed in _project_build_inputs(context):
        if needed not in copied:
            problems.append(f"`pip install .` needs {needed!r}, which is not copied into the image")
    users = [c.value[0] for c in commands if c.cmd == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("the image should end with USER set to an unprivileged user")
    for command in commands:
        if command.cmd in ("CMD", "ENTRYPOINT") and not command.json:
            problems.append(
                f"line {command.start_line}: use the exec form for {command.cmd} (signals reach python)"
            )
    return problems


def _project_build_inputs(context: Path) -> list[str]:
    """pyproject.toml, its readme, and the top-level package directories it includes."""
    pyproject = tomllib.loads((context / "pyproject.toml").read_text())
    needed = ["pyproject.toml"]
    readme = pyproject.get("project", {}).get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    if readme:
        needed.append(readme)
    find = pyproject.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {})
    for pattern in find.get("include", []):
        needed.append(pattern.rstrip("*").rstrip("."))
    return needed
