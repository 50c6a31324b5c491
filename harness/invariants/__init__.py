"""The checker: named pure invariants over (History, SystemState), each returning a Verdict.

    verdicts = check_all(history, state, terminal_deadline_s=60, order_ids=my_orders)
    overall(verdicts)  # True | False | "unknown"

Every invariant has the signature `fn(history, state, options=CheckOptions()) -> Verdict`, so the
chaos runner, the BDD steps, the Locust check and the simulator call them the same way. Order-level
invariants honour `order_ids` (a run checks only its own orders on a shared system); stock and
broker invariants are global, because stock and queues are shared.

Operation values the checker reads (harness.model.Operation with f == "place_order"):
`value["order_id"]` on ok (and on info if known) and `value["idempotency_key"]` when one was sent.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

from harness.exits import exit_code_for
from harness.invariants.broker import dead_letters_accounted, queues_drained
from harness.invariants.common import DESCRIPTIONS, MAX_COUNTEREXAMPLES, CheckOptions
from harness.invariants.effects import one_effect_per_cause
from harness.invariants.money import (
    completed_order_charged_once,
    failed_order_not_charged,
    nobody_charged_twice,
)
from harness.invariants.orders import idempotency_key_one_saga, orders_terminal
from harness.invariants.stock import (
    availability_non_negative,
    no_orphan_reservation,
    stock_conserved,
)
from harness.invariants.traces import trace_legal
from harness.model import History, SystemState, Validity, Verdict, overall

Invariant = Callable[[History, SystemState, CheckOptions], Verdict]

INVARIANTS: dict[str, Invariant] = {
    "stock_conserved": stock_conserved,
    "availability_non_negative": availability_non_negative,
    "no_orphan_reservation": no_orphan_reservation,
    "completed_order_charged_once": completed_order_charged_once,
    "failed_order_not_charged": failed_order_not_charged,
    "nobody_charged_twice": nobody_charged_twice,
    "orders_terminal": orders_terminal,
    "trace_legal": trace_legal,
    "idempotency_key_one_saga": idempotency_key_one_saga,
    "queues_drained": queues_drained,
    "dead_letters_accounted": dead_letters_accounted,
    "one_effect_per_cause": one_effect_per_cause,
}

__all__ = [
    "DESCRIPTIONS",
    "INVARIANTS",
    "MAX_COUNTEREXAMPLES",
    "CheckOptions",
    "check_all",
    "exit_code",
    "summary",
    "verdicts_to_dict",
]


class UnknownInvariant(ValueError):
    """A name that is not in INVARIANTS (a typo in an experiment file): bad usage, not a crash."""


def check_all(
    history: History,
    state: SystemState,
    *,
    terminal_deadline_s: float = 60.0,
    order_ids: Iterable[str] | None = None,
    expected_dead_letters: Iterable[str] = (),
    only: Iterable[str] | None = None,
) -> list[Verdict]:
    """Run the named invariants (all by default, in registry order) and return their verdicts."""
    names = list(INVARIANTS) if only is None else list(only)
    unknown = [n for n in names if n not in INVARIANTS]
    if unknown:
        raise UnknownInvariant(f"unknown invariant(s) {', '.join(unknown)}; known: {', '.join(INVARIANTS)}")
    options = CheckOptions(
        terminal_deadline_s=terminal_deadline_s,
        order_ids=frozenset(order_ids) if order_ids is not None else None,
        expected_dead_letters=frozenset(expected_dead_letters),
    )
    # The checks allocate millions of short-lived, acyclic objects on a big history; the cyclic
    # collector would rescan the whole history each time (about a third of the run) for nothing.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return [INVARIANTS[name](history, state, options) for name in names]
    finally:
        if was_enabled:
            gc.enable()


def verdicts_to_dict(verdicts: list[Verdict]) -> dict[str, Any]:
    """JSON-ready: the overall validity and every verdict (for results.json)."""
    return {"valid": overall(verdicts), "invariants": [v.to_dict() for v in verdicts]}


def exit_code(verdicts: list[Verdict]) -> int:
    """Jepsen's codes: 0 valid, 1 invalid, 2 unknown."""
    validity: Validity = overall(verdicts)
    return exit_code_for(validity)


def summary(verdicts: list[Verdict], *, examples: int = 3) -> str:
    """A few lines for a terminal: one per invariant, the first counterexamples under failures."""
    label = {True: "valid  ", False: "INVALID", "unknown": "unknown"}
    lines = []
    for v in verdicts:
        line = f"{label[v.valid]}  {v.name} (checked {v.checked})"
        if v.note:
            line += f": {v.note}"
        lines.append(line)
        for example in v.counterexamples[:examples] if v.valid is not True else ():
            lines.append(f"           {example}")
    lines.append(f"overall: {label[overall(verdicts)].strip()}")
    return "\n".join(lines)
