"""The messaging core the services and the simulator share: the store port (ports.py), the
one-transaction handling (handling.py), the consumer and relay policies as pure decisions
(policy.py); and the service's aio-pika shell that executes them (runtime.py, topology.py),
with its chaos hooks (crashpoints.py, handler_faults.py)."""
