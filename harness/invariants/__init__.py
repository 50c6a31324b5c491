"""The checker: named pure invariants over (History, SystemState), each returning a Verdict.

    verdicts = check_all(history, state, terminal_deadline_s=60, order_ids=my_orders)
    overall(verdicts)  # True | False | "unknown"

Every invariant has the signature `fn(history, state, options=CheckOptions()) -> Verdict`, so the
chaos runner, the BDD steps, the Locust check and the simulator call them the same way. Order-level
invariants honour `order_ids` (a run checks only its own orders on a shared system); stock and
broker invariants are global, because stock and queues are shared.

Operation values the checker reads (harness.model.Operation with f == "place_order"):
`value["order_id"]` on ok (and on info if known), `value["idempotency_key"]` when one was sent,
and the request body fields `user_id`, `product_id`, `quantity`, `amount` and `force`
(on the invocation or merged into its completion).

An invariant that had nothing to look at says "not_applicable" (never "valid"); one that raises
is "unknown" with the exception, and the others still judge.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

from harness.exits import exit_code_for
from harness.invariants.agreement import cross_service_agreement
from harness.invariants.answers import command_answered
from harness.invariants.broker import dead_letters_accounted, queues_drained
from harness.invariants.causality import bus_causality
from harness.invariants.common import DESCRIPTIONS, MAX_COUNTEREXAMPLES, CheckOptions
from harness.invariants.effects import one_effect_per_cause
from harness.invariants.ground_truth import client_ground_truth
from harness.invariants.money import (
    completed_order_charged_once,
    failed_order_not_charged,
    nobody_charged_twice,
)
from harness.invariants.orders import idempotency_key_one_saga, orders_terminal
from harness.invariants.outcomes import outcome_justified
from harness.invariants.publishers import publisher_owns_key
from harness.invariants.shared import sharing
from harness.invariants.stock import (
    availability_non_negative,
    no_orphan_reservation,
    stock_conserved,
)
from harness.invariants.timeouts import (
    bounded_termination,
    no_effect_after_timeout,
    retries_bounded,
)
from harness.invariants.traces import trace_legal
from harness.model import History, SystemState, Validity, Verdict, overall, overall_note
from system.decisions import DecisionConfig

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
    "client_ground_truth": client_ground_truth,
    "cross_service_agreement": cross_service_agreement,
    "outcome_justified": outcome_justified,
    "bus_causality": bus_causality,
    "command_answered": command_answered,
    "publisher_owns_key": publisher_owns_key,
    "no_effect_after_timeout": no_effect_after_timeout,
    "bounded_termination": bounded_termination,
    "retries_bounded": retries_bounded,
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
    decisions: DecisionConfig | None = None,
    complete_history: bool = False,
) -> list[Verdict]:
    """Run the named invariants (all by default, in registry order) and return their verdicts.

    `decisions`: the system's dice (None: outcome_justified cannot judge unforced outcomes).
    `complete_history`: the history's client placed every order on the system.
    """
    names = list(INVARIANTS) if only is None else list(only)
    unknown = [n for n in names if n not in INVARIANTS]
    if unknown:
        raise UnknownInvariant(f"unknown invariant(s) {', '.join(unknown)}; known: {', '.join(INVARIANTS)}")
    options = CheckOptions(
        terminal_deadline_s=terminal_deadline_s,
        order_ids=frozenset(order_ids) if order_ids is not None else None,
        expected_dead_letters=frozenset(expected_dead_letters),
        decisions=decisions,
        complete_history=complete_history,
    )
    # The checks allocate millions of short-lived, acyclic objects on a big history; the cyclic
    # collector would rescan the whole history each time (about a third of the run) for nothing.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with sharing():
            return [check_safely(name, history, state, options) for name in names]
    finally:
        if was_enabled:
            gc.enable()


def check_safely(name: str, history: History, state: SystemState, options: CheckOptions) -> Verdict:
    """Jepsen's check-safe: an invariant that raises is unknown, with why; the others still judge."""
    try:
        return INVARIANTS[name](history, state, options)
    except Exception as exc:  # noqa: BLE001 - any crash of one check is that check's unknown
        return Verdict(name, "unknown", DESCRIPTIONS[name], note=f"the check raised {type(exc).__name__}: {exc}")


def verdicts_to_dict(verdicts: list[Verdict]) -> dict[str, Any]:
    """JSON-ready: the overall validity (and why, when nothing was checked) and every verdict."""
    result: dict[str, Any] = {"valid": overall(verdicts), "invariants": [v.to_dict() for v in verdicts]}
    if note := overall_note(verdicts):
        result["note"] = note
    return result


def exit_code(verdicts: list[Verdict]) -> int:
    """Jepsen's codes: 0 valid, 1 invalid, 2 unknown."""
    validity: Validity = overall(verdicts)
    return exit_code_for(validity)


def summary(verdicts: list[Verdict], *, examples: int = 3) -> str:
    """A few lines for a terminal: one per invariant, the first counterexamples under failures."""
    label = {True: "valid  ", False: "INVALID", "unknown": "unknown", "not_applicable": "n/a    "}
    lines = []
    for v in verdicts:
        line = f"{label[v.valid]}  {v.name} (checked {v.checked})"
        if v.valid == "not_applicable":
            line += ": not applicable, nothing to check" + (f" ({v.note})" if v.note else "")
        elif v.note:
            line += f": {v.note}"
        lines.append(line)
        for example in v.counterexamples[:examples] if v.valid is not True else ():
            lines.append(f"           {example}")
    note = overall_note(verdicts)
    lines.append(f"overall: {label[overall(verdicts)].strip()}" + (f" ({note})" if note else ""))
    return "\n".join(lines)
