"""Pure: which toxics a fault means (kind, target, attributes, stream -> toxic plans). No I/O.

Kept apart from the shell in network.py so the CLI, the nemeses and the tests can validate a
fault without a Toxiproxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from system.contracts import SERVICES

CHAOS_PREFIX = "chaos_"
STREAMS = ("upstream", "downstream", "both")


@dataclass(frozen=True)
class FaultKind:
    toxic_type: str
    default_stream: str
    attributes: tuple[str, ...]
    required: tuple[str, ...] = ()


# A black hole and a reset must hit both directions to mean anything for a request/response
# protocol; shaping faults default to Toxiproxy's own default, downstream.
FAULT_KINDS: dict[str, FaultKind] = {
    "latency": FaultKind("latency", "downstream", ("latency", "jitter"), ("latency",)),
    "bandwidth": FaultKind("bandwidth", "downstream", ("rate",), ("rate",)),
    "black_hole": FaultKind("timeout", "both", ("timeout",)),
    "timeout": FaultKind("timeout", "both", ("timeout",)),
    "reset_peer": FaultKind("reset_peer", "both", ("timeout",)),
    "slicer": FaultKind(
        "slicer", "downstream", ("average_size", "size_variation", "delay"), ("average_size",)
    ),
    "limit_data": FaultKind("limit_data", "downstream", ("bytes",), ("bytes",)),
    "slow_close": FaultKind("slow_close", "downstream", ("delay",), ("delay",)),
}


class FaultUsageError(ValueError):
    """The fault asked for cannot exist (unknown kind, target, stream or attribute)."""


# --- pure: what to ask Toxiproxy for ---------------------------------------------------------
def proxy_names(target: str) -> list[str]:
    if target == "all":
        return [f"amqp_{s}" for s in SERVICES]
    if target in SERVICES:
        return [f"amqp_{target}"]
    if target == "order_api":
        return ["http_order"]
    if target.startswith(("amqp_", "http_", "pg_")):
        return [target]
    if target.endswith("/db"):  # a process's link to PostgreSQL: payment/db, payment#2/db
        process = target[: -len("/db")]
        service, _, replica = process.partition("#")
        if service in SERVICES and (not replica or replica.isdigit()):
            return ["pg_" + process.replace("#", "_")]
    choices = ", ".join((*SERVICES, "order_api", "all", "<service or replica>/db"))
    raise FaultUsageError(f"unknown target {target!r}: use one of {choices} (or a proxy name)")


@dataclass(frozen=True)
class ToxicPlan:
    proxy: str
    type: str
    stream: str
    attributes: dict[str, int]
    toxicity: float
    name: str


def plan(
    kind: str,
    target: str,
    attributes: dict[str, int],
    stream: str | None = None,
    toxicity: float = 1.0,
) -> list[ToxicPlan]:
    spec = FAULT_KINDS.get(kind)
    if spec is None:
        raise FaultUsageError(f"unknown fault type {kind!r}: use one of {', '.join(FAULT_KINDS)}")
    proxies = proxy_names(target)
    unknown = sorted(set(attributes) - set(spec.attributes))
    if unknown:
        raise FaultUsageError(
            f"{kind} has no attribute {', '.join(unknown)}: it takes {', '.join(spec.attributes) or 'none'}"
        )
    missing = [a for a in spec.required if a not in attributes]
    if missing:
        raise FaultUsageError(f"{kind} needs the attribute {', '.join(missing)}")
    for key, value in attributes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultUsageError(
                f"{kind} attribute {key} must be a non-negative integer, not {value!r}"
            )
    if not 0.0 <= toxicity <= 1.0:
        raise FaultUsageError(f"toxicity must be between 0 and 1, not {toxicity}")
    stream = stream or spec.default_stream
    if stream not in STREAMS:
        raise FaultUsageError(f"unknown stream {stream!r}: use upstream, downstream or both")
    streams = ("upstream", "downstream") if stream == "both" else (stream,)
    return [
        ToxicPlan(
            proxy, spec.toxic_type, s, dict(attributes), toxicity, f"{CHAOS_PREFIX}{kind}_{s}"
        )
        for proxy in proxies
        for s in streams
    ]
