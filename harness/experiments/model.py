"""An experiment: the load, the faults, the quiet period and the invariants to check.

Plain frozen data; validation.py builds it from YAML-shaped data and says what is wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness.exits import UsageError

MIX_KINDS = ("success", "payment_failure", "delivery_failure", "insufficient_inventory", "idempotent_retry", "dice",
             # the scarce product at its boundary (harness.stock_boundary): a few units, dice;
             # exactly the units left; one unit more than is left
             "scarce_small", "scarce_exact", "scarce_over")
DEFAULT_MIX = {"success": 60, "payment_failure": 12, "delivery_failure": 8, "insufficient_inventory": 5, "idempotent_retry": 15}

Range = tuple[float, float]  # a value drawn uniformly (ints if both ends are ints) per fault


class ExperimentError(UsageError, ValueError):
    """The experiment cannot be run as written. `problems` lists every reason, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"{source}: {problems[0]}")
        else:
            super().__init__(f"{source}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class LoadSpec:
    orders: int = 100
    rate: float = 10.0  # orders per second, across all workers
    workers: int = 4
    timeout_s: float = 5.0  # client HTTP timeout: longer waits end as `info`
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    # Keep placing orders (same seeded stream) until the fault plan is played out, so every
    # fault meets traffic, up to max_orders (default 5 x orders).
    extend_while_faults: bool = True
    max_orders: int | None = None

    @property
    def duration_s(self) -> float:
        return self.orders / self.rate

    @property
    def order_cap(self) -> int:
        return self.max_orders if self.max_orders is not None else 5 * self.orders


@dataclass(frozen=True)
class FaultSpec:
    nemesis: str
    kind: str
    targets: tuple[str, ...]
    duration_s: Range
    window: tuple[float, float] = (0.05, 0.85)  # fractions of the planned load duration
    count: int = 1
    each: bool = False  # one fault per target (x point): the crash loop
    points: tuple[str, ...] = ()  # crash points, for kind crashpoint
    params: dict[str, Any] = field(default_factory=dict)  # value, or [low, high] drawn per fault


@dataclass(frozen=True)
class QuietSpec:
    deadline_s: float = 60.0  # after heal: every order terminal and every backlog empty by then
    settle_s: float = 1.0  # quiescence must still hold this much later (late duplicates)


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str = ""
    load: LoadSpec = field(default_factory=LoadSpec)
    faults: tuple[FaultSpec, ...] = ()
    quiet: QuietSpec = field(default_factory=QuietSpec)
    invariants: tuple[str, ...] | None = None  # None: all of them
    source: str = ""
    # Settings the services must run with (SAGA_STEP_TIMEOUT, ...): a local system this run
    # starts, and the zoo's fresh instances, get them in their environment (issue #16).
    system: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_load(self, orders: int | None = None, rate: float | None = None) -> Experiment:
        """The same experiment at another size (the command line's --orders / --rate)."""
        changes: dict[str, Any] = {}
        if orders is not None:
            changes["orders"] = orders
        if rate is not None:
            changes["rate"] = rate
        return replace(self, load=replace(self.load, **changes)) if changes else self

    def needs(self, nemesis: str, kind: str | None = None) -> bool:
        return any(f.nemesis == nemesis and (kind is None or f.kind == kind) for f in self.faults)


def experiment_from_dict(data: dict[str, Any]) -> Experiment:
    """Rebuild an Experiment from Experiment.to_dict() (a stored run's config.json)."""
    load = LoadSpec(**data["load"])
    faults = tuple(
        FaultSpec(**{**f, "targets": tuple(f["targets"]), "points": tuple(f["points"]),
                     "duration_s": tuple(f["duration_s"]), "window": tuple(f["window"])})
        for f in data.get("faults", ())
    )
    invariants = tuple(data["invariants"]) if data.get("invariants") is not None else None
    return Experiment(data["name"], data.get("description", ""), load, faults,
                      QuietSpec(**data.get("quiet", {})), invariants, data.get("source", ""),
                      dict(data.get("system") or {}))
