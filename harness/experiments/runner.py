"""The chaos runner: steady state, load with faults, heal, quiescence, final reads, check.

    outcome = run_experiment(experiment, target, seed=42, runs_dir=Path("runs"))
    outcome.exit_code   # 0 valid, 1 invalid, 2 unknown, 255 crashed

Everything a run learns goes to its run directory (see rundir.py), written even when the run
fails halfway, because a broken run is the one somebody will want to look at.
"""

from __future__ import annotations

import secrets
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.broker import peek_dead_letters, run_sync
from harness.client import SagaClient
from harness.experiments import rundir
from harness.experiments.load import LoadGenerator
from harness.experiments.model import Experiment
from harness.experiments.quiescence import wait_quiescent
from harness.experiments.schedule import plan_faults, plan_order, schedule_document
from harness.experiments.target import RunTarget, TargetProblem
from harness.invariants import check_all, summary
from harness.model import History, SystemState, Validity, Verdict, overall
from harness.nemesis import FaultLog, FaultScheduler, Nemesis
from harness.nemesis.broker import BrokerNemesis
from harness.nemesis.crashes import CrashNemesis, disarm_crash_points
from harness.nemesis.duplicates import DuplicatesNemesis, Duplicator
from harness.nemesis.network import NetworkNemesis
from harness.oplog import OpLog
from harness.recorder import Recorder
from system.contracts import SERVICES

EXIT_CODES: dict[Any, int] = {True: 0, False: 1, "unknown": 2}
EXIT_CRASHED = 255
PROGRESS_EVERY_S = 5.0
PROBE_PROCESS = 10_000  # the steady-state probe's process ids, apart from the load's

Say = Callable[[str], None]


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    exit_code: int


@dataclass
class _Run:
    """Everything one run accumulates, so the `finally` can write whatever exists."""

    experiment: Experiment
    target: RunTarget
    seed: int
    run_dir: Path
    run_tag: str
    started: float
    say: Say
    oplog: OpLog = field(default_factory=OpLog)
    faults: FaultLog = field(default_factory=FaultLog)
    recorder: Recorder | None = None
    duplicator: Duplicator | None = None
    nemeses: dict[str, Nemesis] = field(default_factory=dict)
    scheduler: FaultScheduler | None = None
    load: LoadGenerator | None = None
    state: SystemState | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    healed_at: float | None = None
    expected_dead_letters: list[str] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    phases: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    crashed: str | None = None

    def log(self, line: str) -> None:
        self.say(f"[chaos {self.experiment.name}] {line}")


def run_experiment(
    experiment: Experiment,
    target: RunTarget,
    *,
    seed: int | None = None,
    runs_dir: Path = Path("runs"),
    say: Say = print,
    render: bool = True,
) -> RunOutcome:
    """Run one experiment. Raises TargetProblem (before touching anything) if the target cannot."""
    problems = target.problems(experiment)
    if problems:
        raise TargetProblem("this target cannot run the experiment:\n  " + "\n  ".join(problems))
    seed = secrets.randbelow(2**31) if seed is None else seed
    started = time.time()
    run = _Run(experiment, target, seed, rundir.new_run_dir(runs_dir, experiment.name, started),
               f"chaos-{uuid.uuid4().hex[:8]}", started, say)
    plan = plan_faults(experiment, seed)
    rundir.write_json(run.run_dir / rundir.CONFIG, {
        "experiment": experiment.to_dict(), "seed": seed, "target": target.kind,
        "endpoints": vars(target.endpoints), "run_tag": run.run_tag,
    })
    rundir.write_json(run.run_dir / rundir.SCHEDULE, schedule_document(experiment, seed, plan))
    run.log(f"seed {seed} (replay with --seed {seed}); {len(plan)} faults planned; run dir {run.run_dir}")
    try:
        _phases(run, plan)
    except Exception as exc:  # noqa: BLE001 - a harness crash still writes what it has
        run.crashed = f"{type(exc).__name__}: {exc}"
        run.phases["crash_traceback"] = traceback.format_exc()
        run.log(f"CRASHED: {run.crashed}")
    finally:
        _emergency_heal(run)
    results = _finish(run, render)
    return RunOutcome(run.run_dir, results, results["exit_code"])


# --- the phases -----------------------------------------------------------------------------------
def _phases(run: _Run, plan: list) -> None:
    target, experiment = run.target, run.experiment
    run.recorder = Recorder(target.endpoints.amqp_url, durable=experiment.needs("broker"))
    run.recorder.start()
    with SagaClient(target.endpoints) as client:
        if not _steady_state(run, client):
            return
        _set_up_nemeses(run, plan)
        _load_with_faults(run)
        _heal(run)
        _quiesce(run, client)
        _final_reads_and_check(run, client)


def _steady_state(run: _Run, client: SagaClient) -> bool:
    """The system is ready, carries no leftover faults, and the invariants hold on a small probe."""
    began = time.monotonic()
    phase: dict[str, Any] = {}
    run.phases["steady_state"] = phase
    deadline = time.monotonic() + 60
    not_ready: dict[str, str] = {}
    while time.monotonic() < deadline:
        not_ready = {s: reason for s in SERVICES if not (ready := client.ready(s))[0] for reason in [ready[1]]}
        if not not_ready:
            break
        time.sleep(0.3)
    if not_ready:
        phase["problem"] = f"services not ready after 60s: {not_ready}"
        run.log(f"steady state: {phase['problem']}")
        run.verdicts = [Verdict("steady_state", "unknown", "the system is ready before any fault", note=phase["problem"])]
        return False
    # Leftovers from an earlier run would be blamed on this one.
    if run.target.endpoints.toxiproxy_url:
        healed = NetworkNemesis(run.target.endpoints.toxiproxy_url)
        report = healed.faults.heal_all()
        healed.close()
        if report.removed or report.enabled:
            phase["leftover_faults_healed"] = {"toxics": report.removed, "proxies": report.enabled}
    if run.target.chaos_token:
        for base in run.target.endpoints.services.values():
            disarm_crash_points(base, run.target.chaos_token)
    settled = wait_quiescent(client, None, None, deadline_s=30, settle_s=0, say=lambda line: None)
    phase["earlier_work_drained"] = settled.reached
    # Dead letters already parked belong to earlier runs: accounted for, not this run's doing.
    run.expected_dead_letters = [d.message_id for d in run_sync(peek_dead_letters(run.target.endpoints.amqp_url))]
    phase["dead_letters_before"] = len(run.expected_dead_letters)
    probe_ids = _probe(run, client)
    orders = client.wait_terminal(probe_ids, timeout=30)
    state = client.read_state()
    history = History(run.recorder.messages() if run.recorder else [], run.oplog.operations(), [], None)
    verdicts = check_all(history, state, terminal_deadline_s=30, order_ids=probe_ids,
                         expected_dead_letters=run.expected_dead_letters, only=run.experiment.invariants)
    verdict = overall(verdicts)
    phase.update(probe_orders=probe_ids, probe_statuses={i: o.get("status") for i, o in orders.items()},
                 valid=verdict, seconds=round(time.monotonic() - began, 3))
    if verdict is not True:
        run.log(f"steady state does not hold ({verdict}); no fault injected\n{summary(verdicts)}")
        run.verdicts = verdicts
        run.state = state
        run.scope = probe_ids
        return False
    run.log(f"steady state holds: {len(probe_ids)} probe orders, {len(verdicts)} invariants valid")
    return True


def _probe(run: _Run, client: SagaClient) -> list[str]:
    ids = []
    for n, kind in enumerate(("success", "payment_failure")):
        plan = plan_order(run.seed, 0, {kind: 1}, f"{run.run_tag}-probe{n}")
        op = run.oplog.invoke(PROBE_PROCESS + n, "place_order", {**plan.request_value(), "probe": True})
        response = client.place_order(plan.product_id, plan.quantity, plan.amount, user_id=plan.user_id,
                                      force=plan.force, idempotency_key=plan.idempotency_key)
        if response.status_code != 201:
            run.oplog.fail(op, f"{response.status_code}: {response.text[:200]}")
            raise RuntimeError(f"the steady-state probe order was refused: {response.status_code} {response.text[:200]}")
        order_id = response.json()["order_id"]
        run.oplog.ok(op, {"order_id": order_id, "status_code": 201})
        ids.append(order_id)
    return ids


def _set_up_nemeses(run: _Run, plan: list) -> None:
    target, experiment = run.target, run.experiment
    if experiment.needs("network"):
        run.nemeses["network"] = NetworkNemesis(str(target.endpoints.toxiproxy_url))
    if experiment.needs("duplicates"):
        run.duplicator = Duplicator(target.endpoints.amqp_url, durable=False)
        run.duplicator.start()
        run.nemeses["duplicates"] = DuplicatesNemesis(run.duplicator, run.seed)
    if experiment.needs("crash"):
        run.nemeses["crash"] = CrashNemesis(target.endpoints.services, target.chaos_token, target.system)
    if experiment.needs("broker"):
        run.nemeses["broker"] = BrokerNemesis(target.broker_control(), target.endpoints.amqp_url)
    run.scheduler = FaultScheduler(plan, run.nemeses, run.faults)


def _load_with_faults(run: _Run) -> None:
    spec, scheduler = run.experiment.load, run.scheduler
    assert scheduler is not None
    began = time.monotonic()
    t0 = began + 0.2
    run.load = LoadGenerator(
        run.target.endpoints, run.oplog, seed=run.seed, mix=spec.mix, rate=spec.rate, workers=spec.workers,
        min_orders=spec.orders, max_orders=spec.order_cap, run_tag=run.run_tag, timeout_s=spec.timeout_s,
        keep_going=lambda: spec.extend_while_faults and not scheduler.finished() and not scheduler.errors,
    )
    scheduler.start(t0)
    run.load.start(t0)
    run.log(f"load: {spec.orders} orders at {spec.rate}/s with {spec.workers} workers; "
            f"{len(scheduler.plan)} faults over {spec.duration_s:.0f}s")
    next_progress = time.monotonic() + PROGRESS_EVERY_S
    # The plan may outlast the load (a capped load); never wait for it forever.
    limit = began + 3 * spec.duration_s + sum(f.duration_s + 30 for f in scheduler.plan) + 60
    while (run.load.running() or not scheduler.finished()) and time.monotonic() < limit:
        time.sleep(0.1)
        if time.monotonic() >= next_progress:
            run.log(_progress_line(run, began))
            next_progress += PROGRESS_EVERY_S
    run.load.stop()
    run.load.join(spec.timeout_s * 3 + 5)
    run.phases["load"] = {
        "seconds": round(time.monotonic() - began, 3), "placed": run.load.stats.placed,
        "operations": run.oplog.counts(), "faults_done": len(scheduler.done),
        "faults_skipped": len(scheduler.skipped), "faults_not_triggered": scheduler.ineffective,
    }
    run.log(_progress_line(run, began) + " (load done)")


def _progress_line(run: _Run, began: float) -> str:
    stats, scheduler = run.load.stats if run.load else None, run.scheduler
    ops = run.oplog.counts()
    events = run.faults.events()
    crashes = sum(1 for e in events if e.kind == "crash")
    parts = [
        f"{time.monotonic() - began:5.1f}s",
        f"orders {stats.placed if stats else 0}/{run.experiment.load.orders}",
        f"ok {ops['ok']} fail {ops['fail']} info {ops['info']}",
        f"faults {len(scheduler.done) if scheduler else 0}/{len(scheduler.plan) if scheduler else 0} done, "
        f"{scheduler.active() if scheduler else 0} active",
        f"crashes {crashes}",
    ]
    if run.duplicator:
        parts.append(f"duplicates {run.duplicator.published}")
    parts.append(f"messages {len(run.recorder) if run.recorder else 0}")
    return "load: " + ", ".join(parts)


def _heal(run: _Run) -> None:
    began = time.monotonic()
    if run.scheduler:
        run.scheduler.stop()
        run.errors.extend(run.scheduler.errors)
    for name, nemesis in run.nemeses.items():
        try:
            nemesis.heal_all()
        except Exception as exc:  # noqa: BLE001 - keep healing the others
            run.errors.append(f"healing {name} failed: {type(exc).__name__}: {exc}")
    closed = run.faults.close_open(time.time(), {"healed_by": "heal phase"})
    run.healed_at = time.time() if run.faults.events() else None
    run.phases["heal"] = {"seconds": round(time.monotonic() - began, 3), "windows_closed_by_heal": closed}
    run.log(f"healed in {time.monotonic() - began:.1f}s" + (f"; errors: {run.errors}" if run.errors else ""))


def _quiesce(run: _Run, client: SagaClient) -> None:
    quiet = run.experiment.quiet
    report = wait_quiescent(client, run.run_tag, run.duplicator, deadline_s=quiet.deadline_s,
                            settle_s=quiet.settle_s, say=run.log)
    drained = run.recorder.drain(timeout=10) if run.recorder else True
    run.phases["quiescence"] = {**report.to_dict(), "recorder_drained": drained}
    run.log(f"quiescence {'reached' if report.reached else 'NOT reached'} after {report.waited_s:.1f}s")


def _final_reads_and_check(run: _Run, client: SagaClient) -> None:
    run.state = client.read_state()
    ok_ids = {str(op.value["order_id"]) for op in run.oplog.operations() if op.type == "ok" and op.value.get("order_id")}
    mine = {o["order_id"] for o in run.state.orders if str(o.get("user_id", "")).startswith(run.run_tag)}
    run.scope = sorted(ok_ids | mine)
    history = _history(run)
    run.verdicts = check_all(
        history, run.state, terminal_deadline_s=run.experiment.quiet.deadline_s, order_ids=run.scope,
        expected_dead_letters=run.expected_dead_letters, only=run.experiment.invariants,
    )


def _history(run: _Run) -> History:
    return History(
        run.recorder.messages() if run.recorder else [],
        run.oplog.operations(),
        run.faults.events(),
        run.healed_at,
    )


def _emergency_heal(run: _Run) -> None:
    """Whatever happened, leave no fault behind and stop every thread we started."""
    if run.scheduler:
        run.scheduler.stop(timeout=60)
    if run.load:
        run.load.stop()
    for name, nemesis in run.nemeses.items():
        try:
            nemesis.heal_all()
        except Exception as exc:  # noqa: BLE001
            run.errors.append(f"final heal of {name} failed: {type(exc).__name__}: {exc}")
        nemesis.close()
    run.faults.close_open(time.time(), {"healed_by": "end of run"})
    for tap in (run.duplicator, run.recorder):
        if tap is not None:
            try:
                tap.stop()
            except Exception as exc:  # noqa: BLE001
                run.errors.append(f"stopping {type(tap).__name__} failed: {exc}")
    run.oplog.close_open()


# --- results ------------------------------------------------------------------------------------------
def _validity(run: _Run) -> Validity:
    if run.crashed:
        return "unknown"
    verdict = overall(run.verdicts) if run.verdicts else "unknown"
    # A fault the plan could not inject makes the run something other than what it claims:
    # a violation found is still a violation, but "valid" becomes "unknown".
    if verdict is True and run.errors:
        return "unknown"
    return verdict


def _finish(run: _Run, render: bool) -> dict[str, Any]:
    finished = time.time()
    history = _history(run)
    rundir.write_history(run.run_dir, history)
    rundir.write_json(run.run_dir / rundir.STATE, rundir.state_to_dict(run.state or SystemState()))
    valid = _validity(run)
    events = history.faults
    results = {
        "name": run.experiment.name,
        "seed": run.seed,
        "valid": valid,
        "verdicts": [v.to_dict() for v in run.verdicts],
        "started": run.started,
        "finished": finished,
        "wall_s": round(finished - run.started, 3),
        "counts": {
            "orders": len(run.scope),
            "faults": len(events),
            "duplicates": run.duplicator.published if run.duplicator else 0,
            "crashes": sum(1 for e in events if e.kind == "crash"),
            "broker_restarts": sum(1 for e in events if e.kind == "broker_restart"),
            "messages": len(history.messages),
            "operations": run.oplog.counts(),
            "invariants": len(run.verdicts),
        },
        "target": run.target.kind,
        "run_tag": run.run_tag,
        "healed_at": run.healed_at,
        "check": {
            "terminal_deadline_s": run.experiment.quiet.deadline_s,
            "order_ids": run.scope,
            "expected_dead_letters": run.expected_dead_letters,
            "only": list(run.experiment.invariants) if run.experiment.invariants is not None else None,
        },
        "phases": run.phases,
        "recorder": {
            "durable": bool(run.recorder and run.recorder.durable),
            "gaps": run.recorder.gaps() if run.recorder else [],
        },
        "errors": run.errors,
        "crashed": run.crashed,
    }
    results["exit_code"] = EXIT_CRASHED if run.crashed else EXIT_CODES[valid]
    rundir.write_json(run.run_dir / rundir.RESULTS, results)
    if render:
        _render(run)
    if run.verdicts:
        run.say(summary(run.verdicts))
    run.log(f"{'valid' if valid is True else 'INVALID' if valid is False else 'unknown'}: "
            f"{results['counts']['orders']} orders, {results['counts']['faults']} faults, "
            f"{results['counts']['crashes']} crashes, {results['counts']['duplicates']} duplicates, "
            f"{results['counts']['messages']} messages, {results['wall_s']:.1f}s -> {run.run_dir}")
    return results


def _render(run: _Run) -> None:
    try:
        from harness.report.html import render_report
    except ImportError:
        run.log("no report renderer installed (harness.report.html); report.html not written")
        return
    try:
        path = render_report(run.run_dir)
        run.log(f"report: {path}")
    except Exception as exc:  # noqa: BLE001 - the run's verdict stands without its report
        run.log(f"rendering the report failed: {type(exc).__name__}: {exc}")


def check_stored(run_dir: Path) -> tuple[list[Verdict], dict[str, Any]]:
    """Re-check a stored run from its files: the same invariants, the same options."""
    results = rundir.read_json(run_dir / rundir.RESULTS)
    options = results.get("check") or {}
    history = rundir.load_history(run_dir, results.get("healed_at"))
    state = rundir.load_state(run_dir)
    verdicts = check_all(
        history, state,
        terminal_deadline_s=float(options.get("terminal_deadline_s", 60.0)),
        order_ids=options.get("order_ids"),
        expected_dead_letters=options.get("expected_dead_letters") or (),
        only=options.get("only"),
    )
    return verdicts, results

