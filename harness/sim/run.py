"""Run one simulation to quiescence and check the named invariants over what it recorded.

At quiescence nothing can happen any more, so the final read is taken after waiting out the
terminal deadline in virtual time: an order that is not terminal by then never will be, and
`orders_terminal` says so (instead of "unknown").
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from harness.model import History, SystemState, Validity, Verdict, overall, passed
from harness.sim.config import SimConfig
from harness.sim.scheduler import run_to_quiescence
from harness.sim.world import World
from system.decisions import DecisionConfig

TERMINAL_DEADLINE_S = 60.0
QUIESCENCE = "sim_quiesced"  # the simulator's own verdict: did the run reach quiescence at all?
# End-state checks that a run cut short at the step limit cannot fail yet, only leave open.
LIVENESS = ("queues_drained",)


@dataclass
class SimResult:
    config: SimConfig
    fingerprint: str
    steps: int
    events: int
    quiesced: bool
    history: History
    state: SystemState
    verdicts: list[Verdict]
    stats: dict[str, Any] = field(default_factory=dict)
    trace: list[str] | None = None
    world: World | None = None  # the final stores and queues, for tests that look inside

    @property
    def valid(self) -> Validity:
        return overall(self.verdicts)

    def failing(self) -> list[Verdict]:
        return [v for v in self.verdicts if not passed(v)]


def simulate(
    config: SimConfig, *, keep_events: bool = False, check: bool = True, journal: list | None = None
) -> SimResult:
    """Run to quiescence (or the step limit), then read the state and check every invariant."""
    with _cyclic_gc_paused():
        world = World(config, keep_events=keep_events, journal=journal)
        outcome = run_to_quiescence(world)
        history = world.history()
        state = world.state()
        if outcome.quiesced:
            state.read_at = world.clock.now() + TERMINAL_DEADLINE_S + 1.0
        # The simulated client placed every order, and the dice are the simulation's own.
        verdicts = check_invariants(history, state, world.decisions, complete_history=True) if check else []
    if not outcome.quiesced:
        verdicts = [_not_yet(v) if v.name in LIVENESS and v.valid is False else v for v in verdicts]
    verdicts.append(_quiescence(outcome.quiesced, outcome.steps, config))
    return SimResult(
        config=config,
        fingerprint=world.log.fingerprint(),
        steps=outcome.steps,
        events=world.log.count,
        quiesced=outcome.quiesced,
        history=history,
        state=state,
        verdicts=verdicts,
        stats=_stats(world, state),
        trace=world.log.lines,
        world=world,
    )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A run allocates millions of short-lived, acyclic objects (refcounting frees them); the
    cyclic collector would rescan the growing history again and again for nothing (it was about
    a third of a run's time). The few cycles a run makes are collected later, as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the run allocated and kept would all be young now: the first collection after
        # it would scan every object of the history. Freeze and unfreeze moves them to the
        # oldest generation without a scan (full collections still see them).
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def check_invariants(history: History, state: SystemState, decisions: DecisionConfig | None = None, *,
                     complete_history: bool = False) -> list[Verdict]:
    # Imported here: the checker is shared with the chaos runner and is not needed to simulate.
    from harness.invariants import check_all

    return check_all(history, state, terminal_deadline_s=TERMINAL_DEADLINE_S, decisions=decisions,
                     complete_history=complete_history)


def _not_yet(verdict: Verdict) -> Verdict:
    note = "the run stopped at the step limit before quiescence; " + verdict.note
    return replace(verdict, valid="unknown", note=note.rstrip("; "))


def _quiescence(quiesced: bool, steps: int, config: SimConfig) -> Verdict:
    if quiesced:
        return Verdict(QUIESCENCE, True, "the run reached a state where nothing more can happen", steps)
    return Verdict(
        QUIESCENCE, "unknown", "the run reached a state where nothing more can happen", steps,
        note=f"stopped at the step limit ({config.step_limit()}) with work left",
    )


def _stats(world: World, state: SystemState) -> dict[str, Any]:
    outcomes: dict[str, int] = {}
    for order in state.orders:
        key = order["status"] if order["status"] != "failed" else f"failed:{order['failure_reason']}"
        outcomes[key] = outcomes.get(key, 0) + 1
    faults: dict[str, int] = {}
    for fault in world.faults:
        faults[fault.kind] = faults.get(fault.kind, 0) + 1
    faults.update({k: v for k, v in (("retry", world.client.retries),) if v})
    services = {name: dict(s.stats) for name, s in world.services.items()}
    return {
        "orders": outcomes,
        "faults": faults,
        "published": len(world.broker.recorded),
        "services": services,
    }
