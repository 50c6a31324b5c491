"""The one registry of the four services: name -> what makes each service itself.

The service processes (system/app.py, on SQLite) and the simulator (harness/sim, in memory) both
look services up here; nothing else lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from system.delivery import domain as delivery_domain
from system.delivery import store as delivery_store
from system.delivery.memory import DeliveryTables
from system.inventory import domain as inventory_domain
from system.inventory import store as inventory_store
from system.inventory.memory import InventoryTables
from system.messaging.handling import Handler
from system.order import deadlines as order_domain  # the saga's state machine with its deadlines
from system.order import store as order_store
from system.order.memory import OrderTables
from system.payment import domain as payment_domain
from system.payment import store as payment_store
from system.payment.memory import PaymentTables
from system.stores.memory import MemoryTables
from system.stores.sqlite import SqlTables


@dataclass(frozen=True)
class ServiceLogic:
    """A service's pure domain function and its tables, for each store adapter."""

    name: str
    decide: Handler
    sql: SqlTables  # the SQLite adapter's schema, load and save
    memory: Callable[[], MemoryTables]  # fresh in-memory tables (simulator, fast tests)


SERVICE_LOGIC: dict[str, ServiceLogic] = {
    "order": ServiceLogic("order", order_domain.handle, order_store.TABLES, OrderTables),
    "inventory": ServiceLogic("inventory", inventory_domain.handle, inventory_store.TABLES, InventoryTables),
    "payment": ServiceLogic("payment", payment_domain.handle, payment_store.TABLES, PaymentTables),
    "delivery": ServiceLogic("delivery", delivery_domain.handle, delivery_store.TABLES, DeliveryTables),
}
