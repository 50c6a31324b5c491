"""Hypothesis: generated order mixes and fault schedules, every invariant after quiescence.

A failure shrinks to a minimal run (fewest orders, fewest scheduled faults, seed 0 when it can)
and its message is the `saga-harness simulate ...` command that replays it, byte for byte.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from harness.sim import FaultSpec, ScheduledFault, SimConfig, simulate
from harness.sim.orders import ORDER_KINDS
from harness.sim.run import SimResult
from system.contracts import BINDINGS, COMMANDS, REPLIES, SERVICES
from system.messaging.crashpoints import (
    AFTER_COMMIT_BEFORE_ACK,
    AFTER_PUBLISH_BEFORE_MARK_SENT,
    BEFORE_COMMIT,
)
from tests.sim.helpers import run_cli


def _published_by(service: str) -> tuple[str, ...]:
    return COMMANDS if service == "order" else tuple(k for k in REPLIES if k.startswith(f"{service}."))


# Crash points that can actually be reached: consumer points on what a service consumes,
# the relay's point on what it publishes (None: any message).
CRASH_TARGETS = [
    (service, point, key)
    for service in SERVICES
    for point, keys in (
        (BEFORE_COMMIT, BINDINGS[service]),
        (AFTER_COMMIT_BEFORE_ACK, BINDINGS[service]),
        (AFTER_PUBLISH_BEFORE_MARK_SENT, _published_by(service)),
    )
    for key in (None, *keys)
]
ALL_KEYS = sorted({k for keys in BINDINGS.values() for k in keys})
RANDOM_FAULTS = ("dup", "delay", "reorder", "crash", "kill", "retry", "handler_error", "publish_fail")

nth = st.integers(min_value=0, max_value=3)
crashes = st.builds(
    lambda target, n: ScheduledFault("crash", target[0], target[1], target[2], n),
    st.sampled_from(CRASH_TARGETS),
    nth,
)
duplicates = st.builds(lambda key, n: ScheduledFault("dup", routing_key=key, nth=n), st.sampled_from(ALL_KEYS), nth)
delays = st.builds(
    lambda key, n, steps: ScheduledFault("delay", routing_key=key, nth=n, steps=steps),
    st.sampled_from(ALL_KEYS),
    nth,
    st.integers(min_value=1, max_value=60),
)
kills = st.builds(
    lambda service, step: ScheduledFault("kill", service=service, nth=step),
    st.sampled_from(SERVICES),
    st.integers(min_value=1, max_value=200),
)
# At most 4 scheduled failures of one delivery (nth <= 3): fewer than the 5 that dead-letter it.
handler_errors = st.builds(
    lambda key, n: ScheduledFault("handler_error", routing_key=key, nth=n), st.sampled_from(ALL_KEYS), nth
)
publish_fails = st.builds(
    lambda key, n: ScheduledFault("publish_fail", routing_key=key, nth=n), st.sampled_from(ALL_KEYS), nth
)
schedules = st.lists(
    st.one_of(crashes, duplicates, delays, kills, handler_errors, publish_fails), max_size=6
).map(tuple)
fault_specs = st.sets(st.sampled_from(RANDOM_FAULTS)).map(lambda kinds: FaultSpec.parse(",".join(sorted(kinds))))


@st.composite
def scenarios(draw: st.DrawFn, defects: frozenset[str] = frozenset(), random_faults: bool = True) -> SimConfig:
    return SimConfig(
        seed=draw(st.integers(min_value=0, max_value=2**16)),
        orders=draw(st.integers(min_value=1, max_value=8)),
        mix=tuple(draw(st.lists(st.sampled_from(sorted(ORDER_KINDS)), min_size=1, max_size=4))),
        faults=draw(fault_specs) if random_faults else FaultSpec(),
        schedule=draw(schedules),
        defects=defects,
    )


def failure_report(result: SimResult) -> str:
    lines = [f"replay: {result.config.replay_command()}", f"fingerprint={result.fingerprint}"]
    for v in result.failing():
        lines.append(f"  {v.name}: {v.valid} {v.note}".rstrip())
        lines.extend(f"    {example}" for example in v.counterexamples[:2])
    return "\n".join(lines)


def check_run(config: SimConfig) -> None:
    note(f"replay: {config.replay_command()}")
    result = simulate(config)
    for kind in sorted(result.stats["faults"]):  # --hypothesis-show-statistics: what was exercised
        event(f"fault fired: {kind}")
    for outcome in sorted(result.stats["orders"]):
        event(f"order outcome: {outcome}")
    assert result.valid is True, failure_report(result)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_invariant_holds_after_quiescence_under_generated_faults(config):
    check_run(config)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(min_value=20, max_value=60))
def test_every_invariant_holds_for_larger_mixes_under_random_faults(config, orders):
    check_run(replace(config, orders=orders, schedule=(), faults=FaultSpec.parse("all")))


def test_a_failure_shrinks_to_a_minimal_schedule_and_prints_its_replay_command():
    """Run the same property on a broken system: hypothesis must fail, shrink, and say how to replay.

    Scheduled faults only (random ones shrink less far: a smaller run rolls other dice), and
    derandomized, so this test explores the same examples every time.
    """

    @settings(max_examples=200, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(scenarios(defects=frozenset({"ack_before_commit"}), random_faults=False))
    def property_on_broken_system(config):
        check_run(config)

    with pytest.raises(AssertionError) as failure:
        property_on_broken_system()
    lines = [line.strip() for line in str(failure.value).splitlines()]  # pytest indents them
    replay = next(line for line in lines if line.startswith("replay: "))[len("replay: "):]
    fingerprint = next(line for line in lines if line.startswith("fingerprint="))
    # Minimal: one order, seed 0, a single scheduled crash before a commit.
    assert "--seed 0 --orders 1 " in replay, replay
    (scheduled,) = replay.split("--schedule ")[1].split()[0].split(",")
    assert ":before_commit:" in scheduled, replay
    # The printed command replays the very same run.
    code, out, _ = run_cli(replay)
    assert code == 1
    assert fingerprint in out
