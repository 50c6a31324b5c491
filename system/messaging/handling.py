"""Handle one message in one transaction: inbox claim, state change, outbox rows.

This is the glue between a service's pure domain (`decide`) and its store port. It has no
asyncio and no database in it, so the services (SQLite) and the simulator (in memory) run this
very function, and the sequence is easy to reason about and to test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from system.contracts import HandlerContext, Message, Outcome
from system.messaging.ports import MessageStore, TransactionHooks

# A service's pure domain function: (its state slice, the message, the context) -> Outcome.
Handler = Callable[[Any, Message, HandlerContext], Outcome]


def handle_message(
    store: MessageStore, decide: Handler, msg: Message, ctx: HandlerContext, *, hooks: TransactionHooks
) -> Outcome | None:
    """The outcome committed for `msg`, or None when the inbox says it was handled before."""
    with store.transaction() as tx:
        if not tx.claim_inbox(msg, ctx.now):
            return None
        outcome = decide(tx.load(msg), msg, ctx)
        tx.save(outcome.state)
        tx.enqueue(outcome.messages, ctx.now)
        hooks.before_commit(msg)
    return outcome


@dataclass(frozen=True)
class Handling:
    """What a consumer does with a parsed message.

    `commit` is the one transaction (None: a duplicate). `publish_first`, when set, returns
    messages to publish BEFORE that commit; the correct system never sets it (only the
    publish_before_commit defect does), but both runtimes know how to execute it.
    """

    commit: Callable[[Message, HandlerContext], Outcome | None]
    publish_first: Callable[[Message, HandlerContext], tuple[Message, ...]] | None = None


def transactional(store: MessageStore, decide: Handler, hooks: TransactionHooks) -> Handling:
    """The correct handling: everything, outgoing messages included, in one transaction."""
    return Handling(partial(handle_message, store, decide, hooks=hooks))
