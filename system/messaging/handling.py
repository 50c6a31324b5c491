"""Handle one message in one transaction: inbox claim, state change, outbox rows.

This is the glue between a service's pure domain (`decide`) and its SQLite tables (`load`,
`save`). It has no asyncio in it, so the same sequence is easy to reason about and to test.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from system.contracts import HandlerContext, Message, Outcome
from system.messaging.crashpoints import BEFORE_COMMIT, CrashPoints
from system.storage import claim_inbox, enqueue, transaction


@dataclass(frozen=True)
class ServiceLogic:
    """What makes a service itself: its tables and its pure decision function."""

    name: str
    schema: str
    load: Callable[[sqlite3.Connection, Message], Any]
    decide: Callable[[Any, Message, HandlerContext], Outcome]
    save: Callable[[sqlite3.Connection, Any], None]
    initialise: Callable[[sqlite3.Connection], None] | None = None


@dataclass(frozen=True)
class Handled:
    duplicate: bool
    outcome: Outcome | None = None


def handle_message(
    conn: sqlite3.Connection,
    logic: ServiceLogic,
    msg: Message,
    ctx: HandlerContext,
    crash_points: CrashPoints,
    *,
    use_outbox: bool = True,
) -> Handled:
    with transaction(conn):
        first_time = claim_inbox(conn, msg, ctx.now)
        if not first_time and "no_inbox_dedup" not in ctx.defects:
            return Handled(duplicate=True)
        outcome = logic.decide(logic.load(conn, msg), msg, ctx)
        logic.save(conn, outcome.state)
        if use_outbox:
            enqueue(conn, outcome.messages, ctx.now)
        crash_points.hit(BEFORE_COMMIT, msg.type)
    return Handled(duplicate=False, outcome=outcome)
