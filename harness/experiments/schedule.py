"""The seeded plans: which faults at which offsets with which parameters, and which orders.

Pure functions of (experiment, seed): the same seed gives the same plan, byte for byte, which is
what `--seed` replays. Each fault spec and each order draws from its own generator
(`Random(f"{seed}:...")`, string seeds hash the same in every process), so adding a fault spec or
placing more orders never changes what the others drew.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

from harness.experiments.model import Experiment, FaultSpec, Range
from harness.nemesis.base import PlannedFault
from harness.stock_boundary import (
    EXACT,
    GIVE_BACK,
    ONE_MORE,
    SCARCE_PRODUCT,
    SMALL_QUANTITIES,
    boundary_quantity,
)

# Network and duplicate windows must end before the next one in their lane starts; crash and
# broker durations are down times, and the lane simply waits for them.
_WINDOWED = ("network", "duplicates", "handler_faults")


def draw(value: Range | list | Any, rng: random.Random) -> Any:
    """A [low, high] range -> a uniform draw (int if both ends are ints); anything else as is."""
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        low, high = value
        if isinstance(low, int) and isinstance(high, int):
            return rng.randint(low, high)
        return round(rng.uniform(float(low), float(high)), 3)
    return value


def _occurrences(spec: FaultSpec, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(target, extra params) for each fault the spec asks for."""
    if spec.kind == "crashpoint":
        combos = [(t, {"point": p}) for t, p in itertools.product(spec.targets, spec.points)]
    else:
        combos = [(t, {}) for t in spec.targets]
    if spec.each:
        rng.shuffle(combos)
        return combos
    return [rng.choice(combos) for _ in range(spec.count)]


# Process control is serialised: two crash faults at once could both restart one service, and a
# kill during a crash-point wait would pass for the crash point. One lane per such nemesis.
# Handler faults too: a window's heal clears everything armed on its service, and two windows
# armed at once on one service could add up to more failures per message than either planned.
_ONE_LANE = ("crash", "broker", "handler_faults")


def lane_of(experiment: Experiment, index: int) -> int:
    nemesis = experiment.faults[index].nemesis
    if nemesis in _ONE_LANE:
        return next(i for i, f in enumerate(experiment.faults) if f.nemesis == nemesis)
    return index


def plan_faults(experiment: Experiment, seed: int) -> list[PlannedFault]:
    """Each spec's faults are spread over the spec's window of the planned load; specs run side by
    side, except crash and broker faults, which take turns (see lane_of)."""
    load_s = experiment.load.duration_s
    plan: list[PlannedFault] = []
    for index, spec in enumerate(experiment.faults):
        rng = random.Random(f"{seed}:faults:{index}")
        lane = lane_of(experiment, index)
        occurrences = _occurrences(spec, rng)
        start, end = spec.window[0] * load_s, spec.window[1] * load_s
        slot = (end - start) / len(occurrences)
        for k, (target, extra) in enumerate(occurrences):
            duration = float(draw(spec.duration_s, rng))
            if spec.nemesis in _WINDOWED:
                duration = min(duration, round(0.9 * slot, 3))
            slack = max(0.0, slot - duration) if spec.nemesis in _WINDOWED else slot * 0.5
            at = start + k * slot + rng.uniform(0, slack)
            params = {name: draw(value, rng) for name, value in sorted(spec.params.items())}
            plan.append(
                PlannedFault(
                    id=0, nemesis=spec.nemesis, kind=spec.kind, target=target, at_s=round(at, 3),
                    duration_s=round(duration, 3), params={**extra, **params}, lane=lane,
                )
            )
    plan.sort(key=lambda f: (f.at_s, f.lane))
    return [PlannedFault(**{**asdict(f), "id": i}) for i, f in enumerate(plan)]


# --- orders -------------------------------------------------------------------------------------
_SUCCEED = {"payment": "succeed", "delivery": "succeed"}
FORCE_BY_KIND: dict[str, dict[str, str] | None] = {
    "success": _SUCCEED,
    "payment_failure": {"payment": "fail"},
    "delivery_failure": {"payment": "succeed", "delivery": "fail"},
    "insufficient_inventory": None,
    "idempotent_retry": _SUCCEED,
    "dice": None,  # the services' seeded dice decide
    "scarce_small": None,
    "scarce_exact": GIVE_BACK,
    "scarce_over": None,
}
SCARCE_QUANTITY = 1_000  # product_3 opens with 50 units: this never fits
STOCK_OFFSETS = {"scarce_exact": EXACT, "scarce_over": ONE_MORE}


@dataclass(frozen=True)
class OrderPlan:
    index: int
    kind: str
    product_id: str
    quantity: int
    amount: float
    user_id: str
    force: dict[str, str] | None
    idempotency_key: str | None
    # A boundary order: its quantity is the stock available just before sending, plus this.
    stock_offset: int | None = None
    stock_seen: int | None = None  # the available stock it was sized against, once it was

    def at_stock(self, available: int) -> OrderPlan:
        """The boundary order sized against the stock just read (other orders: unchanged)."""
        if self.stock_offset is None:
            return self
        return replace(self, quantity=boundary_quantity(available, self.stock_offset), stock_seen=available)

    def request_value(self) -> dict[str, Any]:
        """What the operation log records as the request."""
        value = {"kind": self.kind, "index": self.index, "product_id": self.product_id,
                 "quantity": self.quantity, "amount": self.amount, "user_id": self.user_id}
        if self.force:
            value["force"] = self.force
        if self.idempotency_key:
            value["idempotency_key"] = self.idempotency_key
        if self.stock_seen is not None:
            value["stock_seen"] = self.stock_seen
        return value


def plan_order(seed: int, index: int, mix: dict[str, float], run_tag: str) -> OrderPlan:
    """The index-th order of the seeded stream. `run_tag` only names users and keys, so two runs
    with one seed place the same orders while a shared system can still tell them apart."""
    rng = random.Random(f"{seed}:order:{index}")
    kinds = [k for k, w in mix.items() if w > 0]
    kind = rng.choices(kinds, weights=[mix[k] for k in kinds])[0]
    if kind == "insufficient_inventory":
        product, quantity = SCARCE_PRODUCT, SCARCE_QUANTITY
    elif kind == "scarce_small":
        product, quantity = SCARCE_PRODUCT, rng.randint(*SMALL_QUANTITIES)
    elif kind in STOCK_OFFSETS:
        product, quantity = SCARCE_PRODUCT, 1  # sized at sending time: at_stock()
    else:
        product, quantity = rng.choice(("product_1", "product_2")), rng.randint(1, 3)
    amount = round(rng.uniform(5, 200), 2)
    key = f"{run_tag}-key-{index}" if kind == "idempotent_retry" else None
    return OrderPlan(index, kind, product, quantity, amount, f"{run_tag}-u{index}", FORCE_BY_KIND[kind], key,
                     STOCK_OFFSETS.get(kind))


def schedule_document(experiment: Experiment, seed: int, plan: list[PlannedFault]) -> dict[str, Any]:
    """schedule.json: the plan plus what it was planned against."""
    return {
        "seed": seed,
        "experiment": experiment.name,
        "planned_load_s": round(experiment.load.duration_s, 3),
        "faults": [f.to_dict() for f in plan],
    }
