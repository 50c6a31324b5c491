"""The chaos runner: steady state, load with faults, heal, quiescence, final reads, check.

    outcome = run_experiment(experiment, target, seed=42, runs_dir=Path("runs"))
    outcome.exit_code   # 0 valid, 1 invalid, 2 unknown, 255 crashed

Everything a run learns goes to its run directory (see rundir.py), written even when the run
fails halfway, because a broken run is the one somebody will want to look at.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.client import SagaClient
from harness.experiments import rundir
from harness.experiments.load import LoadGenerator
from harness.experiments.model import Experiment
from harness.experiments.results import check_stored, finish, unfinished_run
from harness.experiments.run import Run, RunOutcome, Say
from harness.experiments.schedule import plan_faults, schedule_document
from harness.experiments.steady_state import steady_state
from harness.experiments.target import (
    TargetProblem,
    broker_control,
    broker_nodes,
    broker_partitions,
    ensure_reachable,
    problems,
    process_urls,
)
from harness.invariants import check_all
from harness.nemesis import FaultScheduler, PlannedFault
from harness.nemesis.broker import BrokerNemesis
from harness.nemesis.crashes import CrashNemesis
from harness.nemesis.duplicates import DuplicatesNemesis, Duplicator
from harness.nemesis.handler_faults import HandlerFaultNemesis
from harness.nemesis.network import NetworkNemesis
from harness.quiescence import of_run, wait_quiescent
from harness.recorder import Recorder
from harness.runner.local import LocalSystem
from harness.targets.target import Target
from harness.tracing.collect import TraceCollector, tracing_requested

PROGRESS_EVERY_S = 5.0

__all__ = ["RunOutcome", "check_stored", "run_experiment", "unfinished_run"]


def run_experiment(
    experiment: Experiment,
    target: Target,
    *,
    seed: int | None = None,
    runs_dir: Path = Path("runs"),
    say: Say = print,
    render: bool = True,
    trace: bool | None = None,
) -> RunOutcome:
    """Run one experiment. Before touching anything: raises Unreachable if the broker cannot be
    reached (the verdict would be unknown), TargetProblem if the target cannot do what it asks.
    `trace` (default: SAGA_TRACING=1 in the environment) collects the services' spans into the
    run directory's traces.jsonl (harness/tracing/collect.py)."""
    ensure_reachable(target)
    missing = problems(target, experiment)
    if missing:
        raise TargetProblem("this target cannot run the experiment:\n  " + "\n  ".join(missing))
    seed = secrets.randbelow(2**31) if seed is None else seed
    started = time.time()
    run_dir = rundir.new_run_dir(runs_dir, experiment.name, started)
    run = Run(experiment, target, seed, run_dir, f"chaos-{uuid.uuid4().hex[:8]}", started, say)
    plan = plan_faults(experiment, seed)
    rundir.write_json(run.run_dir / rundir.CONFIG, {
        "experiment": experiment.to_dict(), "seed": seed, "target": target.kind, "style": target.style,
        "endpoints": vars(target.endpoints), "run_tag": run.run_tag,
    })
    rundir.write_json(run.run_dir / rundir.SCHEDULE, schedule_document(experiment, seed, plan))
    run.log(f"seed {seed} (replay with --seed {seed}); {len(plan)} faults planned; run dir {run.run_dir}")
    collector = _start_traces(run, tracing_requested() if trace is None else trace)
    with _run_log(run.run_dir / "harness.log"):
        try:
            _phases(run, plan)
        except KeyboardInterrupt:
            run.crashed, run.interrupted = "interrupted (Ctrl-C)", True
            run.log("interrupted: healing and writing what was recorded")
        except Exception as exc:  # noqa: BLE001 - a harness crash still writes what it has
            run.crashed = f"{type(exc).__name__}: {exc}"
            run.phases["crash_traceback"] = traceback.format_exc()
            run.log(f"CRASHED: {run.crashed}")
        finally:
            _emergency_heal(run)
            if collector is not None:
                traces = collector.finish(run.recorder.messages() if run.recorder else (), run.scope or None)
                run.phases["traces"] = traces
                covered = traces.get("coverage") or {}
                run.log(f"traces: {traces.get('spans', 0)} spans"
                        + (f"; {covered.get('one_trace_covering')}/{covered.get('orders')} orders in one trace "
                           "covering every service they touched" if covered else "")
                        + (f" ({collector.problem})" if collector.problem else ""))
        results = finish(run, render)
    if run.interrupted:
        raise KeyboardInterrupt
    return RunOutcome(run.run_dir, results, results["exit_code"])


def _start_traces(run: Run, trace: bool) -> TraceCollector | None:
    if not trace:
        return None
    # The local target's own environment names the endpoint its services export to.
    env = run.target.system.env if isinstance(run.target.system, LocalSystem) else os.environ
    collector = TraceCollector(run.run_dir, env)
    warning = collector.problem or collector.check_services(run.target.endpoints.services)
    if warning:
        run.log(f"traces: {warning}")
    return collector


@contextmanager
def _run_log(path: Path) -> Iterator[None]:
    """Library logs (aio-pika's reconnect chatter, nemesis errors) go to the run's harness.log,
    not the terminal, where the progress lines are."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    if previous > logging.INFO or previous == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


# --- the phases -----------------------------------------------------------------------------------
def _phases(run: Run, plan: list[PlannedFault]) -> None:
    target = run.target
    # Durable tap: a broker restart (ours, or anybody's on a shared broker) must not punch a hole
    # in the history, or the checker would blame the system for what the recorder missed.
    run.recorder = Recorder(target.endpoints.amqp_url, durable=True)
    run.recorder.start()
    with SagaClient(target.endpoints) as client:
        if not steady_state(run, client):
            return
        _set_up_nemeses(run, plan)
        _load_with_faults(run)
        _heal(run)
        _quiesce(run, client)
        _final_reads_and_check(run, client)


def _set_up_nemeses(run: Run, plan: list[PlannedFault]) -> None:
    target, experiment = run.target, run.experiment
    if experiment.needs("network"):
        run.nemeses["network"] = NetworkNemesis(str(target.endpoints.toxiproxy_url))
    if experiment.needs("duplicates"):
        run.duplicator = Duplicator(target.endpoints.amqp_url, durable=False)
        run.duplicator.start()
        run.nemeses["duplicates"] = DuplicatesNemesis(run.duplicator, run.seed, target.style)
    if experiment.needs("crash"):
        run.nemeses["crash"] = CrashNemesis(process_urls(target), target.chaos_token, target.system)
    if experiment.needs("broker"):
        run.nemeses["broker"] = BrokerNemesis(broker_control(target), target.endpoints.amqp_url, broker_nodes(target),
                                              broker_partitions(target))
    if experiment.needs("handler_faults"):
        run.nemeses["handler_faults"] = HandlerFaultNemesis(process_urls(target), target.chaos_token,
                                                            style=target.style)
    run.scheduler = FaultScheduler(plan, run.nemeses, run.faults)


def _load_with_faults(run: Run) -> None:
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


def _progress_line(run: Run, began: float) -> str:
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


def _heal(run: Run) -> None:
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


def _quiesce(run: Run, client: SagaClient) -> None:
    quiet = run.experiment.quiet
    report = wait_quiescent(client, of_run(run.run_tag), run.duplicator, deadline_s=quiet.deadline_s,
                            settle_s=quiet.settle_s, say=run.log)
    drained = run.recorder.drain(timeout=10) if run.recorder else True
    run.phases["quiescence"] = {**report.to_dict(), "recorder_drained": drained}
    run.log(f"quiescence {'reached' if report.reached else 'NOT reached'} after {report.waited_s:.1f}s")


def _final_reads_and_check(run: Run, client: SagaClient) -> None:
    run.state = client.read_state()
    ok_ids = {str(op.value["order_id"]) for op in run.oplog.operations() if op.type == "ok" and op.value.get("order_id")}
    mine = {o["order_id"] for o in run.state.orders if str(o.get("user_id", "")).startswith(run.run_tag)}
    run.scope = sorted(ok_ids | mine)
    history = run.history()
    run.verdicts = check_all(
        history, run.state, terminal_deadline_s=run.experiment.quiet.deadline_s, order_ids=run.scope,
        expected_dead_letters=run.expected_dead_letters, only=run.experiment.invariants,
        **run.target.check_options(),
    )


def _emergency_heal(run: Run) -> None:
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
