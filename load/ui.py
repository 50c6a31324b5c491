"""What Locust's web UI and its HTML report show of the saga (issue #18).

- The consistency verdict as statistics rows (request type VERDICT): `consistency: valid` (or
  invalid / unknown) and one row per invariant that did not pass, a failure carrying its first
  counterexamples, so the web UI's Statistics and Failures tabs and `--html`'s report show it,
  not only the terminal.
- The chaos parameters' real defaults: the web UI shows each option's default by re-parsing the
  command line, so --saga-seed, --chaos-victim and --chaos-latency-ms show what the run will
  really use (the seed resolved at start, the victim and latency that seed draws), not an empty
  box and a 0 that mean "drawn from the seed".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERDICT_TYPE = "VERDICT"

# Filled at init (the seed resolved, the plan's draws); read when the UI re-parses the options.
RESOLVED: dict[str, Any] = {}


def resolve_defaults(seed: int, victim: str, latency_ms: int) -> None:
    RESOLVED.update({"saga_seed": seed, "chaos_victim": victim, "chaos_latency_ms": latency_ms})


def default(name: str, fallback: Any) -> Any:
    return RESOLVED.get(name, fallback)


class VerdictFailure(AssertionError):
    """A verdict row's failure: the invariant and its first counterexamples."""


def verdict_rows(document: dict[str, Any] | None, exit_code: int) -> list[tuple[str, Exception | None]]:
    """(row name, failure or None) for the verdict document (verdict.json) of a run."""
    if not isinstance(document, dict):
        return [("consistency: unknown", VerdictFailure(f"no verdict (the check exited {exit_code})"))]
    valid = document.get("valid")
    word = "valid" if valid is True else "invalid" if valid is False else "unknown"
    overall: Exception | None = None if valid is True else VerdictFailure(
        document.get("note") or f"the consistency check says {word}")
    rows: list[tuple[str, Exception | None]] = [(f"consistency: {word}", overall)]
    for inv in document.get("invariants") or []:
        if not isinstance(inv, dict) or inv.get("valid") in (True, "not_applicable"):
            continue
        name, state = str(inv.get("name")), inv.get("valid")
        examples = inv.get("counterexamples") or []
        detail = "; ".join(json.dumps(e, sort_keys=True, default=str)[:300] for e in examples[:3])
        why = detail or str(inv.get("note") or "")
        rows.append((f"{name}: {'invalid' if state is False else 'unknown'}",
                     VerdictFailure(f"{len(examples)} counterexample(s): {why}"[:1000])))
    return rows


def report_verdict(environment: Any, verdict_path: Path, exit_code: int) -> None:
    """Fire one request event per verdict row: Locust's stats and reports pick them up."""
    try:
        document = json.loads(verdict_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        document = None
    for name, failure in verdict_rows(document, exit_code):
        environment.events.request.fire(request_type=VERDICT_TYPE, name=name, response_time=0.0,
                                        response_length=0, exception=failure, context={})
