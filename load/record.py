"""What one load run did, in the harness's own shapes, saved as JSON for the consistency check.

The Locust process records; `python -m load.verdict record.json` judges (in a process of its
own, free of gevent). The file is also the replayable evidence: run the check again on it later.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.model import FaultEvent, History, Operation
from system.contracts import DEFAULT_PORTS


@dataclass
class Targets:
    """Where the check reads the final state."""

    order: str
    inventory: str
    payment: str
    delivery: str
    amqp_url: str | None  # None: skip the broker's invariants (queues, dead letters)


def derive_targets(
    host: str,
    *,
    inventory: str = "",
    payment: str = "",
    delivery: str = "",
    amqp_url: str = "",
    skip_broker: bool = False,
) -> Targets:
    """The URLs given, else the order host's name on the ports that follow the order port, as
    everywhere in this project (8001 -> 8002-8004; an instance's base+1 -> base+2..)."""
    parts = urlsplit(host if "://" in host else f"http://{host}")
    hostname = parts.hostname or "127.0.0.1"
    given = {"inventory": inventory, "payment": payment, "delivery": delivery}

    def url(service: str) -> str:
        if given[service]:
            return given[service].rstrip("/")
        offset = DEFAULT_PORTS[service] - DEFAULT_PORTS["order"]
        port = parts.port + offset if parts.port else DEFAULT_PORTS[service]
        return f"{parts.scheme or 'http'}://{hostname}:{port}"

    amqp = None if skip_broker else (amqp_url or f"amqp://guest:guest@{hostname}:5672/")
    return Targets(host.rstrip("/"), url("inventory"), url("payment"), url("delivery"), amqp)


@dataclass
class RunRecord:
    run_id: str
    seed: int
    targets: Targets
    mix: str = ""
    started_at: float = field(default_factory=time.time)
    stopped_at: float | None = None
    deadline_s: float = 60.0  # every accepted order must be terminal this long after stop/heal
    operations: list[Operation] = field(default_factory=list)
    faults: list[FaultEvent] = field(default_factory=list)
    healed_at: float | None = None
    style: str = "orchestration"  # the saga style of the system under load (SAGA_STYLE, --saga-style)
    chaos_plan: list[dict[str, Any]] = field(default_factory=list)

    # -- what the checker needs ---------------------------------------------------------------
    def order_ids(self) -> list[str]:
        """Every order this run was told about (ok replies, and info ops that learnt an id)."""
        seen: dict[str, None] = {}
        for op in self.operations:
            order_id = op.value.get("order_id")
            if op.f == "place_order" and op.type in ("ok", "info") and order_id:
                seen[str(order_id)] = None
        return list(seen)

    def idempotency_keys(self) -> set[str]:
        return {str(op.value["idempotency_key"]) for op in self.operations if op.value.get("idempotency_key")}

    def history(self) -> History:
        return History(operations=list(self.operations), faults=list(self.faults), healed_at=self.healed_at,
                       style=self.style)

    def settle_from(self) -> float:
        """When the clock for 'terminal within the deadline' starts: the later of stop and heal."""
        return max(t for t in (self.stopped_at, self.healed_at, self.started_at) if t is not None)

    # -- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        data = dict(data)
        data["targets"] = Targets(**data["targets"])
        data["operations"] = [Operation(**op) for op in data.get("operations", [])]
        data["faults"] = [FaultEvent(**f) for f in data.get("faults", [])]
        return cls(**data)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        return cls.from_json(json.loads(Path(path).read_text()))
