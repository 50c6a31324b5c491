"""Hypothesis over deadlines (issue #16) in the simulator, both styles: an answer held back so
that it lands just before, at or just after its step's deadline (virtual time, 1 step = 1 ms),
the timer's own transaction crashing before or after its commit, the order service killed around
the deadline; after quiescence every invariant holds, the deadline ones included."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.sim import ScheduledFault, SimConfig, simulate
from system.deadlines import SAGA_DEADLINE
from system.messaging.crashpoints import AFTER_COMMIT_BEFORE_ACK, BEFORE_COMMIT
from system.styles import STYLES

STEP_TIMEOUT_S = 0.05  # 50 steps
# The answer each step waits for, as the order service hears it (the same in both styles).
ANSWERS = ("inventory.reserved", "payment.completed", "delivery.scheduled")


@st.composite
def near_deadline(draw) -> SimConfig:
    style = draw(st.sampled_from(STYLES))
    answer = draw(st.sampled_from(ANSWERS))
    # The held-back answer arrives about the deadline after it was sent: a few steps before, at, after.
    steps = int(STEP_TIMEOUT_S * 1000) + draw(st.integers(min_value=-12, max_value=12))
    schedule = [ScheduledFault("delay", routing_key=answer, nth=draw(st.integers(0, 1)), steps=steps)]
    crash = draw(st.sampled_from((None, BEFORE_COMMIT, AFTER_COMMIT_BEFORE_ACK)))
    if crash is not None:
        schedule.append(ScheduledFault("crash", "order", crash, SAGA_DEADLINE, draw(st.integers(0, 1))))
    if draw(st.booleans()):
        schedule.append(ScheduledFault("kill", service="order", nth=draw(st.integers(20, 90))))
    return SimConfig(seed=draw(st.integers(0, 3)), orders=draw(st.integers(1, 4)), mix=("success",),
                     schedule=tuple(schedule), style=style, step_timeout=STEP_TIMEOUT_S)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_deadline())
def test_answers_racing_their_deadline_and_timers_fired_during_crashes(config: SimConfig):
    result = simulate(config)
    for outcome in sorted(result.stats["orders"]):
        event(f"order outcome: {outcome}")
    failing = [(v.name, v.valid, v.counterexamples[:2]) for v in result.failing()]
    assert result.valid is True, f"{failing}\nreplay: {config.replay_command()}"
    assert all(o["status"] in ("completed", "failed") for o in result.state.orders)
