"""Who may do what on the broker: one RabbitMQ user per service, and one for the harness.

Derived from the contract (system/contracts.py), as a RabbitMQ definitions document that both
`saga-harness up` (rabbitmqctl import_definitions, in the instance's vhost) and the compose file's
broker (loaded at boot) apply:

- a service may declare and bind the saga's topology (every service declares all of it, so
  routing never depends on start order), publish on `saga_events` only the routing keys
  PUBLISHES gives it (topic permissions), and dead-letter into `saga_events.dlx`; nothing outside
  the saga's exchanges and queues;
- the harness (recorder, duplicator, BDD tap, poison tests) may do anything in the vhost: a
  nemesis's job is to publish what no service may.

The dead-letter exchange is a direct exchange, and RabbitMQ checks topic permissions on topic
exchanges only: which DLQ a service parks a message in is not enforced; nor which saga queue it
consumes (declaring a quorum queue with a dead-letter exchange needs read on it). docs/design.md.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from system.contracts import (
    ALL_ROUTING_KEYS,
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    SERVICES,
    dead_letter_queue_name,
    queue_name,
)
from system.styles import Style, env_style

HARNESS = "harness"
ACCOUNTS = (*SERVICES, HARNESS)

# Every exchange and queue of the saga's topology (system/messaging/topology.py declares them).
TOPOLOGY = (
    EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    *(queue_name(s) for s in SERVICES),
    *(dead_letter_queue_name(s) for s in SERVICES),
)


def any_of(names: Iterable[str]) -> str:
    """A RabbitMQ permission regex that matches exactly these names."""
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


@dataclass(frozen=True)
class Grant:
    """An account's permissions in one vhost: resource regexes, and topic regexes on EXCHANGE."""

    configure: str
    write: str
    read: str
    topic_write: str
    topic_read: str


def grant(account: str, style: Style | None = None) -> Grant:
    """`style`: whose PUBLISHES table (system/styles.py) sets the topic permissions; None:
    SAGA_STYLE's, the style the services started from the same environment run."""
    if account == HARNESS:
        return Grant(".*", ".*", ".*", ".*", ".*")
    if account not in SERVICES:
        raise ValueError(f"unknown account {account!r}; one of {', '.join(ACCOUNTS)}")
    return Grant(
        configure=any_of(TOPOLOGY),  # declare exchanges and queues
        write=any_of(TOPOLOGY),  # publish to the exchanges; bind queues (a write on the queue)
        # Bind from the exchanges; consume. Every queue, not just its own: declaring a queue with
        # a dead-letter exchange needs read on it, and every service declares every queue.
        read=any_of(TOPOLOGY),
        topic_write=any_of((style or env_style()).publishes[account]),
        # Binding to a topic exchange checks the binding key against this: all the service binds
        # (and unbinds: a vhost used in the other style before).
        topic_read=any_of(ALL_ROUTING_KEYS),
    )


def user_name(vhost: str, account: str) -> str:
    """RabbitMQ users are broker-wide, so an instance's users carry its vhost's name."""
    return f"{'saga' if vhost == '/' else vhost}.{account}"


def new_password() -> str:
    return base64.urlsafe_b64encode(os.urandom(18)).decode()


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def hash_matches(hashed: str, password: str) -> bool:
    raw = base64.b64decode(hashed)
    return password_hash(password, raw[:4]) == hashed


def definitions(vhost: str, passwords: Mapping[str, str], style: Style | None = None) -> dict[str, Any]:
    """The RabbitMQ definitions of every account in ACCOUNTS (passwords: account -> password),
    for `style` (None: SAGA_STYLE's)."""
    users, permissions, topic_permissions = [], [], []
    for account in ACCOUNTS:
        user, g = user_name(vhost, account), grant(account, style)
        users.append({"name": user, "password_hash": password_hash(passwords[account]),
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []})
        permissions.append({"user": user, "vhost": vhost,
                            "configure": g.configure, "write": g.write, "read": g.read})
        topic_permissions.append({"user": user, "vhost": vhost, "exchange": EXCHANGE,
                                  "write": g.topic_write, "read": g.topic_read})
    return {"users": users, "vhosts": [{"name": vhost}], "permissions": permissions,
            "topic_permissions": topic_permissions}
