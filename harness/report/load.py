"""Read a run directory into plain data, tolerating missing or damaged files.

A report is most needed when a run went wrong, so nothing here raises on a missing file or a
bad line: a missing file reads as None (rendered "not recorded"), a bad JSONL line is skipped
and counted so the report can say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG, SCHEDULE, HISTORY, OPERATIONS, FAULTS, STATE, RESULTS = (
    "config.json",
    "schedule.json",
    "history.jsonl",
    "operations.jsonl",
    "faults.jsonl",
    "state.json",
    "results.json",
)


@dataclass
class RunData:
    """Everything the report shows; None means the file was not recorded."""

    run_dir: Path
    config: Any = None
    schedule: Any = None
    messages: list[dict[str, Any]] | None = None
    operations: list[dict[str, Any]] | None = None
    faults: list[dict[str, Any]] | None = None
    state: dict[str, Any] | None = None
    results: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # unreadable files / lines, for the report


def read_json(path: Path, problems: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable ({exc})")
        return None


def read_jsonl(path: Path, problems: list[str], keep: tuple[str, ...] = ()) -> list[dict] | None:
    """Objects, one per line. `keep` trims each to those keys: a history can be millions of lines."""
    if not path.is_file():
        return None
    rows: list[dict[str, Any]] = []
    bad = 0
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(row, dict):
                    bad += 1
                    continue
                rows.append({k: row.get(k) for k in keep} if keep else row)
    except OSError as exc:
        problems.append(f"{path.name}: unreadable ({exc})")
        return None
    if bad:
        problems.append(f"{path.name}: {bad} unreadable line(s) skipped")
    return rows


def load_run(run_dir: Path) -> RunData:
    problems: list[str] = []
    raw_history = read_jsonl(
        run_dir / HISTORY,
        problems,
        keep=("kind", "time", "routing_key", "order_id", "redelivered", "app_id"),
    )
    messages = None
    if raw_history is not None:
        # Other record kinds may share the file one day; only bus messages are plotted.
        messages = [m for m in raw_history if m.get("kind", "message") == "message"]
    state = read_json(run_dir / STATE, problems)
    results = read_json(run_dir / RESULTS, problems)
    return RunData(
        run_dir=run_dir,
        config=read_json(run_dir / CONFIG, problems),
        schedule=read_json(run_dir / SCHEDULE, problems),
        messages=messages,
        operations=read_jsonl(run_dir / OPERATIONS, problems),
        faults=read_jsonl(run_dir / FAULTS, problems),
        state=state if isinstance(state, dict) else None,
        results=results if isinstance(results, dict) else None,
        problems=problems,
    )
