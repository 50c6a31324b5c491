"""A reusable pytest-bdd step library for the saga: write your own `.feature` files against it.

- `steps`       the module to import (or load as a plugin): every step plus `saga_world`
- `order_steps` placing orders; order status and trace; payments, deliveries, stock; idempotency
- `fault_steps` latency and partitions (Toxiproxy), crash points, restarts, the broker,
                duplicate deliveries, bursts, and the invariant checker over the scenario
- `world`       `SagaWorld`: one scenario's orders, recorded history and faults to undo
- `tap`         `BusTap`: a queue bound to `#` that records what the bus really carried
- `vocabulary`  the plain words the steps accept and what they mean (pure, tested alone)
- `nemesis`     crash-point arming and the broker restart helper

Steps are synchronous (pytest-bdd has no async steps); the system comes from the session
fixtures in `harness.pytest_plugin` (`saga_target`, `saga_client`). See docs/bdd.md.
"""
