"""The composition root of a simulated run: one clock, one broker, four services, one client.

Every source of randomness is its own `random.Random`, seeded from the run's seed and a name,
so the interleaving, the faults, the orders and the fresh ids are each fixed by the seed and do
not disturb one another.
"""

from __future__ import annotations

import random

from harness.model import FaultEvent, History, Operation, SystemState
from harness.sim.broker import SimBroker
from harness.sim.clock import EventLog, VirtualClock
from harness.sim.config import SimConfig
from harness.sim.faults import FaultInjector
from harness.sim.ids import uuid4_text
from harness.sim.orders import SimClient, plan_orders
from harness.sim.services import SimService
from system.composition import placement
from system.contracts import SERVICES
from system.decisions import DecisionConfig
from system.delivery.memory import DeliveryTables
from system.inventory.memory import InventoryTables
from system.order.memory import MemoryOrderBook, OrderTables
from system.payment.memory import PaymentTables
from system.registry import SERVICE_LOGIC
from system.styles import style_named


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"saga-sim:{seed}:{stream}")  # str seeds hash with SHA-512: stable everywhere


class World:
    def __init__(self, config: SimConfig, keep_events: bool = False, journal: list | None = None) -> None:
        self.config = config
        self.clock = VirtualClock()
        self.log = EventLog(self.clock, keep=keep_events)
        self.faults: list[FaultEvent] = []
        self.operations: list[Operation] = []
        ids = _rng(config.seed, "ids")
        new_id = lambda: uuid4_text(ids)  # noqa: E731
        self.injector = FaultInjector(config.faults, config.schedule, _rng(config.seed, "faults"))
        self.broker = SimBroker(self.clock, self.log, self.injector, new_id, self.faults, style_named(config.style))
        self.decisions = DecisionConfig(config.seed, config.payment_failure_rate, config.delivery_failure_rate,
                                        config.timeouts(), config.payment_transient_failure_rate, config.max_retries)
        self.services = {
            name: SimService(
                SERVICE_LOGIC[name], self.broker, self.clock, self.log, self.injector, self.decisions,
                config.defects, new_id, self.faults, config.prefetch, config.max_attempts, config.style,
            )
            for name in SERVICES
        }
        plans = plan_orders(config.orders, config.mix, _rng(config.seed, "orders"))
        self.order_ids = [p.order_id for p in plans]
        book = MemoryOrderBook(self.services["order"].store)
        self.client = SimClient(
            plans, book, placement(config.defects, config.style, config.timeouts()), self.clock, self.log, self.injector, self.operations
        )
        self.schedule_rng = _rng(config.seed, "schedule")
        if journal is not None:  # one list, in commit order across all services
            self.client.journal = journal
            for service in self.services.values():
                service.journal = journal

    def history(self) -> History:
        still_down = [f for s in self.services.values() if (f := s.open_fault()) is not None]
        faults = sorted(self.faults + still_down, key=lambda f: f.start)
        healed = None if still_down else max((f.end or f.start for f in faults), default=None)
        return History(
            list(self.broker.recorded), list(self.operations), faults, healed, dict(self.broker.injected),
            self.config.style,
        )

    def state(self) -> SystemState:
        """What the services' GET endpoints would answer now."""
        orders: OrderTables = self.services["order"].tables
        inventory: InventoryTables = self.services["inventory"].tables
        payment: PaymentTables = self.services["payment"].tables
        delivery: DeliveryTables = self.services["delivery"].tables
        dead = [d for letters in self.broker.dead_letters.values() for d in letters]
        return SystemState(
            orders=orders.rows(),
            inventory=inventory.rows(),
            reservations=inventory.reservation_rows(),
            payments=payment.rows(),
            deliveries=delivery.rows(),
            queues=self.broker.depths(),
            dead_letters=dead,
            read_at=self.clock.now(),
        )
