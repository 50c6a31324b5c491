"""What every invariant shares: its name and description, options, scope and the findings cap.

Invariants are pure: they read a History and a SystemState and return a Verdict. The state is
plain JSON as the services' HTTP APIs return it, so every field is read defensively (`.get`):
a checker that crashes on a half-read state tells the user less than one that says "unknown".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness.invariants.shared import memo
from harness.model import (
    History,
    Operation,
    OpType,
    RecordedMessage,
    SystemState,
    Validity,
    Verdict,
)
from system.contracts import (
    INVENTORY_FAILED,
    INVENTORY_RELEASED,
    INVENTORY_RESERVED,
    REPLIES,
)
from system.decisions import DecisionConfig
from system.styles import ORCHESTRATION, Style, style_named

# The names appear in reports and experiment files: keep them stable.
DESCRIPTIONS: dict[str, str] = {
    "stock_conserved": "per product, available + reserved == initial and reserved equals the held reservations",
    "availability_non_negative": "no product has negative available or reserved stock",
    "no_orphan_reservation": "no reservation is held for a failed or unknown order; a completed order holds exactly its own",
    "completed_order_charged_once": "a completed order has exactly one net charge equal to its amount and one scheduled delivery",
    "failed_order_not_charged": "a failed (or unknown) order has no net charge and no scheduled delivery",
    "nobody_charged_twice": "no order has two completed payments, or a net charge above its amount or below zero",
    "orders_terminal": "every accepted order exists and is completed or failed within the deadline after heal",
    "trace_legal": "every order's history is a legal saga trace and matches what the bus carried for it",
    "idempotency_key_one_saga": "one Idempotency-Key, one order: same order_id for every reply, one order in state",
    "queues_drained": "the work queues saga.<service> are empty at the end",
    "dead_letters_accounted": "every dead letter has a reason and was expected by the test",
    "one_effect_per_cause": "each message causes each kind of effect once: re-publishes reuse the same message_id",
    "client_ground_truth": "every acknowledged order exists exactly as the client asked (user, product, quantity, amount); none exists that nobody placed",
    "cross_service_agreement": "payments, reservations and deliveries agree with their order and opening stock with the catalog",
    "outcome_justified": "a refusal is justified by the stock at that moment, a payment or delivery outcome by the dice or the force field",
    "bus_causality": "every message but a saga's first names a recorded cause of the same order that leads to it",
    "command_answered": "every delivered command got its reply or a dead letter with a reason, within the deadline",
    "publisher_owns_key": "every bus message names its publisher (AMQP app_id), and that service owns its routing key in the run's saga style",
    "no_effect_after_timeout": "a saga that timed out leaves no net charge, no reserved stock and no scheduled delivery",
    "bounded_termination": "with a deadline on every step, every order ends within the deadlines' sum plus a margin",
    "retries_bounded": "a transient payment error is retried at most SAGA_MAX_RETRIES times, spacing non-decreasing and capped, never into a dead letter",
}

MAX_COUNTEREXAMPLES = 20
CENT = 0.005  # amounts are money with two decimals: closer than half a cent is equal

TERMINAL = ("completed", "failed")
STOCK_REPLIES = (INVENTORY_RESERVED, INVENTORY_RELEASED, INVENTORY_FAILED)  # what changes or refuses stock


@dataclass(frozen=True)
class CheckOptions:
    """Knobs shared by all invariants; the defaults suit a run on its own system."""

    terminal_deadline_s: float = 60.0
    # Restrict order-level checks to these orders (plus those the history's operations name),
    # so a run can check only its own orders on a shared system. None: every order.
    order_ids: frozenset[str] | None = None
    # message_ids a test dead-lettered on purpose.
    expected_dead_letters: frozenset[str] = frozenset()
    # The system's dice (seed and failure rates); None: outcome_justified cannot judge the dice.
    decisions: DecisionConfig | None = None
    # True: the history's client placed every order on the system (a fresh instance, the
    # simulator), so an order nobody placed is a violation and the stock replay starts from the catalog.
    complete_history: bool = False


DEFAULT_OPTIONS = CheckOptions()


class Findings:
    """Collects counterexamples, keeps the first few, counts the rest."""

    def __init__(self, name: str, cap: int = MAX_COUNTEREXAMPLES) -> None:
        self.name = name
        self.cap = cap
        self.invalid: list[dict[str, Any]] = []
        self.invalid_total = 0
        self.unsure: list[dict[str, Any]] = []
        self.unsure_total = 0
        self.notes: list[str] = []

    def violation(self, **example: Any) -> None:
        self.invalid_total += 1
        if len(self.invalid) < self.cap:
            self.invalid.append(example)

    def doubt(self, **example: Any) -> None:
        """Not shown wrong, not shown right (still in flight, or not read)."""
        self.unsure_total += 1
        if len(self.unsure) < self.cap:
            self.unsure.append(example)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def verdict(self, checked: int) -> Verdict:
        valid: Validity
        if self.invalid_total:
            valid, shown, total = False, self.invalid, self.invalid_total
        elif self.unsure_total:
            valid, shown, total = "unknown", self.unsure, self.unsure_total
        elif checked:
            valid, shown, total = True, [], 0
        else:
            # Nothing looked at is nothing shown right: never "valid".
            valid, shown, total = "not_applicable", [], 0
        notes = list(self.notes)
        if valid is False and self.unsure_total:
            notes.append(f"{self.unsure_total} more undecided (not shown)")
        if total > len(shown):
            notes.insert(0, f"{total} counterexamples, first {len(shown)} shown")
        return Verdict(
            name=self.name,
            valid=valid,
            description=DESCRIPTIONS[self.name],
            checked=checked,
            counterexamples=list(shown),
            note="; ".join(notes),
        )


def same_money(a: float, b: float) -> bool:
    return abs(a - b) < CENT


def net_charge(payment: dict[str, Any]) -> float:
    """What the customer is out of pocket for one payment row (failed: nothing)."""
    if payment.get("status") in ("failed", "cancelled"):  # cancelled: a tombstone, never charged
        return 0.0
    return round(float(payment.get("amount") or 0.0) - float(payment.get("refunded_amount") or 0.0), 2)


def group_by_order(rows: list[dict[str, Any]], scope: frozenset[str] | None) -> dict[str, list[dict[str, Any]]]:
    def compute() -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            order_id = row.get("order_id")
            if order_id is not None and (scope is None or order_id in scope):
                grouped[order_id].append(row)
        return dict(grouped)

    return memo(("group_by_order", id(rows), id(scope)), compute)


def in_scope(order_id: str, scope: frozenset[str] | None) -> bool:
    return scope is None or order_id in scope


def orders_by_id(state: SystemState) -> dict[str, dict[str, Any]]:
    return memo(("orders_by_id", id(state)),
                lambda: {o["order_id"]: o for o in state.orders if o.get("order_id") is not None})


@dataclass(frozen=True)
class BusIndex:
    """The recorded bus, one entry per message_id: its first recording (redeliveries share the id),
    in first-seen order, and the recordings that reused an id under another routing key."""

    first: dict[str, RecordedMessage]
    conflicts: list[tuple[RecordedMessage, str]]  # (recording, the routing key the id was first seen with)
    # The first recordings that several checks walk on their own, in first-seen order.
    commands: list[RecordedMessage]
    stock_replies: list[RecordedMessage]  # inventory.reserved / released / failed
    by_order: dict[str, list[RecordedMessage]]  # every first recording, per order_id ("" : none named)


def style_of(history: History) -> Style:
    """The saga style the history's system ran (system/styles.py): what its bus may carry."""
    return style_named(history.style)


def fault_messages(history: History) -> dict[str, str]:
    """Messages that are the fault, not the system's own steps: the copies a nemesis injected
    under new ids (-> the original), and the participants' answers to those copies (-> the copy
    answered). A participant owes every command it gets an answer, so answering a copy is right;
    an order service that acts on a copied reply is not, so commands are never discounted.
    In a choreography every participant reacts to events, so a copy's effects run on to the end
    of the saga, each state-idempotent: everything caused by a copy, transitively, is the fault."""

    def compute() -> dict[str, str]:
        injected = history.injected
        if not injected:
            return {}
        found = dict(injected)
        transitive = history.style != ORCHESTRATION
        for message_id, m in bus_index(history).first.items():  # first-seen order: causes come first
            cause = m.causation_id
            if message_id in injected or cause is None:
                continue
            if (cause in injected and m.routing_key in REPLIES) or (transitive and cause in found):
                found[message_id] = cause
        return found

    return memo(("fault_messages", id(history)), compute)


def bus_index(history: History) -> BusIndex:
    def compute() -> BusIndex:
        first: dict[str, RecordedMessage] = {}
        conflicts: list[tuple[RecordedMessage, str]] = []
        commands: list[RecordedMessage] = []
        stock_replies: list[RecordedMessage] = []
        by_order: dict[str, list[RecordedMessage]] = defaultdict(list)
        triggers = frozenset(style_of(history).triggers)  # in a choreography inventory.reserved is both
        keep_first = first.setdefault
        for m in history.messages:
            seen = keep_first(m.message_id, m)
            if seen is not m:
                if seen.routing_key != m.routing_key:
                    conflicts.append((m, seen.routing_key))
                continue
            by_order[m.order_id].append(m)
            if m.routing_key in triggers:
                commands.append(m)
            if m.routing_key in STOCK_REPLIES:
                stock_replies.append(m)
        return BusIndex(first, conflicts, commands, stock_replies, dict(by_order))

    return memo(("bus_index", id(history)), compute)


def op_key(value: dict[str, Any]) -> str | None:
    key = value.get("idempotency_key")
    return str(key) if key else None


PLACE_ORDER = "place_order"


@dataclass(frozen=True)
class Placement:
    """One place_order as the client saw it end: how, what it sent, and the order it was told of."""

    type: OpType  # ok | fail | info (an invocation that never completed counts as info)
    request: dict[str, Any]
    order_id: str | None
    key: str | None
    time: float  # when it ended (an invocation that never completed: when it began)


def placements(history: History) -> list[Placement]:
    """Pair each place_order invocation with its completion (Jepsen: per process, in order)."""

    def compute() -> list[Placement]:
        open_: dict[int, Operation] = {}
        done: list[Placement] = []
        for op in history.operations:
            if op.f != PLACE_ORDER:
                continue
            if op.type == "invoke":
                open_[op.process] = op
                continue
            invoked = open_.pop(op.process, None)
            # An OpLog completion carries its request already; merge only when it does not.
            request = op.value if invoked is None or invoked.value.keys() <= op.value.keys() else {
                **invoked.value, **op.value}
            done.append(_placement(op.type, request, op.time))
        done.extend(_placement("info", op.value, op.time) for op in open_.values())
        return done

    return memo(("placements", id(history)), compute)


def _placement(kind: OpType, request: dict[str, Any], time: float) -> Placement:
    order_id = request.get("order_id")
    return Placement(kind, request, str(order_id) if order_id else None, op_key(request), time)


@dataclass
class Accepted:
    """Orders the client knows were accepted (ok) or may have been (info, found in state)."""

    ok: dict[str, float] = field(default_factory=dict)  # order_id -> time of the ok
    info: dict[str, float] = field(default_factory=dict)  # order_id -> time of the info


def accepted_orders(history: History, state: SystemState) -> Accepted:
    """Which orders the place_order operations created.

    An `ok` op names its order_id. An `info` op (timeout) may have created one: it counts when
    its order_id, or its Idempotency-Key, turns up in state.
    """
    def compute() -> Accepted:
        accepted = Accepted()
        by_key: dict[str, str] | None = None
        known = None
        for p in placements(history):
            if p.type == "ok":
                if p.order_id:
                    accepted.ok.setdefault(p.order_id, p.time)
                continue
            if p.type != "info":
                continue
            if known is None:
                known = orders_by_id(state)
                by_key = {o["idempotency_key"]: oid for oid, o in known.items() if o.get("idempotency_key")}
            if p.order_id and p.order_id in known:
                accepted.info.setdefault(p.order_id, p.time)
            elif p.key and by_key and p.key in by_key:
                accepted.info.setdefault(by_key[p.key], p.time)
        return accepted

    return memo(("accepted_orders", id(history), id(state)), compute)


def order_scope(history: History, state: SystemState, options: CheckOptions) -> frozenset[str] | None:
    """None (everything) unless the caller restricted the check to its own orders.

    A restricted scope also takes in every order this history's operations created: those are
    the run's own orders even when the caller did not know their ids (an `info` op).
    """
    if options.order_ids is None:
        return None
    order_ids = options.order_ids

    def compute() -> frozenset[str]:
        accepted = accepted_orders(history, state)
        return frozenset(order_ids) | accepted.ok.keys() | accepted.info.keys()

    return memo(("order_scope", id(history), id(state), id(order_ids)), compute)
