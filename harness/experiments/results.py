"""The end of a run: results.json (the verdict and the figures), report.html, the summary; and
`check_stored`, which re-checks a run from its files alone (`saga-harness analyze`)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.exits import EXIT_CRASHED, exit_code_for
from harness.experiments import rundir
from harness.experiments.run import Run
from harness.invariants import check_all, summary
from harness.model import SystemState, Validity, Verdict, overall
from system.deadlines import StepTimeouts
from system.decisions import DecisionConfig


def validity(run: Run) -> Validity:
    if run.crashed:
        return "unknown"
    verdict = overall(run.verdicts) if run.verdicts else "unknown"
    # A fault the plan could not inject makes the run something other than what it claims:
    # a violation found is still a violation, but "valid" becomes "unknown".
    if verdict is True and run.errors:
        return "unknown"
    return verdict


def finish(run: Run, render: bool) -> dict[str, Any]:
    finished = time.time()
    history = run.history()
    rundir.write_history(run.run_dir, history)
    rundir.write_json(run.run_dir / rundir.STATE, rundir.state_to_dict(run.state or SystemState()))
    valid = validity(run)
    events = history.faults
    results: dict[str, Any] = {
        "name": run.experiment.name,
        "seed": run.seed,
        "style": history.style,  # the saga style the system ran (issue #15)
        "valid": valid,
        "verdicts": [v.to_dict() for v in run.verdicts],
        "started": run.started,
        "finished": finished,
        "wall_s": round(finished - run.started, 3),
        "counts": {
            "orders": len(run.scope),
            "faults": len(events),
            "duplicates": run.duplicator.published if run.duplicator else 0,
            "duplicates_not_published": run.duplicator.failed if run.duplicator else 0,
            "crashes": sum(1 for e in events if e.kind == "crash"),
            "broker_restarts": sum(1 for e in events if e.kind == "broker_restart"),
            "broker_partitions": sum(1 for e in events if e.kind == "broker_partition"),
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
            **_stored(run.target.check_options()),
        },
        "phases": run.phases,
        "recorder": {
            "durable": bool(run.recorder and run.recorder.durable),
            "gaps": run.recorder.gaps() if run.recorder else [],
        },
        "errors": run.errors,
        "crashed": run.crashed,
        "interrupted": run.interrupted,
    }
    results["exit_code"] = EXIT_CRASHED if run.crashed else exit_code_for(valid)
    rundir.write_json(run.run_dir / rundir.RESULTS, results)
    rundir.mark_finished(run.run_dir)
    if render:
        render_report_of(run)
    if run.verdicts:
        run.say(summary(run.verdicts))
    run.log(f"{'valid' if valid is True else 'INVALID' if valid is False else 'unknown'}: "
            f"{results['counts']['orders']} orders, {results['counts']['faults']} faults, "
            f"{results['counts']['crashes']} crashes, {results['counts']['duplicates']} duplicates, "
            f"{results['counts']['messages']} messages, {results['wall_s']:.1f}s -> {run.run_dir}")
    return results


def render_report_of(run: Run) -> None:
    try:
        from harness.report.html import render_report
    except ImportError as exc:
        if not (exc.name or "").startswith("harness.report"):
            raise  # the renderer is there but broken: say so
        run.log("no report renderer installed (harness.report.html); report.html not written")
        return
    try:
        path = render_report(run.run_dir)
        run.log(f"report: {path}")
    except Exception as exc:  # noqa: BLE001 - the run's verdict stands without its report
        run.log(f"rendering the report failed: {type(exc).__name__}: {exc}")


def unfinished_run(run_dir: Path) -> str | None:
    """Why a stored run cannot be re-judged from its files (its verdict stays unknown), or None.

    An interrupted or crashed run has no final reads, or partial ones: checking its history
    against them would report every order it placed as lost."""
    if (run_dir / rundir.UNFINISHED).exists():
        return "the run never finished writing its files"
    results = rundir.read_json(run_dir / rundir.RESULTS)
    if results.get("interrupted"):
        return "the run was interrupted (Ctrl-C) before its final reads"
    if results.get("crashed"):
        return f"the harness crashed during the run ({results['crashed']})"
    return None
def decisions_from_json(dice: dict[str, Any]) -> DecisionConfig:
    """The dice as stored by asdict(); the step deadlines (issue #16) are a nested record."""
    timeouts = dice.get("timeouts")
    if isinstance(timeouts, dict):
        dice = {**dice, "timeouts": StepTimeouts(timeouts.get("default"), dict(timeouts.get("per_step") or {}))}
    return DecisionConfig(**dice)


def _stored(options: dict[str, Any]) -> dict[str, Any]:
    """check_all's decisions and complete_history as JSON, for `analyze` to check the same way."""
    dice = options["decisions"]
    return {"decisions": asdict(dice) if dice is not None else None, "complete_history": options["complete_history"]}


def check_stored(run_dir: Path) -> tuple[list[Verdict], dict[str, Any]]:
    """Re-check a stored run from its files: the same invariants, the same options."""
    results = rundir.read_json(run_dir / rundir.RESULTS)
    options = results.get("check") or {}
    history = rundir.load_history(run_dir, results.get("healed_at"), results.get("style"))
    state = rundir.load_state(run_dir)
    dice = options.get("decisions")
    verdicts = check_all(
        history, state,
        terminal_deadline_s=float(options.get("terminal_deadline_s", 60.0)),
        order_ids=options.get("order_ids"),
        expected_dead_letters=options.get("expected_dead_letters") or (),
        only=options.get("only"),
        decisions=decisions_from_json(dice) if dice else None,
        complete_history=bool(options.get("complete_history")),
    )
    return verdicts, results

