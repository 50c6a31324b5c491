"""The report's text sections: header, counts, invariants, fault log, config.

Every value read from the run goes through `escape` (or `cell`, which escapes): counterexamples
carry whatever the system returned, and the report must show it, never interpret it.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from harness.report.analysis import quantile, to_epoch
from harness.report.charts import Figures
from harness.report.load import RunData

BADGES = {True: ("valid", "ok"), False: ("invalid", "bad"), "unknown": ("unknown", "unsure"),
          "not_applicable": ("not applicable", "na")}


def badge(valid: Any) -> str:
    key = {"valid": True, "invalid": False}.get(valid, valid) if isinstance(valid, str) else valid
    found = key is True or key is False or key in ("unknown", "not_applicable")
    text, css = BADGES[key] if found else ("not recorded", "unsure")
    return f'<span class="badge {css}">{escape(text)}</span>'


def cell(value: Any) -> str:
    """A table cell's escaped text: strings as they are, anything else as compact JSON."""
    if value is None:
        return '<span class="muted">—</span>'
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return escape(text)


def when(epoch: Any) -> str:
    t = to_epoch(epoch)
    if t is None:
        return "not recorded"
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def table(rows: Sequence[Any], columns: Sequence[str] | None = None) -> str:
    """A table over dicts; columns default to every key, in order of first appearance."""
    dicts = [r if isinstance(r, dict) else {"value": r} for r in rows]
    if columns is None:
        columns = list(dict.fromkeys(k for r in dicts for k in r))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in dicts
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def missing(what: str) -> str:
    return f'<p class="missing">not recorded: {escape(what)}</p>'


def run_name(run: RunData) -> str:
    results, config = run.results or {}, run.config if isinstance(run.config, dict) else {}
    experiment = config.get("experiment")
    name = results.get("name") or config.get("name")
    if not name and isinstance(experiment, dict):
        name = experiment.get("name")
    return str(name or (experiment if isinstance(experiment, str) else run.run_dir.name))


def run_seed(run: RunData) -> Any:
    results, config = run.results or {}, run.config if isinstance(run.config, dict) else {}
    return results.get("seed", config.get("seed"))


def run_style(run: RunData) -> str:
    """The saga style the run's system ran (results.json / config.json; older runs: orchestration)."""
    results, config = run.results or {}, run.config if isinstance(run.config, dict) else {}
    return str(results.get("style") or config.get("style") or "orchestration")


def replay_command(run: RunData) -> str:
    seed = run_seed(run)
    command = f"saga-harness chaos run {shlex.quote(run_name(run))}"
    command += f" --seed {shlex.quote(str(seed))}" if seed is not None else ""
    style = run_style(run)
    return command + (f" --style {shlex.quote(style)}" if style != "orchestration" else "")


def header(run: RunData) -> str:
    results = run.results or {}
    wall = results.get("wall_s")
    wall_text = f"{wall:.1f} s" if isinstance(wall, int | float) else "not recorded"
    seed = run_seed(run)
    rows = [
        ("seed", escape(str(seed)) if seed is not None else "not recorded"),
        ("saga style", escape(run_style(run))),
        ("replay", f"<code>{escape(replay_command(run))}</code>"),
        ("wall time", escape(wall_text)),
        ("started", escape(when(results.get("started")))),
        ("finished", escape(when(results.get("finished")))),
        ("run directory", f"<code>{escape(run.run_dir.name)}</code>"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    verdict = badge(results.get("valid")) if run.results is not None else badge(None)
    return (
        f"<header><h1>{escape(run_name(run))} {verdict}</h1>"
        f'<table class="meta">{body}</table></header>'
    )


def counts(run: RunData, figs: Figures) -> str:
    recorded = (run.results or {}).get("counts")
    part = (
        table([{"count": k, "value": v} for k, v in recorded.items()])
        if isinstance(recorded, dict)
        else missing("counts in results.json")
    )
    derived: list[dict[str, Any]] = [{"figure": "orders", "value": len(figs.spans)}]
    derived += [
        {"figure": f"orders {o}", "value": n}
        for o, n in sorted(Counter(s.outcome for s in figs.spans).items())
    ]
    if run.messages is not None:
        derived.append({"figure": "bus messages", "value": len(run.messages)})
        redelivered = sum(1 for m in run.messages if m.get("redelivered"))
        derived.append({"figure": "bus messages redelivered", "value": redelivered})
        # Who published what: each message's AMQP app_id, as the recorder kept it (issue #15).
        publishers = Counter(str(m.get("app_id") or "no app_id") for m in run.messages if not m.get("redelivered"))
        derived += [{"figure": f"bus messages published by {p}", "value": n} for p, n in sorted(publishers.items())]
    if run.operations is not None:
        types = Counter(str(o.get("type")) for o in run.operations)
        derived += [{"figure": f"operations {t}", "value": n} for t, n in sorted(types.items())]
    derived.append({"figure": "faults", "value": len(run.faults or [])})
    latencies = [s.latency for s in figs.spans if s.terminal]
    for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"), (1.0, "max")):
        value = quantile(latencies, q)
        if value is not None:
            derived.append({"figure": f"saga latency {label} (s)", "value": round(value, 3)})
    return (
        '<h2>Counts</h2><div class="cols"><div><h3>Recorded by the runner</h3>'
        f"{part}</div><div><h3>From the recorded files</h3>{table(derived)}</div></div>"
    )


def _examples_table(examples: Sequence[Any], traced: Collection[str]) -> str:
    """Counterexamples, each led by a link to its order's waterfall when the report draws one."""
    dicts = [r if isinstance(r, dict) else {"value": r} for r in examples]
    columns = list(dict.fromkeys(k for r in dicts for k in r))
    head = "<th>trace</th>" + "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = []
    for r in dicts:
        order_id = r.get("order_id")
        if isinstance(order_id, str) and order_id in traced:
            link = f'<a href="#trace-{escape(order_id)}">waterfall</a>'
        else:
            link = '<span class="muted">—</span>'
        body.append(f"<tr><td>{link}</td>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _verdict_block(v: dict[str, Any], traced: Collection[str] = ()) -> str:
    name = str(v.get("name", "?"))
    examples = v.get("counterexamples") or []
    parts = [
        f'<section class="invariant" id="inv-{escape(name)}">',
        f"<h3>{escape(name)} {badge(v.get('valid'))}</h3>",
        f"<p>{escape(str(v.get('description') or ''))}</p>",
        f'<p class="muted">checked: {cell(v.get("checked"))}</p>',
    ]
    if v.get("note"):
        parts.append(f'<p class="note">{escape(str(v["note"]))}</p>')
    if examples:
        shown = _examples_table(examples, traced) if traced else table(examples)
        parts.append(f"<h4>Counterexamples ({len(examples)})</h4>{shown}")
    return "".join(parts) + "</section>"


def invariants(run: RunData, traced: Collection[str] = ()) -> str:
    """`traced`: the orders whose waterfalls the report draws (counterexamples link to them)."""
    verdicts = (run.results or {}).get("verdicts")
    if not isinstance(verdicts, list):
        return "<h2>Invariants</h2>" + missing("verdicts in results.json")
    verdicts = [v for v in verdicts if isinstance(v, dict)]
    summary = "".join(
        f'<tr><td><a href="#inv-{escape(str(v.get("name")))}">{escape(str(v.get("name")))}</a>'
        f"</td><td>{badge(v.get('valid'))}</td><td>{cell(v.get('checked'))}</td>"
        f"<td>{len(v.get('counterexamples') or [])}</td></tr>"
        for v in verdicts
    )
    return (
        "<h2>Invariants</h2><table><thead><tr><th>invariant</th><th>verdict</th><th>checked</th>"
        f"<th>counterexamples</th></tr></thead><tbody>{summary}</tbody></table>"
        + "".join(_verdict_block(v, traced) for v in verdicts)
    )


def fault_log(run: RunData, figs: Figures) -> str:
    head = "<h2>Fault log</h2>"
    if run.faults is None:
        return head + missing("faults.jsonl")
    if not run.faults:
        return head + '<p class="muted">No faults were injected.</p>'
    rows = []
    for f in run.faults:
        start, end = to_epoch(f.get("start")), to_epoch(f.get("end"))
        rows.append(
            {
                "kind": f.get("kind"),
                "target": f.get("target"),
                "start (+s)": None if start is None else round(start - figs.t0, 3),
                "end (+s)": "not healed" if end is None else round(end - figs.t0, 3),
                "duration (s)": None if start is None or end is None else round(end - start, 3),
                "detail": f.get("detail") or None,
            }
        )
    return head + table(rows)


def config(run: RunData) -> str:
    parts = ["<h2>Configuration</h2><h3>config.json</h3>"]
    if run.config is None:
        parts.append(missing("config.json"))
    else:
        parts.append(f"<pre>{escape(json.dumps(run.config, indent=2, sort_keys=True))}</pre>")
    parts.append("<h3>Planned fault schedule (schedule.json)</h3>")
    schedule = run.schedule
    if isinstance(schedule, dict) and isinstance(schedule.get("faults"), list):
        schedule = schedule["faults"]
    if schedule is None:
        parts.append(missing("schedule.json"))
    elif isinstance(schedule, list) and schedule:
        parts.append(table(schedule))
    else:
        parts.append(f"<pre>{escape(json.dumps(run.schedule, indent=2, sort_keys=True))}</pre>")
    return "".join(parts)


def problems(run: RunData) -> str:
    if not run.problems:
        return ""
    items = "".join(f"<li>{escape(p)}</li>" for p in run.problems)
    return f'<div class="problems"><strong>Reading the run:</strong><ul>{items}</ul></div>'
