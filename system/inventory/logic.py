from system.inventory import domain, store
from system.messaging.handling import ServiceLogic

LOGIC = ServiceLogic("inventory", store.SCHEMA, store.load, domain.handle, store.save, store.seed_stock)
