from system.messaging.handling import ServiceLogic
from system.order import domain, store

LOGIC = ServiceLogic("order", store.SCHEMA, store.load, domain.handle, store.save)
