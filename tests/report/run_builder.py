"""A synthetic, consistent run directory for the report tests.

Twelve orders placed 1 s apart by three client processes: most complete, one of each failure
kind, one still in flight at the end. Two fault windows (a partition and a duplicate storm), and
results with one invalid invariant whose counterexample carries HTML special characters.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.model import FaultEvent, Operation, RecordedMessage, Verdict
from system.contracts import LEGAL_TRACES

T0 = 1_700_000_000.0
SEED = 4242
NAME = "mixed-small"
NASTY = "<script>alert(\"pwned\")</script> & 'quoted'"
STEP = 0.05  # seconds between one order's bus messages
OUTCOME_PLAN = ["completed"] * 8 + ["payment_failed", "delivery_failed", "insufficient_inventory"]
IN_FLIGHT = "order-in-flight"
FAULTS = [
    FaultEvent("partition", "order", T0 + 3.0, T0 + 6.0, {"proxy": "amqp_order"}),
    FaultEvent("duplicate", "payment.process", T0 + 8.0, T0 + 9.5, {"probability": 0.5}),
]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def orders_plan(count: int | None = None) -> list[tuple[str, float, str]]:
    """(order_id, invoke time, outcome); the last order never finishes."""
    plan = (
        OUTCOME_PLAN if count is None else (OUTCOME_PLAN * (count // len(OUTCOME_PLAN) + 1))[:count]
    )
    rows = [(f"order-{i:04d}", T0 + 0.5 + i, outcome) for i, outcome in enumerate(plan)]
    return rows + [(IN_FLIGHT, T0 + 0.5 + len(plan), "in_flight")]


def build_run(
    root: Path, *, orders: int | None = None, verdicts: list[Verdict] | None = None
) -> Path:
    run_dir = root / f"20231114T221320-{NAME}"
    run_dir.mkdir(parents=True)
    messages, operations, state_orders = [], [], []
    for i, (order_id, invoked, outcome) in enumerate(orders_plan(orders)):
        process = i % 3
        operations.append(
            asdict(Operation(process, "invoke", "place_order", invoked, {"quantity": 1}))
        )
        operations.append(
            asdict(Operation(process, "ok", "place_order", invoked + 0.02, {"order_id": order_id}))
        )
        trace = LEGAL_TRACES.get(outcome, LEGAL_TRACES["completed"][:3])
        times = [invoked + 0.03 + STEP * k for k in range(len(trace))]
        for k, (key, t) in enumerate(zip(trace, times, strict=True)):
            messages.append(
                {"kind": "message"}
                | asdict(RecordedMessage(t, key, f"{order_id}-m{k}", order_id, payload={"n": k}))
            )
        status = {"completed": "completed", "in_flight": "payment_completed"}.get(outcome, "failed")
        state_orders.append(
            {
                "order_id": order_id,
                "status": status,
                "failure_reason": None if status != "failed" else outcome,
                "history": [
                    {"event": key, "at": iso(t)} for key, t in zip(trace, times, strict=True)
                ],
            }
        )
    finished = max(m["time"] for m in messages) + 1.0
    verdicts = verdicts if verdicts is not None else default_verdicts()
    results = {
        "name": NAME,
        "seed": SEED,
        "valid": False,
        "verdicts": [v.to_dict() for v in verdicts],
        "started": T0,
        "finished": finished,
        "wall_s": finished - T0,
        "counts": {"orders": len(state_orders), "faults": len(FAULTS), "duplicates_delivered": 3},
    }
    config = {
        "experiment": {"name": NAME, "orders": len(state_orders)},
        "seed": SEED,
        "target": {"kind": "local"},
    }
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (run_dir / "schedule.json").write_text(
        json.dumps([asdict(f) for f in FAULTS]), encoding="utf-8"
    )
    _write_jsonl(run_dir / "history.jsonl", messages)
    _write_jsonl(run_dir / "operations.jsonl", operations)
    _write_jsonl(run_dir / "faults.jsonl", [asdict(f) for f in FAULTS])
    state = {
        "orders": state_orders,
        "inventory": [],
        "reservations": [],
        "payments": [],
        "deliveries": [],
        "queues": {"saga.order": 0},
        "dead_letters": [],
        "read_at": finished,
    }
    (run_dir / "state.json").write_text(json.dumps(state), encoding="utf-8")
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return run_dir


def default_verdicts() -> list[Verdict]:
    return [
        Verdict("stock_conserved", True, "available + reserved == initial", checked=3),
        Verdict(
            "nobody_charged_twice",
            False,
            "no order has two completed payments",
            checked=12,
            counterexamples=[
                {"order_id": "order-0003", "payments": ["p-1", "p-2"], "why": NASTY},
                {"order_id": "order-0005", "net_charge": 20.0, "amount": 10.0},
            ],
        ),
        Verdict(
            "orders_terminal",
            "unknown",
            "every order terminal",
            checked=12,
            note=f"{IN_FLIGHT} still in flight",
        ),
    ]
