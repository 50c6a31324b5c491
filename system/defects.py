"""Opt-in defects: classic saga bugs the harness must catch (see `make zoo`).

Off unless SAGA_DEFECTS names them. Neither `make demo` nor the compose demo sets it.
Domain defects live as flags in the pure handlers (ctx.defects); infrastructure defects change
how the messaging shell orders commit, ack and publish.
"""

from __future__ import annotations

DEFECTS: dict[str, str] = {
    # Our handlers are also idempotent by state, which would hide a missing inbox; this defect
    # models the usual code that trusted the inbox and so acts on every delivery it gets.
    "no_inbox_dedup": "no inbox: a duplicate delivery is handled again by handlers that trusted it (reserve, charge)",
    "ack_before_commit": "the consumer acks before its transaction commits; a crash in between loses the message",
    "publish_before_commit": "replies are published straight away under fresh ids, before the state commits (no outbox)",
    "no_delivery_compensation": "a delivery failure fails the order without refunding or releasing",
    "refund_not_idempotent": "a repeated refund pays the money back again",
    "release_not_idempotent": "a repeated release returns the stock again",
    "unstable_payment_decision": "the payment decision is re-rolled on every delivery of the command",
    "complete_before_delivery": "the order is marked completed as soon as payment succeeds",
}


def parse_defects(text: str | None) -> frozenset[str]:
    names = frozenset(n.strip() for n in (text or "").split(",") if n.strip())
    unknown = sorted(names - DEFECTS.keys())
    if unknown:
        raise ValueError(
            f"unknown defect(s) in SAGA_DEFECTS: {', '.join(unknown)}; known: {', '.join(DEFECTS)}"
        )
    return names
