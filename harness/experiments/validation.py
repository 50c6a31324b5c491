"""Experiment files -> Experiment, validated in one pass that collects every problem with its
path (`faults[1].kind: ...`), so a user fixes a file in one go. Pure: no I/O here."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from harness.experiments.model import (
    DEFAULT_MIX,
    MIX_KINDS,
    Experiment,
    ExperimentError,
    FaultSpec,
    LoadSpec,
    QuietSpec,
    Range,
)
from harness.faults.network import FAULT_KINDS
from harness.nemesis import NEMESIS_KINDS
from harness.runner.layout import split_replica
from system.contracts import BINDINGS, ROUTING_KEYS, SERVICES
from system.messaging.crashpoints import CRASH_POINTS

NETWORK_TARGETS = (*SERVICES, "order_api", "all")
NUMBER = (int, float)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def _unknown_keys(data: dict[str, Any], allowed: tuple[str, ...], path: str, problems: _Problems) -> None:
    for key in data:
        if key not in allowed:
            problems.add(f"{path}.{key}" if path else str(key), f"unknown key; allowed: {', '.join(allowed)}")


def _number(value: Any, path: str, problems: _Problems, *, minimum: float = 0.0, integer: bool = False,
            positive: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int if integer else NUMBER):
        problems.add(path, f"must be {'an integer' if integer else 'a number'}, not {value!r}")
        return None
    if value < minimum or (positive and value <= 0):
        problems.add(path, f"must be {'> 0' if positive else f'>= {minimum}'}, not {value!r}")
        return None
    return value


def _range(value: Any, path: str, problems: _Problems, *, minimum: float = 0.0) -> Range | None:
    """A number, or [low, high] with low <= high."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            problems.add(path, f"a range is [low, high], not {value!r}")
            return None
        low = _number(value[0], f"{path}[0]", problems, minimum=minimum)
        high = _number(value[1], f"{path}[1]", problems, minimum=minimum)
        if low is None or high is None:
            return None
        if low > high:
            problems.add(path, f"low {low} is above high {high}")
            return None
        return (low, high)
    number = _number(value, path, problems, minimum=minimum)
    return None if number is None else (number, number)


def _strings(value: Any, path: str, problems: _Problems) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.add(path, f"must be a name or a non-empty list of names, not {value!r}")
    return ()


def parse_load(data: Any, problems: _Problems) -> LoadSpec:
    if data is None:
        return LoadSpec()
    if not isinstance(data, dict):
        problems.add("load", "must be a mapping")
        return LoadSpec()
    allowed = ("orders", "rate", "workers", "timeout_s", "mix", "extend_while_faults", "max_orders")
    _unknown_keys(data, allowed, "load", problems)
    spec = LoadSpec()
    orders = _number(data.get("orders", spec.orders), "load.orders", problems, integer=True, positive=True)
    rate = _number(data.get("rate", spec.rate), "load.rate", problems, positive=True)
    workers = _number(data.get("workers", spec.workers), "load.workers", problems, integer=True, positive=True)
    timeout = _number(data.get("timeout_s", spec.timeout_s), "load.timeout_s", problems, positive=True)
    extend = data.get("extend_while_faults", True)
    if not isinstance(extend, bool):
        problems.add("load.extend_while_faults", f"must be true or false, not {extend!r}")
    cap = data.get("max_orders")
    if cap is not None:
        cap = _number(cap, "load.max_orders", problems, integer=True, positive=True)
    mix = _parse_mix(data.get("mix", DEFAULT_MIX), problems)
    return LoadSpec(
        orders=orders or spec.orders,
        rate=rate or spec.rate,
        workers=workers or spec.workers,
        timeout_s=timeout or spec.timeout_s,
        mix=mix,
        extend_while_faults=extend if isinstance(extend, bool) else True,
        max_orders=cap,
    )


def _parse_mix(data: Any, problems: _Problems) -> dict[str, float]:
    if not isinstance(data, dict) or not data:
        problems.add("load.mix", f"must map order kinds to weights ({', '.join(MIX_KINDS)})")
        return dict(DEFAULT_MIX)
    mix: dict[str, float] = {}
    for kind, weight in data.items():
        if kind not in MIX_KINDS:
            problems.add(f"load.mix.{kind}", f"unknown order kind; known: {', '.join(MIX_KINDS)}")
            continue
        value = _number(weight, f"load.mix.{kind}", problems)
        if value is not None:
            mix[kind] = float(value)
    if mix and sum(mix.values()) <= 0:
        problems.add("load.mix", "weights must not all be zero")
    return mix or dict(DEFAULT_MIX)


FAULT_KEYS = ("nemesis", "kind", "targets", "target", "duration_s", "window", "count", "each", "points", "params")


def accepted_params(nemesis: str, kind: str) -> tuple[str, ...]:
    if nemesis == "network":
        return () if kind == "partition" else (*FAULT_KINDS[kind].attributes, "stream", "toxicity")
    return {
        ("duplicates", "duplicate"): ("probability", "max_delay_ms", "new_id"),
        ("crash", "kill"): (),
        ("crash", "crashpoint"): ("routing_key", "skip", "trigger_timeout_s"),
        ("broker", "restart"): ("wait_s",),
        ("broker", "partition"): ("wait_s",),
        ("handler_faults", "handler_error"): ("routing_key", "failures"),
    }[(nemesis, kind)]


DEFAULT_TARGETS = {"duplicates": ("*",), "crash": SERVICES, "broker": ("rabbitmq",)}
DEFAULT_KINDS = {"broker": "restart"}  # what `nemesis: broker` meant before it could partition a node


def parse_fault(data: Any, path: str, problems: _Problems) -> FaultSpec | None:
    if not isinstance(data, dict):
        problems.add(path, "must be a mapping with at least nemesis and kind")
        return None
    before = len(problems.items)
    _unknown_keys(data, FAULT_KEYS, path, problems)
    nemesis, kind = data.get("nemesis"), data.get("kind")
    if nemesis not in NEMESIS_KINDS:
        problems.add(f"{path}.nemesis", f"unknown nemesis {nemesis!r}; known: {', '.join(NEMESIS_KINDS)}")
        return None
    if kind is None and len(NEMESIS_KINDS[nemesis]) == 1:
        kind = NEMESIS_KINDS[nemesis][0]
    kind = DEFAULT_KINDS.get(nemesis) if kind is None else kind
    if kind not in NEMESIS_KINDS[nemesis]:
        problems.add(f"{path}.kind", f"unknown kind {kind!r} for nemesis {nemesis}; known: {', '.join(NEMESIS_KINDS[nemesis])}")
        return None
    raw_targets = data.get("targets", data.get("target", DEFAULT_TARGETS.get(nemesis)))
    if raw_targets is None:
        problems.add(f"{path}.targets", f"needed for {nemesis}; one or more of {', '.join(NETWORK_TARGETS)}")
        targets: tuple[str, ...] = ()
    else:
        targets = _strings(raw_targets, f"{path}.targets", problems)
    _check_targets(nemesis, targets, f"{path}.targets", problems)
    if (nemesis, kind) == ("broker", "partition") and "rabbitmq" in targets:
        problems.add(f"{path}.targets", "a partition cuts one node of the instance's own cluster off from the others "
                                        "(rabbitmq#2), not the whole broker")
    points: tuple[str, ...] = ()
    if kind == "crashpoint":
        raw = data.get("points", "all")
        points = CRASH_POINTS if raw == "all" else _strings(raw, f"{path}.points", problems)
        for p in points:
            if p not in CRASH_POINTS:
                problems.add(f"{path}.points", f"unknown crash point {p!r}; known: {', '.join(CRASH_POINTS)}")
    elif "points" in data:
        problems.add(f"{path}.points", "only a crashpoint fault takes points")
    duration = _range(data.get("duration_s", 2.0), f"{path}.duration_s", problems)
    window = _window(data.get("window", [0.05, 0.85]), f"{path}.window", problems)
    each = data.get("each", False)
    if not isinstance(each, bool):
        problems.add(f"{path}.each", f"must be true or false, not {each!r}")
        each = False
    count = _number(data.get("count", 1), f"{path}.count", problems, integer=True, positive=True)
    if each and "count" in data:
        problems.add(f"{path}.count", "give count or each: true, not both")
    params = _parse_params(nemesis, kind, data.get("params", {}), f"{path}.params", problems)
    if nemesis == "handler_faults":
        _check_handler_faults(targets, params, f"{path}.params", problems)
    if len(problems.items) > before:
        return None
    return FaultSpec(
        nemesis=nemesis, kind=kind, targets=targets, duration_s=duration or (2.0, 2.0), window=window,
        count=count or 1, each=each, points=points, params=params,
    )


def _store_link(target: str) -> bool:
    """`payment/db`, `payment#2/db`: a process's link to PostgreSQL (SAGA_STORE=postgresql://...)."""
    try:
        return target.endswith("/db") and bool(split_replica(target[: -len("/db")]))
    except ValueError:
        return False


def _check_targets(nemesis: str, targets: tuple[str, ...], path: str, problems: _Problems) -> None:
    for target in targets:
        if nemesis == "network" and target not in NETWORK_TARGETS and not _store_link(target):
            problems.add(path, f"unknown network target {target!r}; known: {', '.join(NETWORK_TARGETS)}")
        elif nemesis == "crash" and target not in SERVICES:
            try:  # a replica of a service run with `up --replicas N`
                split_replica(target)
            except ValueError:
                problems.add(path, f"unknown service {target!r}; known: {', '.join(SERVICES)}, or a replica such as payment#2")
        elif nemesis == "handler_faults" and target not in SERVICES:
            problems.add(path, f"unknown service {target!r}; known: {', '.join(SERVICES)}")
        elif nemesis == "broker" and target != "rabbitmq" and not re.fullmatch(r"rabbitmq#[1-9]\d*", target):
            problems.add(path, f"the broker nemesis's target is rabbitmq (or a node of the instance's own "
                               f"cluster, rabbitmq#2), not {target!r}")
        elif nemesis == "duplicates":
            for pattern in target.split(","):
                if not any(fnmatch.fnmatchcase(k, pattern.strip()) for k in ROUTING_KEYS):
                    problems.add(path, f"routing-key pattern {pattern.strip()!r} matches no routing key; "
                                       f"known keys: {', '.join(ROUTING_KEYS)}")


def _check_handler_faults(targets: tuple[str, ...], params: dict[str, Any], path: str, problems: _Problems) -> None:
    """A handler fault fires only on a delivery the service takes: its key must be one it consumes.
    `failures` counts deliveries, so it must be whole."""
    routing_key = params.get("routing_key")
    if isinstance(routing_key, str):
        for target in targets:
            if target in BINDINGS and routing_key not in BINDINGS[target]:
                problems.add(f"{path}.routing_key", f"{target} never receives {routing_key}; it consumes "
                                                    f"{', '.join(BINDINGS[target])}")
    failures = params.get("failures", 1)
    ends = failures if isinstance(failures, list) else [failures]
    if not all(isinstance(n, int) and n >= 1 for n in ends):
        problems.add(f"{path}.failures", f"must be a whole number of deliveries >= 1, or a range of them, not {failures!r}")


def _window(value: Any, path: str, problems: _Problems) -> tuple[float, float]:
    window = _range(value, path, problems)
    if window is None:
        return (0.05, 0.85)
    if window[1] > 1 or window[0] == window[1]:
        problems.add(path, f"must be [start, end] fractions of the load, 0 <= start < end <= 1, not {value!r}")
        return (0.05, 0.85)
    return (float(window[0]), float(window[1]))


def _parse_params(nemesis: str, kind: str, data: Any, path: str, problems: _Problems) -> dict[str, Any]:
    if not isinstance(data, dict):
        problems.add(path, "must be a mapping")
        return {}
    allowed = accepted_params(nemesis, kind)
    params: dict[str, Any] = {}
    for key, value in data.items():
        if key not in allowed:
            problems.add(f"{path}.{key}", f"{nemesis} {kind} takes {', '.join(allowed) or 'no params'}")
            continue
        if key == "new_id":
            if not isinstance(value, bool):
                problems.add(f"{path}.{key}", f"must be true or false, not {value!r}")
            params[key] = value
            continue
        if key in ("stream", "routing_key"):
            if not isinstance(value, str):
                problems.add(f"{path}.{key}", f"must be a string, not {value!r}")
            elif key == "stream" and value not in ("upstream", "downstream", "both"):
                problems.add(f"{path}.{key}", f"must be upstream, downstream or both, not {value!r}")
            elif key == "routing_key" and value not in ROUTING_KEYS:
                problems.add(f"{path}.{key}", f"unknown routing key {value!r}")
            params[key] = value
            continue
        drawn = _range(value, f"{path}.{key}", problems)
        if drawn is None:
            continue
        if key in ("probability", "toxicity") and drawn[1] > 1:
            problems.add(f"{path}.{key}", f"must be between 0 and 1, not {value!r}")
        params[key] = list(drawn) if drawn[0] != drawn[1] else drawn[0]
    return params


def parse_experiment(data: Any, source: str, default_name: str = "") -> Experiment:
    """Plain data -> Experiment, or ExperimentError listing every problem."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise ExperimentError(source, [f"the top level must be a mapping (name, load, faults, ...), not {type(data).__name__}"])
    _unknown_keys(data, ("name", "description", "load", "faults", "quiet", "invariants", "system"), "", problems)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\ "):
        problems.add("name", f"must be a non-empty name without spaces or slashes, not {name!r}")
        name = default_name or "experiment"
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.add("description", "must be text")
        description = ""
    load = parse_load(data.get("load"), problems)
    raw_faults = data.get("faults", [])
    faults: list[FaultSpec] = []
    if not isinstance(raw_faults, list):
        problems.add("faults", "must be a list of fault specs")
    else:
        for i, raw in enumerate(raw_faults):
            spec = parse_fault(raw, f"faults[{i}]", problems)
            if spec is not None:
                faults.append(spec)
    quiet = _parse_quiet(data.get("quiet"), problems)
    invariants = _parse_invariants(data.get("invariants", "all"), problems)
    system = _parse_system(data.get("system"), problems)
    if problems.items:
        raise ExperimentError(source, problems.items)
    return Experiment(name, description, load, tuple(faults), quiet, invariants, source, system)


# Service settings an experiment may need its system started with (issue #16: deadlines, retries).
SYSTEM_SETTINGS = ("SAGA_STEP_TIMEOUT", "SAGA_STEP_TIMEOUT_INVENTORY", "SAGA_STEP_TIMEOUT_PAYMENT",
                   "SAGA_STEP_TIMEOUT_DELIVERY", "PAYMENT_TRANSIENT_FAILURE_RATE", "SAGA_MAX_RETRIES")


def _parse_system(data: Any, problems: _Problems) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.add("system", "must be a mapping of service settings (SAGA_STEP_TIMEOUT: 3, ...)")
        return {}
    _unknown_keys(data, SYSTEM_SETTINGS, "system", problems)
    settings = {}
    for key, value in data.items():
        if key in SYSTEM_SETTINGS and _number(value, f"system.{key}", problems) is not None:
            settings[key] = str(value)
    return settings


def _parse_quiet(data: Any, problems: _Problems) -> QuietSpec:
    if data is None:
        return QuietSpec()
    if not isinstance(data, dict):
        problems.add("quiet", "must be a mapping (deadline_s, settle_s)")
        return QuietSpec()
    _unknown_keys(data, ("deadline_s", "settle_s"), "quiet", problems)
    deadline = _number(data.get("deadline_s", 60.0), "quiet.deadline_s", problems, positive=True)
    settle = _number(data.get("settle_s", 1.0), "quiet.settle_s", problems)
    return QuietSpec(float(deadline or 60.0), float(settle if settle is not None else 1.0))


def _parse_invariants(value: Any, problems: _Problems) -> tuple[str, ...] | None:
    from harness.invariants import INVARIANTS

    if value == "all":
        return None
    names = _strings(value, "invariants", problems)
    for name in names:
        if name not in INVARIANTS:
            problems.add("invariants", f"unknown invariant {name!r}; known: {', '.join(INVARIANTS)}")
    return names or None
