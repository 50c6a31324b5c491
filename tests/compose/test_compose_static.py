"""docker-compose.yml and deploy/toxiproxy.json, checked without a Docker engine.

Each check runs on the real files (no problems expected) and on a copy broken in one way (that
problem expected), so none of them can pass by being unable to fail.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.targets.compose import checks, interpolate
from harness.targets.compose.access import COMPOSE_PASSWORDS, DEFINITIONS_FILE
from system.access import password_hash

Compose = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> Compose:
    # Interpolated with an empty environment: what a user who sets nothing gets.
    return interpolate(yaml.safe_load(checks.COMPOSE_FILE.read_text()), {})


@pytest.fixture(scope="module")
def proxies() -> list[dict[str, Any]]:
    return json.loads((checks.ROOT / "deploy" / "toxiproxy.json").read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return checks.load_schema()


def broken(document: Any, change: Callable[[Any], None]) -> Any:
    twin = copy.deepcopy(document)
    change(twin)
    return twin


def svc(name: str) -> Callable[[Compose], dict[str, Any]]:
    return lambda c: c["services"][name]


# -- the Compose Specification ----------------------------------------------------------------


def test_vendored_schema_is_the_upstream_file() -> None:
    assert checks.schema_checksum_problems() == []


def test_vendored_schema_checksum_notices_an_edit(tmp_path: Path) -> None:
    edited = tmp_path / "compose-spec.json"
    edited.write_bytes(checks.SCHEMA_FILE.read_bytes() + b"\n")
    assert checks.schema_checksum_problems(edited)


def test_compose_file_follows_the_compose_specification(
    compose: Compose, schema: dict[str, Any]
) -> None:
    assert checks.schema_problems(compose, schema) == []


def test_raw_compose_file_follows_the_compose_specification(schema: dict[str, Any]) -> None:
    raw = yaml.safe_load(checks.COMPOSE_FILE.read_text())
    assert checks.schema_problems(raw, schema) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: svc("rabbitmq")(c).update(hostnme="typo"), "services.rabbitmq"),
        (
            lambda c: svc("order-service")(c)["depends_on"]["rabbitmq"].update(condition="healthy"),
            "healthy",
        ),
        (lambda c: svc("toxiproxy")(c)["healthcheck"].update(interval=5), "interval"),
        (lambda c: c.update(servics={}), "servics"),
        (lambda c: svc("payment-service")(c).update(command={"python": 1}), "command"),
    ],
    ids=[
        "unknown-key",
        "bad-condition",
        "duration-not-string",
        "unknown-top-level",
        "command-shape",
    ],
)
def test_schema_rejects_a_broken_file(
    compose: Compose, schema: dict[str, Any], change, expected: str
) -> None:
    problems = checks.schema_problems(broken(compose, change), schema)
    assert any(expected in p for p in problems), problems


# -- every check on the real file, then on a broken copy ---------------------------------------

COMPOSE_CHECKS: dict[str, Callable[..., list[str]]] = {
    "paths": lambda c, p: checks.path_problems(c, checks.ROOT),
    "ports": lambda c, p: checks.port_problems(c),
    "healthchecks": lambda c, p: checks.healthcheck_problems(c),
    "depends_on": lambda c, p: checks.depends_on_problems(c),
    "volumes": lambda c, p: checks.volume_problems(c),
    "rabbitmq": lambda c, p: checks.rabbitmq_problems(c),
    "toxiproxy_service": lambda c, p: checks.toxiproxy_service_problems(c, p),
    "amqp_links": lambda c, p: checks.amqp_link_problems(c, p),
    "saga_services": lambda c, p: checks.saga_service_problems(c),
    "access": lambda c, p: checks.access_problems(c, json.loads(DEFINITIONS_FILE.read_text())),
    "jaeger": lambda c, p: checks.jaeger_problems(c),
}


@pytest.mark.parametrize("name", COMPOSE_CHECKS)
def test_compose_file_passes(name: str, compose: Compose, proxies: list[dict[str, Any]]) -> None:
    assert COMPOSE_CHECKS[name](compose, proxies) == []


def _drop_healthcheck(c: Compose) -> None:
    del c["services"]["toxiproxy"]["healthcheck"]


def _short_depends_on(c: Compose) -> None:
    c["services"]["order-service"]["depends_on"] = ["rabbitmq"]


def _cycle(c: Compose) -> None:
    c["services"]["rabbitmq"]["depends_on"] = {"order-service": {"condition": "service_healthy"}}


BROKEN_COMPOSE = [
    (
        "paths",
        lambda c: svc("order-service")(c).update(build={"context": "no-such-dir"}),
        "build context",
    ),
    (
        "paths",
        lambda c: svc("order-service")(c)["build"].update(dockerfile="Dockerfile.nope"),
        "Dockerfile.nope",
    ),
    (
        "paths",
        lambda c: svc("toxiproxy")(c).update(
            volumes=["./deploy/nope.json:/config/toxiproxy.json:ro"]
        ),
        "nope.json",
    ),
    ("ports", lambda c: svc("rabbitmq")(c).update(ports=["127.0.0.1:5672:5672"]), "15672"),
    ("ports", lambda c: svc("delivery-service")(c).update(ports=["127.0.0.1:8003:8004"]), "8003"),
    ("ports", lambda c: svc("order-service")(c).update(ports=[480061]), "quoted"),
    ("healthchecks", _drop_healthcheck, "toxiproxy: no healthcheck"),
    (
        "healthchecks",
        lambda c: svc("rabbitmq")(c)["healthcheck"].update(test="rabbitmq-diagnostics ping"),
        "rabbitmq",
    ),
    (
        "depends_on",
        lambda c: svc("order-service")(c)["depends_on"]["toxiproxy"].update(
            condition="service_started"
        ),
        "service_healthy",
    ),
    ("depends_on", _short_depends_on, "long form"),
    ("depends_on", _drop_healthcheck, "has no healthcheck"),
    ("depends_on", _cycle, "cycle"),
    (
        "volumes",
        lambda c: svc("payment-service")(c).update(volumes=["./data:/data"]),
        "payment-service: no named volume",
    ),
    (
        "volumes",
        lambda c: svc("payment-service")(c).update(volumes=["order-data:/data"]),
        "shares volume",
    ),
    ("volumes", lambda c: c["volumes"].pop("rabbitmq-data"), "not declared"),
    (
        "rabbitmq",
        lambda c: svc("rabbitmq")(c)["environment"].update(RABBITMQ_DEFAULT_PASS="guest"),
        "admin/admin",
    ),
    ("rabbitmq", lambda c: svc("rabbitmq")(c).update(image="rabbitmq:3.10"), "-management"),
    ("rabbitmq", lambda c: svc("rabbitmq")(c).pop("hostname"), "hostname"),
    (
        "toxiproxy_service",
        lambda c: svc("toxiproxy")(c)["healthcheck"].update(
            test=["CMD-SHELL", "toxiproxy-cli list"]
        ),
        "no shell",
    ),
    (
        "toxiproxy_service",
        lambda c: svc("toxiproxy")(c).update(image="ghcr.io/shopify/toxiproxy:latest"),
        "pinned",
    ),
    (
        "toxiproxy_service",
        lambda c: svc("toxiproxy")(c).update(command=["-config=/config/toxiproxy.json"]),
        "-host",
    ),
    (
        "toxiproxy_service",
        lambda c: svc("toxiproxy")(c)["healthcheck"].update(
            test=["CMD", "/toxiproxy-cli", "inspect", "amqp_order"]
        ),
        "last proxy",
    ),
    (
        "toxiproxy_service",
        lambda c: svc("toxiproxy")(c).update(ports=["127.0.0.1:28001:28001"]),
        "8474",
    ),
    (
        "amqp_links",
        lambda c: svc("payment-service")(c)["environment"].update(
            SAGA_AMQP_URL_PAYMENT="amqp://admin:admin@toxiproxy:56721/?heartbeat=5"
        ),
        "56723",
    ),
    (
        "amqp_links",
        lambda c: svc("order-service")(c)["environment"].update(
            SAGA_AMQP_URL_ORDER="amqp://admin:admin@rabbitmq:5672/?heartbeat=5"
        ),
        "must go to toxiproxy",
    ),
    (
        "access",
        lambda c: svc("delivery-service")(c)["environment"].update(
            SAGA_AMQP_URL_DELIVERY="amqp://guest:guest@toxiproxy:56724/?heartbeat=5"
        ),
        "log in as saga.delivery",
    ),
    (
        "amqp_links",
        lambda c: svc("inventory-service")(c)["environment"].update(
            SAGA_AMQP_URL_INVENTORY="amqp://admin:admin@toxiproxy:56722/"
        ),
        "heartbeat",
    ),
    (
        "amqp_links",
        lambda c: svc("inventory-service")(c)["environment"].pop("SAGA_AMQP_URL_INVENTORY"),
        "not set",
    ),
    (
        "saga_services",
        lambda c: svc("order-service")(c)["environment"].update(SAGA_HOST="127.0.0.1"),
        "SAGA_HOST",
    ),
    (
        "saga_services",
        lambda c: svc("payment-service")(c)["environment"].update(SAGA_PAYMENT_PORT="9003"),
        "8003",
    ),
    (
        "saga_services",
        lambda c: svc("order-service")(c)["environment"].update(SAGA_DATA_DIR="/tmp"),
        "SAGA_DATA_DIR",
    ),
    (
        "saga_services",
        lambda c: svc("order-service")(c)["environment"].update(
            SAGA_CHAOS_TOKEN="${SAGA_CHAOS_TOKEN:-s3cret}"
        ),
        "crash points off",
    ),
    (
        "saga_services",
        lambda c: svc("order-service")(c)["environment"].update(SAGA_CHAOS_TOKEN="s3cret"),
        "crash points off",
    ),
    (
        "saga_services",
        lambda c: svc("delivery-service")(c)["healthcheck"].update(test=["CMD", "true"]),
        "/ready",
    ),
    ("saga_services", lambda c: c["services"].pop("inventory-service"), "no inventory-service"),
    ("saga_services", lambda c: svc("payment-service")(c).pop("init"), "init: true"),
    ("access", lambda c: svc("payment-service")(c)["environment"].update(
        SAGA_AMQP_URL_PAYMENT="amqp://admin:admin@toxiproxy:56723/?heartbeat=5"), "log in as saga.payment"),
    ("access", lambda c: svc("rabbitmq")(c)["volumes"].pop(), "definitions.json"),
    ("jaeger", lambda c: c["services"].pop("jaeger"), "no jaeger service"),
    ("jaeger", lambda c: svc("jaeger")(c).update(image="jaegertracing/all-in-one:latest"), "pinned"),
    ("jaeger", lambda c: svc("jaeger")(c).update(ports=[]), "16686"),
    ("jaeger", lambda c: svc("payment-service")(c)["environment"].update(SAGA_TRACING="0"), "SAGA_TRACING"),
    ("jaeger", lambda c: svc("order-service")(c)["environment"].update(
        SAGA_OTLP_ENDPOINT="http://127.0.0.1:4318"), "SAGA_OTLP_ENDPOINT"),
    ("ports", lambda c: svc("jaeger")(c).update(ports=[]), "16686"),
]


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    BROKEN_COMPOSE,
    ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BROKEN_COMPOSE)],
)
def test_check_catches_a_broken_compose_file(
    name: str, change, expected: str, compose: Compose, proxies: list[dict[str, Any]]
) -> None:
    problems = COMPOSE_CHECKS[name](broken(compose, change), proxies)
    assert any(expected in p for p in problems), problems


# -- the Toxiproxy config ---------------------------------------------------------------------


def test_toxiproxy_config_is_a_populate_array(proxies: list[dict[str, Any]]) -> None:
    assert checks.toxiproxy_config_problems(proxies) == []
    assert [p["name"] for p in proxies] == [
        "amqp_order",
        "amqp_inventory",
        "amqp_payment",
        "amqp_delivery",
        "http_order",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p[0].pop("upstream"), "missing required field: upstream"),
        (lambda p: p[1].update(name="amqp_order"), "duplicate name"),
        (lambda p: p[2].update(listen="0.0.0.0:56721"), "already used"),
        (lambda p: p[3].update(toxics=[{"type": "latency"}]), "unknown fields"),
        (lambda p: p[4].update(enabled="yes"), "enabled"),
        (lambda p: p[0].update(listen="56721"), "host:port"),
    ],
    ids=["no-upstream", "dup-name", "dup-port", "toxics", "enabled-type", "listen-format"],
)
def test_toxiproxy_config_check_catches(
    proxies: list[dict[str, Any]], change, expected: str
) -> None:
    problems = checks.toxiproxy_config_problems(broken(proxies, change))
    assert any(expected in p for p in problems), problems


def test_toxiproxy_config_must_be_an_array() -> None:
    assert checks.toxiproxy_config_problems({"proxies": []})


def test_proxies_and_service_urls_agree_when_the_config_changes(compose: Compose, proxies) -> None:
    moved = broken(proxies, lambda p: p[0].update(listen="0.0.0.0:56799"))
    problems = checks.amqp_link_problems(compose, moved)
    assert any("toxiproxy:56799" in p for p in problems), problems
    upstream = broken(proxies, lambda p: p[4].update(upstream="order-service:9999"))
    assert any("http_order" in p for p in checks.amqp_link_problems(compose, upstream))


def test_the_local_runner_derives_the_same_amqp_urls(compose: Compose, proxies) -> None:
    """Compose hard-codes what the local runner computes: the broker URL through a proxy."""
    from harness.runner.layout import with_credentials
    from harness.runner.topology import amqp_proxy_name, proxied_amqp_url
    from system.access import user_name
    from system.contracts import SERVICES

    listen = {p["name"]: p["listen"] for p in proxies}
    for service in SERVICES:
        url = compose["services"][f"{service}-service"]["environment"][
            f"SAGA_AMQP_URL_{service.upper()}"
        ]
        port = listen[amqp_proxy_name(service)].rsplit(":", 1)[1]
        own = with_credentials("amqp://admin:admin@rabbitmq:5672/", user_name("/", service), COMPOSE_PASSWORDS[service])
        expected = proxied_amqp_url(own, f"toxiproxy:{port}", 5)
        assert url == expected


# -- the broker's users -----------------------------------------------------------------------


def test_definitions_file_is_what_system_access_derives(compose: Compose) -> None:
    definitions = json.loads(DEFINITIONS_FILE.read_text())
    assert checks.access_problems(compose, definitions) == []
    wider = copy.deepcopy(definitions)
    wider["topic_permissions"][1]["write"] = ".*"  # the order service may publish anything
    assert any("topic_permissions differ" in p for p in checks.access_problems(compose, wider))
    wider["users"][1]["password_hash"] = password_hash("another")
    assert any("user saga.order" in p for p in checks.access_problems(compose, wider))
