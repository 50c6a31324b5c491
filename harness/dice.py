"""The dice the system under test rolls, as the checker must know them (outcome_justified).

A service reads SAGA_SEED, PAYMENT_FAILURE_RATE and DELIVERY_FAILURE_RATE from its environment
(system/config.py); the harness reads the same environment the same way, so both agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from system.config import ConfigError, service_config
from system.decisions import DecisionConfig


def decisions_from_env(env: Mapping[str, str] = os.environ) -> DecisionConfig | None:
    """The services' dice for this environment; None when its settings make no sense."""
    try:
        return service_config("payment", env).decisions
    except ConfigError:
        return None
