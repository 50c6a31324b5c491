"""The step library in one module: import it and every step and the `saga_world` fixture exist.

In a conftest.py next to your features (pytest-bdd finds steps through fixtures):

    from harness.bdd.steps import *  # noqa: F401,F403

or, in the top-level conftest.py, as a plugin:

    pytest_plugins = ["harness.pytest_plugin", "harness.bdd.steps"]

The steps themselves live in `order_steps` (placing orders and what the customer sees),
`stock_steps` (customers racing for the last units of a scarce product) and `fault_steps`
(faults, duplicates, crashes, the broker, the invariant checker); docs/bdd.md lists every
sentence they understand.
"""

from harness.bdd.deadline_steps import *  # noqa: F401,F403
from harness.bdd.fault_steps import *  # noqa: F401,F403
from harness.bdd.order_steps import *  # noqa: F401,F403
from harness.bdd.stock_steps import *  # noqa: F401,F403
