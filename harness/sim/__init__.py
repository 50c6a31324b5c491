"""Deterministic simulation of the saga: the services' real messaging core (system/composition.py:
domain functions, handle_message, consumer and relay policies, defects) over the in-memory store
adapter and an at-least-once broker, one thread, virtual time, faults by seed or by schedule.

    from harness.sim import SimConfig, FaultSpec, simulate
    result = simulate(SimConfig(seed=7, orders=20, faults=FaultSpec.parse("dup,crash")))
    result.valid, result.fingerprint, result.verdicts

Modules: clock (virtual time, event log), faults (what goes wrong), broker (queues, acks),
services (executes the core's decisions for one service), orders (the client, through the real
POST /orders logic), ids (seeded ids), world (wiring), scheduler (the step loop), run (invariants
at quiescence), sweep and cli.
"""

from harness.sim.config import SimConfig
from harness.sim.faults import FaultSpec, ScheduledFault, parse_schedule
from harness.sim.run import SimResult, simulate

__all__ = ["FaultSpec", "ScheduledFault", "SimConfig", "SimResult", "parse_schedule", "simulate"]
