"""Nemeses: the things that go wrong on purpose during a chaos run.

- network:    Toxiproxy faults on a service's AMQP link or the order API (harness.faults.network)
- duplicates: copies of chosen messages under the same message_id, optionally delayed
- crash:      SIGKILL a service, or let a named crash point inside it kill it; then restart it
- broker:     stop and start RabbitMQ
- handler_faults: the next N deliveries to a service make its handler raise (a transient fault)

Each takes a PlannedFault (from the seeded schedule) and logs a FaultEvent window while it lasts.
"""

from harness.nemesis.base import (
    FaultLog,
    FaultScheduler,
    Injection,
    Nemesis,
    NemesisError,
    PlannedFault,
)
from harness.nemesis.broker import BrokerNemesis
from harness.nemesis.crashes import CrashNemesis
from harness.nemesis.duplicates import DuplicatesNemesis
from harness.nemesis.handler_faults import HandlerFaultNemesis
from harness.nemesis.network import NetworkNemesis

NEMESIS_KINDS: dict[str, tuple[str, ...]] = {
    n.name: n.kinds
    for n in (NetworkNemesis, DuplicatesNemesis, CrashNemesis, BrokerNemesis, HandlerFaultNemesis)
}

__all__ = [
    "NEMESIS_KINDS",
    "FaultLog",
    "FaultScheduler",
    "Injection",
    "Nemesis",
    "NemesisError",
    "PlannedFault",
]
