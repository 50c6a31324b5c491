"""The run directory: what a chaos run leaves behind, and how `analyze` reads it back.

    runs/<YYYYmmdd-HHMMSS>-<name>/
      config.json       the experiment as loaded, the seed, the target
      schedule.json     the planned faults (same seed, same file)
      history.jsonl     one RecordedMessage per line, {"kind": "message", ...}
      operations.jsonl  one Operation per line
      faults.jsonl      one FaultEvent per line
      injected.json     copies a nemesis sent under a new message_id: {copy id: original id}
      state.json        the final SystemState
      results.json      {name, seed, valid, verdicts, started, finished, wall_s, counts, ...}
      report.html       written by harness.report.html (when it is installed)
      UNFINISHED        present from the start until results.json is written: a run killed
                        halfway (a second Ctrl-C, SIGKILL) is never taken for a finished one

Every file is written to a temporary name and renamed into place, so none is ever half-written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from harness.exits import UsageError
from harness.model import DeadLetter, FaultEvent, History, Operation, RecordedMessage, SystemState

CONFIG, SCHEDULE, HISTORY, OPERATIONS, FAULTS, STATE, RESULTS, REPORT, UNFINISHED = (
    "config.json", "schedule.json", "history.jsonl", "operations.jsonl", "faults.jsonl",
    "state.json", "results.json", "report.html", "UNFINISHED",
)
INJECTED = "injected.json"  # absent in runs recorded before it existed: nothing was injected


class RunDirError(UsageError, ValueError):
    """Not a run directory, or one too damaged to re-check (bad usage: exit 254)."""


def new_run_dir(runs_dir: Path, name: str, started: float) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    base = runs_dir / f"{stamp}-{name}"
    path, n = base, 1
    while path.exists():  # two runs in one second (tests): keep both
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    (path / UNFINISHED).write_text("this run has not written its results.json yet\n", encoding="utf-8")
    return path


def mark_finished(run_dir: Path) -> None:
    (run_dir / UNFINISHED).unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, default=str, separators=(",", ":")) + "\n")
            count += 1
    tmp.replace(path)
    return count


def write_history(run_dir: Path, history: History) -> None:
    write_jsonl(run_dir / HISTORY, ({"kind": "message", **asdict(m)} for m in history.messages))
    write_jsonl(run_dir / OPERATIONS, (asdict(op) for op in history.operations))
    write_jsonl(run_dir / FAULTS, (asdict(f) for f in history.faults))
    write_json(run_dir / INJECTED, history.injected)


def state_to_dict(state: SystemState) -> dict[str, Any]:
    return asdict(state)


# --- reading back ------------------------------------------------------------------------------
def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path.parent} has no {path.name}: not a complete run directory") from None
    except ValueError as exc:
        raise RunDirError(f"{path} is not valid JSON: {exc}") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise RunDirError(f"{path.parent} has no {path.name}: not a complete run directory")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise RunDirError(f"{path.name} line {n} is not valid JSON: {exc}") from None
    return rows


def _build(cls: type, row: dict[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in row.items() if k in names})
    except TypeError as exc:
        raise RunDirError(f"{where}: {exc}") from None


def load_history(run_dir: Path, healed_at: float | None, style: str | None = None) -> History:
    """`style`: the saga style the run's system ran (results.json; older runs: orchestration)."""
    rows = read_jsonl(run_dir / HISTORY)
    messages = [_build(RecordedMessage, r, HISTORY) for r in rows if r.get("kind", "message") == "message"]
    operations = [_build(Operation, r, OPERATIONS) for r in read_jsonl(run_dir / OPERATIONS)]
    faults = [_build(FaultEvent, r, FAULTS) for r in read_jsonl(run_dir / FAULTS)]
    injected = read_json(run_dir / INJECTED) if (run_dir / INJECTED).is_file() else {}
    if not isinstance(injected, dict):
        raise RunDirError(f"{run_dir / INJECTED} does not map copy ids to original ids")
    return History(messages, operations, faults, healed_at, {str(k): str(v) for k, v in injected.items()},
                   style or "orchestration")


def load_state(run_dir: Path) -> SystemState:
    data = read_json(run_dir / STATE)
    if not isinstance(data, dict):
        raise RunDirError(f"{run_dir / STATE} does not hold a SystemState")
    letters = [_build(DeadLetter, d, STATE) for d in data.get("dead_letters") or []]
    state = _build(SystemState, {**data, "dead_letters": letters}, STATE)
    return state
