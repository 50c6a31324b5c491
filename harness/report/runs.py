"""The stored runs: `saga-harness runs` lists them and writes runs/index.html linking each report.

One row per run directory (runs/<stamp>-<name>/): its experiment, its style where the run
records one (results.json "style", issue #15), seed, verdict, wall time, orders, whether it kept
traces. A directory without results.json is listed as unfinished; the page is self-contained
like the reports (inline CSS, no script).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from harness.report.load import RESULTS
from harness.tracing.otlp import TRACES

INDEX = "index.html"
UNFINISHED = "UNFINISHED"


@dataclass(frozen=True)
class StoredRun:
    directory: str
    name: str
    style: str | None
    seed: Any
    verdict: str
    wall_s: float | None
    orders: int | None
    traced: bool
    report: bool
    started: float | None


def _verdict(results: dict[str, Any] | None, unfinished: bool) -> str:
    if unfinished or results is None:
        return "unfinished"
    if results.get("interrupted"):
        return "interrupted"
    if results.get("crashed"):
        return "crashed"
    valid = results.get("valid")
    if isinstance(valid, bool):
        return "valid" if valid else "invalid"
    return str(valid or "unknown")


def read_run(run_dir: Path) -> StoredRun | None:
    """A run directory's row, or None when the directory is no run's."""
    results_path = run_dir / RESULTS
    unfinished = (run_dir / UNFINISHED).exists()
    if not results_path.is_file() and not unfinished:
        return None
    results: dict[str, Any] | None = None
    try:
        loaded = json.loads(results_path.read_text(encoding="utf-8")) if results_path.is_file() else None
        results = loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        results = None
    config: dict[str, Any] = {}
    try:
        loaded = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        config = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    raw_experiment = config.get("experiment")
    experiment: dict[str, Any] = raw_experiment if isinstance(raw_experiment, dict) else {}
    r = results or {}
    raw_counts = r.get("counts")
    counts: dict[str, Any] = raw_counts if isinstance(raw_counts, dict) else {}
    wall, started = r.get("wall_s"), r.get("started")
    style = r.get("style")
    return StoredRun(
        directory=run_dir.name,
        name=str(r.get("name") or experiment.get("name") or run_dir.name),
        style=str(style) if style is not None else None,
        seed=r.get("seed", config.get("seed")),
        verdict=_verdict(results, unfinished),
        wall_s=float(wall) if isinstance(wall, int | float) else None,
        orders=counts.get("orders") if isinstance(counts.get("orders"), int) else None,
        traced=(run_dir / TRACES).is_file(),
        report=(run_dir / "report.html").is_file(),
        started=float(started) if isinstance(started, int | float) else None,
    )


def stored_runs(runs_dir: Path) -> list[StoredRun]:
    """Newest first (directory names start with their start time)."""
    if not runs_dir.is_dir():
        return []
    found = [read_run(d) for d in sorted(runs_dir.iterdir(), reverse=True) if d.is_dir()]
    return [r for r in found if r is not None]


def text_table(runs: list[StoredRun]) -> str:
    header = f"{'run':40} {'experiment':16} {'style':13} {'seed':>11} {'verdict':12} {'wall s':>7} {'orders':>6} traces"
    lines = [header]
    for r in runs:
        wall = f"{r.wall_s:.1f}" if r.wall_s is not None else "-"
        lines.append(f"{r.directory[:40]:40} {r.name[:16]:16} {(r.style or '-')[:13]:13} {str(r.seed):>11} "
                     f"{r.verdict:12} {wall:>7} {str(r.orders if r.orders is not None else '-'):>6} "
                     f"{'yes' if r.traced else '-'}")
    return "\n".join(lines)


CSS = """body{font:14px/1.45 system-ui,sans-serif;color:#222;margin:0 auto;max-width:1100px;padding:16px 24px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
thead th{background:#f4f4f4}.valid{color:#2e7d32}.invalid{color:#c62828;font-weight:bold}.muted{color:#777}"""


def index_html(runs: list[StoredRun]) -> str:
    body = []
    for r in runs:
        name = escape(r.directory)
        link = f'<a href="{escape(r.directory)}/report.html">{name}</a>' if r.report else name
        wall = f"{r.wall_s:.1f}" if r.wall_s is not None else "—"
        body.append(
            f"<tr><td>{link}</td><td>{escape(r.name)}</td><td>{escape(r.style or '—')}</td>"
            f"<td>{escape(str(r.seed))}</td><td class=\"{escape(r.verdict)}\">{escape(r.verdict)}</td>"
            f"<td>{wall}</td><td>{escape(str(r.orders if r.orders is not None else '—'))}</td>"
            f"<td>{'yes' if r.traced else '—'}</td></tr>"
        )
    rows = "".join(body) or '<tr><td colspan="8" class="muted">no stored runs</td></tr>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>saga-harness: runs</title>'
        f"<style>{CSS}</style></head><body><h1>Stored runs</h1>"
        "<table><thead><tr><th>run</th><th>experiment</th><th>style</th><th>seed</th><th>verdict</th>"
        f"<th>wall s</th><th>orders</th><th>traces</th></tr></thead><tbody>{rows}</tbody></table>"
        "</body></html>\n"
    )


def write_index(runs_dir: Path) -> tuple[Path, list[StoredRun]]:
    runs = stored_runs(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    out = runs_dir / INDEX
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(index_html(runs), encoding="utf-8")
    tmp.replace(out)
    return out, runs
