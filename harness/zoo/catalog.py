"""Which detector is meant to catch which defect, and by which invariants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from system.composition import NOT_IN_STYLE
from system.defects import DEFECTS, Defect
from system.styles import CHOREOGRAPHY, ORCHESTRATION


@dataclass(frozen=True)
class Detector:
    kind: str  # "sim" | "experiment"
    name: str  # what the table shows: the simulation's command or the experiment's name
    catches_with: tuple[str, ...]  # any of these invariants firing counts as caught
    params: dict[str, Any] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()  # invariants this detector's faults break by design


def _sim(catches_with: tuple[str, ...], ignore: frozenset[str] = frozenset(), **params: Any) -> Detector:
    return Detector("sim", "simulation", catches_with, params, ignore)


def _experiment(name: str, catches_with: tuple[str, ...], **params: Any) -> Detector:
    return Detector("experiment", name, catches_with, params)


MONEY = ("failed_order_not_charged", "nobody_charged_twice", "completed_order_charged_once")
STOCK = ("stock_conserved", "availability_non_negative", "no_orphan_reservation")

# Fast detectors: the deterministic simulator, milliseconds each.
SIM_DETECTORS: dict[str, Detector] = {
    "no_inbox_dedup": _sim(STOCK + MONEY, orders=30, faults="dup=0.3"),
    "ack_before_commit": _sim(
        ("orders_terminal",), orders=10, schedule="crash:payment:before_commit:payment.process:0"
    ),
    "publish_before_commit": _sim(("orders_terminal", "one_effect_per_cause", "trace_legal"), orders=20),
    "no_delivery_compensation": _sim(MONEY + STOCK + ("trace_legal",), orders=10, mix="success,delivery_failed"),
    "refund_not_idempotent": _sim(
        MONEY, orders=6, mix="delivery_failed", schedule="dupnew:payment.refund:0"
    ),
    "release_not_idempotent": _sim(
        STOCK, orders=6, mix="payment_failed", schedule="dupnew:inventory.release:0"
    ),
    "unstable_payment_decision": _sim(
        MONEY, orders=30, mix="dice", faults="dupnew=0.3"
    ),
    "complete_before_delivery": _sim(
        ("completed_order_charged_once", "trace_legal"), orders=10, mix="success,delivery_failed"
    ),
    # The six below are meant for the invariants of issue #12 (client ground truth, justified
    # outcomes, causality, answered commands); each is shown to change behaviour in
    # tests/sim/test_defects.py whether or not those invariants are there to catch it.
    "api_stores_other_field": _sim(("client_ground_truth",), orders=10, mix="success,dice"),
    "reserve_off_by_one": _sim(("outcome_justified",), orders=12, mix="last_units"),
    "ack_and_drop_on_handler_error": _sim(
        ("command_answered", "orders_terminal"), orders=5, mix="success",
        schedule="handler_error:payment.process:0",
    ),
    "compensation_repeated_on_copy": _sim(
        ("trace_legal", "bus_causality"), orders=6, mix="payment_failed,delivery_failed",
        schedule="dupnew:payment.failed:0,dupnew:delivery.failed:0",
    ),
    "relay_marks_unconfirmed_sent": _sim(
        ("orders_terminal", "command_answered"), orders=5, mix="success",
        schedule="publish_fail:inventory.reserve:0",
    ),
    "relabelled_outcome": _sim(("outcome_justified",), orders=30, mix="dice"),
    # Choreography only: the commands it still sends are keys the order service does not own there.
    "order_still_commands": _sim(("publisher_owns_key", "trace_legal"), orders=10, mix="success,delivery_failed"),
    # Deadlines (issue #16): the payment command held back far past its step's deadline.
    "late_payment_not_refunded": _sim(
        ("no_effect_after_timeout",), orders=6, mix="success", step_timeout=0.1,
        schedule="delay:payment.process:0:2000",
    ),
    # ...and the order service killed after the deadline was armed, before it fired.
    "deadline_lost_on_restart": _sim(
        ("bounded_termination",), orders=6, mix="success", step_timeout=0.1,
        schedule="delay:payment.process:0:20000,kill:order:40",
    ),
    # Retries (issue #16): a flaky payment gateway, at most one retry allowed.
    "unbounded_retries": _sim(
        ("retries_bounded",), orders=10, mix="dice", payment_transient_failure_rate=0.7, max_retries=1,
    ),
}

# Real processes, real RabbitMQ: the shipped chaos experiments at a small size.
EXPERIMENT_DETECTORS: dict[str, Detector] = {
    "no_inbox_dedup": _experiment("duplicate-storm", STOCK + MONEY),
    "ack_before_commit": _experiment("crash-loop", ("orders_terminal",)),
    "publish_before_commit": _experiment("crash-loop", ("one_effect_per_cause", "orders_terminal", "trace_legal")),
    "no_delivery_compensation": _experiment("latency", MONEY + STOCK + ("trace_legal",)),
    "refund_not_idempotent": _experiment("sender-retries", MONEY),
    "release_not_idempotent": _experiment("sender-retries", STOCK),
    "unstable_payment_decision": _experiment("sender-retries", MONEY),
    "complete_before_delivery": _experiment("latency", ("completed_order_charged_once", "trace_legal")),
    "api_stores_other_field": _experiment("latency", ("client_ground_truth",)),
    "reserve_off_by_one": _experiment("scarce-stock", ("outcome_justified",)),
    "ack_and_drop_on_handler_error": _experiment("handler-faults", ("command_answered", "orders_terminal")),
    "compensation_repeated_on_copy": _experiment("sender-retries", ("trace_legal", "bus_causality")),
    # A partition drops a service's broker connection: publishes in flight fail or go unconfirmed
    # (broker-restart would too, but it restarts the broker every local instance shares).
    "relay_marks_unconfirmed_sent": _experiment("partition", ("orders_terminal", "command_answered")),
    "relabelled_outcome": _experiment("scarce-stock", ("outcome_justified",)),
    # The broker refuses the order service's commands (its user may publish only order.placed):
    # the refused publishes break its relay's channel, and sagas stall.
    "order_still_commands": _experiment("latency", ("publisher_owns_key", "orders_terminal", "trace_legal")),
    # Deadlines (issue #16): the services run with SAGA_STEP_TIMEOUT (the experiment's `system`).
    "late_payment_not_refunded": _experiment("participant-down", ("no_effect_after_timeout", "failed_order_not_charged")),
    "deadline_lost_on_restart": _experiment("participant-down", ("bounded_termination", "orders_terminal")),
    "unbounded_retries": _experiment("slow-participant", ("retries_bounded",)),
}

assert set(SIM_DETECTORS) == set(DEFECTS) == set(EXPERIMENT_DETECTORS), "every defect needs detectors"


# In a choreography the same defects, where they make sense (issue #15). A schedule naming a
# command names the event its participant reacts to instead (payment.process is the payment
# service's reaction to inventory.reserved, ...); a defect that cannot exist in a style is left out.
_CHOREOGRAPHY_SIM_PARAMS: dict[str, dict[str, Any]] = {
    "ack_before_commit": {"schedule": "crash:payment:before_commit:inventory.reserved:0"},
    "refund_not_idempotent": {"schedule": "dupnew:delivery.failed:0"},
    "release_not_idempotent": {"schedule": "dupnew:payment.failed:0"},
    "ack_and_drop_on_handler_error": {"schedule": "handler_error:order.placed:0"},
    "relay_marks_unconfirmed_sent": {"schedule": "publish_fail:order.placed:0"},
    # payment reacts to inventory.reserved; its copy is the second one routed (the order's is first)
    "deadline_lost_on_restart": {"schedule": "delay:inventory.reserved:1:20000,kill:order:40"},
}
# ...and invariants that catch it there besides the orchestration's: without a crash, the order
# service publishing nothing after placement, no saga is left hanging; the fresh ids published
# before commit show as inventory's replies disagreeing with its own stock.
_CHOREOGRAPHY_ALSO_CAUGHT_BY: dict[str, tuple[str, ...]] = {
    "publish_before_commit": ("outcome_justified",),
}


def defects_in(style: str) -> list[str]:
    """The defects that make sense in `style`, in catalog order."""
    return [d for d in DEFECTS if Defect(d) not in NOT_IN_STYLE[style]]


def sim_detector(defect: str, style: str = ORCHESTRATION) -> Detector:
    detector = SIM_DETECTORS[defect]
    if style == CHOREOGRAPHY:
        return Detector(detector.kind, detector.name,
                        detector.catches_with + _CHOREOGRAPHY_ALSO_CAUGHT_BY.get(defect, ()),
                        {**detector.params, **_CHOREOGRAPHY_SIM_PARAMS.get(defect, {})}, detector.ignore)
    return detector


def experiment_detector(defect: str, style: str = ORCHESTRATION) -> Detector:
    detector = EXPERIMENT_DETECTORS[defect]
    if style == CHOREOGRAPHY and defect in _CHOREOGRAPHY_ALSO_CAUGHT_BY:
        return Detector(detector.kind, detector.name, detector.catches_with + _CHOREOGRAPHY_ALSO_CAUGHT_BY[defect],
                        detector.params, detector.ignore)
    return detector
