"""Every shipped experiment, at a small size, against the real system: it ends valid and leaves a
complete run directory; `analyze` agrees with the stored verdict and catches a tampered state.

Sizes are small so the whole folder stays within minutes on two cores; the load keeps going
while faults remain (extend_while_faults), so every fault still meets traffic.
"""

from __future__ import annotations

import json
import shutil

import pytest

from harness.broker import peek_dead_letters, run_sync
from harness.experiments import load_experiment, shipped_paths
from harness.experiments.rundir import (
    CONFIG,
    FAULTS,
    HISTORY,
    OPERATIONS,
    REPORT,
    RESULTS,
    SCHEDULE,
    STATE,
)
from harness.experiments.runner import run_experiment
from harness.experiments.schedule import plan_faults, schedule_document
from harness.experiments.target import problems as target_problems
from harness.nemesis.base import PlannedFault
from system.contracts import SERVICES
from system.messaging.crashpoints import CRASH_POINTS
from tests.chaos.cli_helpers import saga
from tests.chaos.instances import fresh_local_target

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# (orders, rate); others: DEFAULT_SMALL. crash-loop arms 15 crash points one after another, each
# needing traffic to fire and a restart (~2 s each on a loaded 2-core machine, up to 3.5 s for a
# replica on PostgreSQL): its load (which keeps going up to 5x its orders while faults remain)
# must outlast ~35 s of plan, ~45 s with replicas (`make test-replicas-all`); it ends with them.
SMALL = {"mixed": (40, 4.0), "crash-loop": (60, 5.0)}
DEFAULT_SMALL = (30, 6.0)
SEED = 20240601
RUN_FILES = (CONFIG, SCHEDULE, HISTORY, OPERATIONS, FAULTS, STATE, RESULTS)

_outcomes: dict[str, object] = {}


def run_small(name, run_target, runs_dir):
    if name not in _outcomes:
        experiment = load_experiment(name).with_load(*SMALL.get(name, DEFAULT_SMALL))
        problems = target_problems(run_target, experiment)
        if problems:
            pytest.skip("; ".join(problems))
        _outcomes[name] = (experiment, run_experiment(experiment, run_target, seed=SEED, runs_dir=runs_dir))
    return _outcomes[name]


def restarts_broker(name: str) -> bool:
    """Whether the experiment restarts the machine's broker (a cluster node of its own does not count)."""
    return any(f.nemesis == "broker" and "rabbitmq" in f.targets for f in load_experiment(name).faults)


# Experiments that restart the shared RabbitMQ carry the broker_restart marker, so a run
# excluding it (-m "not broker_restart", beside other instances on this broker) really does.
BROKER_RESTART = pytest.mark.broker_restart


@pytest.mark.parametrize("name", [pytest.param(n, marks=BROKER_RESTART) if restarts_broker(n) else n
                                  for n in sorted(shipped_paths())])
def test_shipped_experiment_at_small_size_ends_valid_with_a_complete_run_dir(name, run_target, runs_dir):
    experiment, outcome = run_small(name, run_target, runs_dir)
    results = outcome.results
    failing = [v for v in results["verdicts"] if v["valid"] is not True]
    assert outcome.exit_code == 0, (results["errors"], results["crashed"], failing)
    assert results["valid"] is True and not results["errors"]
    for file in RUN_FILES:
        assert (outcome.run_dir / file).is_file(), file
    try:
        import harness.report.html  # noqa: F401
    except ImportError:
        pass
    else:
        assert (outcome.run_dir / REPORT).is_file()
    counts = results["counts"]
    assert counts["orders"] >= experiment.load.orders * 0.5
    assert counts["faults"] > 0 and counts["messages"] > 0 and counts["invariants"] == len(results["verdicts"]) > 0
    assert results["seed"] == SEED and results["name"] == name
    assert set(results) >= {"name", "seed", "valid", "verdicts", "started", "finished", "wall_s", "counts"}


@BROKER_RESTART
def test_the_stored_schedule_is_the_seeds_plan(run_target, runs_dir):
    experiment, outcome = run_small("mixed", run_target, runs_dir)
    stored = json.loads((outcome.run_dir / SCHEDULE).read_text())
    assert stored == json.loads(json.dumps(schedule_document(experiment, SEED, plan_faults(experiment, SEED))))
    config = json.loads((outcome.run_dir / CONFIG).read_text())
    assert config["seed"] == SEED and config["experiment"]["name"] == "mixed"
    assert [PlannedFault.from_dict(f) for f in stored["faults"]] == plan_faults(experiment, SEED)


def test_crash_loop_crashed_every_service_at_every_crash_point(run_target, runs_dir):
    _, outcome = run_small("crash-loop", run_target, runs_dir)
    faults = [json.loads(line) for line in (outcome.run_dir / FAULTS).read_text().splitlines()]
    crashed_at = {(f["target"], f["detail"]["point"]) for f in faults if f["detail"].get("kind") == "crashpoint"}
    assert crashed_at == {(s, p) for s in SERVICES for p in CRASH_POINTS}
    assert all(f["end"] and f["detail"].get("restarted_pid") for f in faults if f["kind"] == "crash")


def test_duplicate_storm_delivered_duplicates(run_target, runs_dir):
    _, outcome = run_small("duplicate-storm", run_target, runs_dir)
    assert outcome.results["counts"]["duplicates"] > 0
    history = [json.loads(line) for line in (outcome.run_dir / HISTORY).read_text().splitlines()]
    ids = [m["message_id"] for m in history]
    assert len(ids) > len(set(ids))  # the same message_id on the bus more than once
    assert all(m["kind"] == "message" for m in history)


@BROKER_RESTART
def test_broker_restart_restarted_the_broker(run_target, runs_dir):
    _, outcome = run_small("broker-restart", run_target, runs_dir)
    assert outcome.results["counts"]["broker_restarts"] == 2


@BROKER_RESTART
def test_analyze_gives_the_stored_verdict(run_target, runs_dir, capsys):
    _, outcome = run_small("mixed", run_target, runs_dir)
    assert saga("analyze", str(outcome.run_dir)) == 0
    assert "overall: valid" in capsys.readouterr().out


@BROKER_RESTART
def test_analyze_finds_a_payment_removed_from_the_stored_state(run_target, runs_dir, tmp_path, capsys):
    _, outcome = run_small("mixed", run_target, runs_dir)
    tampered = tmp_path / "tampered"
    shutil.copytree(outcome.run_dir, tampered)
    state = json.loads((tampered / STATE).read_text())
    scope = set(json.loads((tampered / RESULTS).read_text())["check"]["order_ids"])
    completed = next(o["order_id"] for o in state["orders"] if o["status"] == "completed" and o["order_id"] in scope)
    state["payments"] = [p for p in state["payments"] if p["order_id"] != completed]
    (tampered / STATE).write_text(json.dumps(state))
    assert saga("analyze", str(tampered), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    broken = {v["name"] for v in report["verdicts"] if v["valid"] is False}
    assert "completed_order_charged_once" in broken
    assert any(c.get("order_id") == completed for v in report["verdicts"] for c in v["counterexamples"])


def test_check_finds_the_running_system_valid_after_the_runs(run_target, runs_dir, capsys, monkeypatch):
    run_small("partition", run_target, runs_dir)
    if run_target.system is None:
        pytest.skip("`check --target local` needs the local instance's environment")
    for key, value in run_target.system.env.items():
        if key.startswith("SAGA_"):
            monkeypatch.setenv(key, value)
    # Other suites on this instance may have dead-lettered poison messages on purpose.
    parked = run_sync(peek_dead_letters(run_target.endpoints.amqp_url))
    expected = [arg for d in parked for arg in ("--expected-dead-letter", d.message_id)]
    assert saga("check", "--target", "local", *expected) == 0
    assert "overall: valid" in capsys.readouterr().out


@pytest.fixture(scope="module")
def defective_target(saga_target):
    """A second local instance whose handlers trust an inbox they do not have (no_inbox_dedup)."""
    if saga_target.system is None:
        pytest.skip("needs a local instance to start with a defect")
    # Start from nothing: the last run's corrupted stock would fail the steady state instead.
    with fresh_local_target("defect", 500, {"SAGA_DEFECTS": "no_inbox_dedup"}) as target:
        yield target


def test_a_duplicate_storm_catches_a_service_without_inbox_dedup(defective_target, runs_dir, capsys):
    experiment = load_experiment("duplicate-storm").with_load(20, 6.0)
    outcome = run_experiment(experiment, defective_target, seed=SEED, runs_dir=runs_dir, render=False)
    # The defect hides until messages are duplicated: the steady state holds, the storm breaks it.
    assert outcome.results["phases"]["steady_state"]["valid"] is True
    assert outcome.results["counts"]["duplicates"] > 0
    assert outcome.exit_code == 1, outcome.results["verdicts"]
    broken = {v["name"] for v in outcome.results["verdicts"] if v["valid"] is False}
    assert broken & {"nobody_charged_twice", "stock_conserved", "completed_order_charged_once",
                     "no_orphan_reservation", "one_effect_per_cause"}, broken
    assert saga("analyze", str(outcome.run_dir)) == 1

