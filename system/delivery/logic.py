from system.delivery import domain, store
from system.messaging.handling import ServiceLogic

LOGIC = ServiceLogic("delivery", store.SCHEMA, store.load, domain.handle, store.save)
