"""Opt-in defects: classic saga bugs the harness must catch (see `make zoo`).

Off unless SAGA_DEFECTS names them. Neither `make demo` nor the compose demo sets it.
A defect is never a flag inside the code it breaks: system/composition.py wraps the domain
function, the store or the consumer policy it concerns from outside, when a service (or the
simulator) is put together, so the correct code path carries no defect checks at all.
"""

from __future__ import annotations

from enum import StrEnum


class Defect(StrEnum):
    NO_INBOX_DEDUP = "no_inbox_dedup"
    ACK_BEFORE_COMMIT = "ack_before_commit"
    PUBLISH_BEFORE_COMMIT = "publish_before_commit"
    NO_DELIVERY_COMPENSATION = "no_delivery_compensation"
    REFUND_NOT_IDEMPOTENT = "refund_not_idempotent"
    RELEASE_NOT_IDEMPOTENT = "release_not_idempotent"
    UNSTABLE_PAYMENT_DECISION = "unstable_payment_decision"
    COMPLETE_BEFORE_DELIVERY = "complete_before_delivery"
    API_STORES_OTHER_FIELD = "api_stores_other_field"
    RESERVE_OFF_BY_ONE = "reserve_off_by_one"
    ACK_AND_DROP_ON_HANDLER_ERROR = "ack_and_drop_on_handler_error"
    COMPENSATION_REPEATED_ON_COPY = "compensation_repeated_on_copy"
    RELAY_MARKS_UNCONFIRMED_SENT = "relay_marks_unconfirmed_sent"
    RELABELLED_OUTCOME = "relabelled_outcome"
    ORDER_STILL_COMMANDS = "order_still_commands"
    LATE_PAYMENT_NOT_REFUNDED = "late_payment_not_refunded"
    DEADLINE_LOST_ON_RESTART = "deadline_lost_on_restart"
    UNBOUNDED_RETRIES = "unbounded_retries"


DEFECTS: dict[Defect, str] = {
    # Our handlers are also idempotent by state, which would hide a missing inbox; this defect
    # models the usual code that trusted the inbox and so acts on every delivery it gets.
    Defect.NO_INBOX_DEDUP: "no inbox: a duplicate delivery is handled again by handlers that trusted it (reserve, charge)",
    Defect.ACK_BEFORE_COMMIT: "the consumer acks before its transaction commits; a crash in between loses the message",
    Defect.PUBLISH_BEFORE_COMMIT: "replies are published straight away under fresh ids, before the state commits (no outbox)",
    Defect.NO_DELIVERY_COMPENSATION: "a delivery failure fails the order without refunding or releasing",
    Defect.REFUND_NOT_IDEMPOTENT: "a repeated refund pays the money back again",
    Defect.RELEASE_NOT_IDEMPOTENT: "a repeated release returns the stock again",
    Defect.UNSTABLE_PAYMENT_DECISION: "the payment decision is re-rolled on every delivery of the command",
    Defect.COMPLETE_BEFORE_DELIVERY: "the order is marked completed as soon as payment succeeds",
    Defect.API_STORES_OTHER_FIELD: "the order API stores one unit more than the client asked for",
    Defect.RESERVE_OFF_BY_ONE: "inventory refuses an order for exactly the remaining stock (> instead of >=)",
    Defect.ACK_AND_DROP_ON_HANDLER_ERROR: "the consumer acks and drops a message whose handler raised (no retry, no dead letter)",
    Defect.COMPENSATION_REPEATED_ON_COPY: "a copy of a failure reply that arrives while compensating sends the compensation again",
    Defect.RELAY_MARKS_UNCONFIRMED_SENT: "the outbox relay marks rows sent even when their publish failed or was not confirmed",
    Defect.RELABELLED_OUTCOME: "the payment service rolls its dice under the wrong step key",
    # Choreography only (issue #15): a half-finished migration from the orchestration.
    Defect.ORDER_STILL_COMMANDS: "in a choreography, the order service still sends the orchestrator's commands",
    # Deadlines (issue #16); they act only when SAGA_STEP_TIMEOUT is set.
    Defect.LATE_PAYMENT_NOT_REFUNDED: "a payment timeout releases the stock but refunds nothing (a late charge stays)",
    Defect.DEADLINE_LOST_ON_RESTART: "the order service keeps its timers in memory: a deadline armed before a restart never fires",
    Defect.UNBOUNDED_RETRIES: "payment retries a transient gateway error as long as it lasts, ignoring SAGA_MAX_RETRIES",
}


def parse_defects(text: str | None, source: str = "SAGA_DEFECTS") -> frozenset[Defect]:
    """Comma-separated defect names; ValueError naming `source` and the unknown ones."""
    names = frozenset(n.strip() for n in (text or "").split(",") if n.strip())
    unknown = sorted(names - set(DEFECTS))
    if unknown:
        raise ValueError(
            f"unknown defect(s) in {source}: {', '.join(unknown)}; known: {', '.join(DEFECTS)}"
        )
    return frozenset(Defect(n) for n in names)
