"""Service settings, read once from the environment at start (12-factor; compose sets the same)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from system.contracts import DEFAULT_PORTS, SERVICES
from system.deadlines import STEPS, StepTimeouts
from system.decisions import DecisionConfig
from system.defects import Defect, parse_defects
from system.rates import parse_rate
from system.styles import DEFAULT_STYLE, style_named

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# Where a tracing service sends its spans (OTLP/HTTP; `/v1/traces` is appended): the harness's
# own receiver during a chaos run, Jaeger under compose. The OTLP/HTTP port is 4318 by convention.
DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"


class ConfigError(ValueError):
    """A setting that makes no sense; the message says which and why."""


@dataclass(frozen=True)
class HttpLimits:
    """Each service's HTTP server limits (system/http_limits.py applies them; README lists them).

    Defaults: 1000 connections stays under the common 1024 descriptor limit with room for
    SQLite, AMQP and logs; 30 s for a whole request (bodies are at most 64 KiB) closes a
    half-sent request well within a minute; 5 s idle is uvicorn's own keep-alive default.
    """

    keep_alive: float  # s an idle connection (before or between requests) stays open
    request_timeout: float  # s from the first byte of a request to its last, else closed
    max_connections: int  # open connections beyond this are closed on accept


@dataclass(frozen=True)
class ServiceConfig:
    service: str
    host: str
    port: int
    data_dir: Path
    amqp_url: str
    decisions: DecisionConfig
    chaos_token: str | None
    defects: frozenset[Defect]
    prefetch: int = 32
    max_attempts: int = 5  # a message that keeps failing is dead-lettered after this many tries
    http: HttpLimits = HttpLimits(keep_alive=5, request_timeout=30, max_connections=1000)
    style: str = DEFAULT_STYLE  # SAGA_STYLE: orchestration | choreography (system/styles.py)
    store_url: str | None = None  # SAGA_STORE: None (SQLite under data_dir) or postgresql://...
    # SAGA_STORE_THREADS: how many store calls of this process may run at once, on threads of
    # their own (system/stores/threads.py). SQLite: always 1 (one connection, one writer).
    store_threads: int = 1
    # One of several replicas (`payment#2`): it shares `port` with the others (SO_REUSEPORT)
    # and also listens on a port of its own, where the harness reaches this very process.
    replica: str | None = None
    replica_port: int | None = None
    # SAGA_EVENT_LOOP: uvloop (the default: measured about 10% less CPU per saga, docs/design.md
    # issue #17) or asyncio (the standard library's, e.g. to rule uvloop out when debugging).
    event_loop: str = "uvloop"
    tracing: bool = False  # SAGA_TRACING=1: OpenTelemetry spans (system/tracing.py); off costs nothing
    otlp_endpoint: str = DEFAULT_OTLP_ENDPOINT  # SAGA_OTLP_ENDPOINT

    @property
    def database(self) -> Path:
        return self.data_dir / f"{self.service}.sqlite3"


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_rate(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={exc}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a positive finite number")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} must be 1 or 0")


def tracing_endpoint(env: Mapping[str, str]) -> str:
    raw = (env.get("SAGA_OTLP_ENDPOINT") or DEFAULT_OTLP_ENDPOINT).rstrip("/")
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"SAGA_OTLP_ENDPOINT={raw!r} must be an http:// or https:// URL")
    return raw


def http_limits(env: Mapping[str, str]) -> HttpLimits:
    defaults = ServiceConfig.http
    max_connections = _int(env, "SAGA_HTTP_MAX_CONNECTIONS", defaults.max_connections)
    if max_connections < 1:
        raise ConfigError(f"SAGA_HTTP_MAX_CONNECTIONS={max_connections} must be at least 1")
    return HttpLimits(
        keep_alive=_positive(env, "SAGA_HTTP_KEEP_ALIVE", defaults.keep_alive),
        request_timeout=_positive(env, "SAGA_HTTP_REQUEST_TIMEOUT", defaults.request_timeout),
        max_connections=max_connections,
    )


def service_config(service: str, env: Mapping[str, str] = os.environ) -> ServiceConfig:
    if service not in SERVICES:
        raise ConfigError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    upper = service.upper()
    try:
        defects = parse_defects(env.get("SAGA_DEFECTS"))
        style = style_named(env.get("SAGA_STYLE")).name
    except ValueError as exc:
        raise ConfigError(f"SAGA_STYLE: {exc}" if "style" in str(exc) else str(exc)) from None
    return ServiceConfig(
        service=service,
        host=env.get("SAGA_HOST", "127.0.0.1"),
        port=_int(env, f"SAGA_{upper}_PORT", DEFAULT_PORTS[service]),
        data_dir=Path(env.get("SAGA_DATA_DIR", ".saga/data")),
        # A per-service URL lets the harness route each service through its own Toxiproxy proxy.
        amqp_url=env.get(f"SAGA_AMQP_URL_{upper}") or env.get("SAGA_AMQP_URL") or DEFAULT_AMQP_URL,
        decisions=DecisionConfig(
            seed=_int(env, "SAGA_SEED", 0),
            payment_failure_rate=_rate(env, "PAYMENT_FAILURE_RATE", 0.2),
            delivery_failure_rate=_rate(env, "DELIVERY_FAILURE_RATE", 0.1),
            timeouts=step_timeouts(env),
            payment_transient_failure_rate=_rate(env, "PAYMENT_TRANSIENT_FAILURE_RATE", 0.0),
            max_retries=_max_retries(env),
        ),
        chaos_token=env.get("SAGA_CHAOS_TOKEN") or None,
        defects=defects,
        prefetch=_int(env, "SAGA_PREFETCH", 32),
        max_attempts=_int(env, "SAGA_MAX_ATTEMPTS", 5),
        http=http_limits(env),
        style=style,
        store_url=_store_url(env),
        store_threads=_store_threads(env),
        replica=env.get("SAGA_REPLICA") or None,
        replica_port=_int(env, "SAGA_REPLICA_PORT", 0) or None,
        event_loop=_event_loop(env),
        tracing=_flag(env, "SAGA_TRACING", False),
        otlp_endpoint=tracing_endpoint(env),
    )


def step_timeouts(env: Mapping[str, str] = os.environ) -> StepTimeouts:
    """SAGA_STEP_TIMEOUT (every step) and SAGA_STEP_TIMEOUT_<STEP> (seconds; unset: no deadline)."""
    default = _positive(env, "SAGA_STEP_TIMEOUT", 0.0) or None
    per_step = {}
    for step in STEPS:
        value = _positive(env, f"SAGA_STEP_TIMEOUT_{step.upper()}", 0.0)
        if value:
            per_step[step] = value
    return StepTimeouts(default, per_step)


def _max_retries(env: Mapping[str, str]) -> int:
    """SAGA_MAX_RETRIES: below SAGA_MAX_ATTEMPTS, or the consumer dead-letters a charge first."""
    retries = _int(env, "SAGA_MAX_RETRIES", 3)
    attempts = _int(env, "SAGA_MAX_ATTEMPTS", 5)
    if not 0 <= retries < attempts:
        raise ConfigError(f"SAGA_MAX_RETRIES={retries} must be at least 0 and below SAGA_MAX_ATTEMPTS={attempts}")
    return retries


POSTGRES_STORE_THREADS = 4  # measured: bench/bench_scale.py --pg-threads 1 2 4 8 (docs/design.md, issue #17)


EVENT_LOOPS = ("uvloop", "asyncio")


def _event_loop(env: Mapping[str, str]) -> str:
    loop = env.get("SAGA_EVENT_LOOP") or "uvloop"
    if loop not in EVENT_LOOPS:
        raise ConfigError(f"SAGA_EVENT_LOOP={loop!r}: use {' or '.join(EVENT_LOOPS)}")
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return "asyncio"  # a platform without it (uvloop has no Windows build): the standard loop
    return loop


def _store_threads(env: Mapping[str, str]) -> int:
    """SQLite: 1 whatever is asked (its one connection must not be shared by threads at once)."""
    if _store_url(env) is None:
        return 1
    threads = _int(env, "SAGA_STORE_THREADS", POSTGRES_STORE_THREADS)
    if not 1 <= threads <= 64:
        raise ConfigError(f"SAGA_STORE_THREADS={threads} must be between 1 and 64")
    return threads


def _store_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("SAGA_STORE")
    if raw is None or raw in ("", "sqlite"):
        return None
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"SAGA_STORE={raw!r}: use 'sqlite' (the default) or a postgresql:// URL")
    return raw
