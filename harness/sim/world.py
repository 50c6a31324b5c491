"""The composition root of a simulated run: one clock, one broker, four services, one client.

Every source of randomness is its own `random.Random`, seeded from the run's seed and a name,
so the interleaving, the faults, the orders and the fresh ids are each fixed by the seed and do
not disturb one another.
"""

from __future__ import annotations

import random
import uuid

from harness.model import FaultEvent, History, Operation, SystemState
from harness.sim.broker import SimBroker
from harness.sim.clock import EventLog, VirtualClock
from harness.sim.config import SimConfig
from harness.sim.faults import FaultInjector
from harness.sim.orders import SimClient, plan_orders
from harness.sim.services import SimService
from harness.sim.stores import STORES, DeliveryStore, InventoryStore, OrderStore, PaymentStore
from system.contracts import SERVICES
from system.decisions import DecisionConfig


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
        new_id = lambda: str(uuid.UUID(int=ids.getrandbits(128), version=4))  # noqa: E731
        self.injector = FaultInjector(config.faults, config.schedule, _rng(config.seed, "faults"))
        self.broker = SimBroker(self.clock, self.log, self.injector, new_id, self.faults)
        self.decisions = DecisionConfig(config.seed, config.payment_failure_rate, config.delivery_failure_rate)
        self.services = {
            name: SimService(
                name, STORES[name](), self.broker, self.clock, self.log, self.injector, self.decisions,
                config.defects, new_id, self.faults, config.prefetch, config.max_attempts,
            )
            for name in SERVICES
        }
        plans = plan_orders(config.orders, config.mix, _rng(config.seed, "orders"))
        self.order_ids = [p.order_id for p in plans]
        self.client = SimClient(plans, self.order_store, self.clock, self.log, self.injector, self.operations)
        self.schedule_rng = _rng(config.seed, "schedule")
        if journal is not None:  # one list, in commit order across all services
            self.client.journal = journal
            for service in self.services.values():
                service.journal = journal

    @property
    def order_store(self) -> OrderStore:
        return self.services["order"].store  # type: ignore[return-value]

    def history(self) -> History:
        still_down = [f for s in self.services.values() if (f := s.open_fault()) is not None]
        faults = sorted(self.faults + still_down, key=lambda f: f.start)
        healed = None if still_down else max((f.end or f.start for f in faults), default=None)
        # The copies the dupnew fault sent under new ids are the fault, not the system's effects.
        injected = {str(f.detail["copy"]): str(f.detail["original"]) for f in faults if f.kind == "dupnew"}
        return History(list(self.broker.recorded), list(self.operations), faults, healed, injected)

    def state(self) -> SystemState:
        """What the services' GET endpoints would answer now."""
        inventory: InventoryStore = self.services["inventory"].store  # type: ignore[assignment]
        payment: PaymentStore = self.services["payment"].store  # type: ignore[assignment]
        delivery: DeliveryStore = self.services["delivery"].store  # type: ignore[assignment]
        dead = [d for letters in self.broker.dead_letters.values() for d in letters]
        return SystemState(
            orders=self.order_store.rows(),
            inventory=inventory.rows(),
            reservations=inventory.reservation_rows(),
            payments=payment.rows(),
            deliveries=delivery.rows(),
            queues=self.broker.depths(),
            dead_letters=dead,
            read_at=self.clock.now(),
        )
