from system.messaging.handling import ServiceLogic
from system.payment import domain, store

LOGIC = ServiceLogic("payment", store.SCHEMA, store.load, domain.handle, store.save)
