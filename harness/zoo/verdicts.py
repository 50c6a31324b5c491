"""Pure: did a detector catch its defect, and did the control pass?"""

from __future__ import annotations

from dataclasses import dataclass

from harness.model import Verdict, passed
from harness.zoo.catalog import Detector


@dataclass(frozen=True)
class CaseResult:
    defect: str
    detector: str
    caught_by: tuple[str, ...]  # the expected invariants that fired with the defect on
    control_broken: tuple[str, ...]  # invariants that failed on the CORRECT system (must be empty)
    seconds_to_detection: float
    replay: str

    @property
    def caught(self) -> bool:
        return bool(self.caught_by) and not self.control_broken


def judge(defect: str, detector: Detector, with_defect: list[Verdict], control: list[Verdict],
          seconds: float, replay: str) -> CaseResult:
    fired = tuple(v.name for v in with_defect if v.valid is False and v.name in detector.catches_with)
    # A control run passes an invariant that holds or had nothing to check (not_applicable).
    control_broken = tuple(v.name for v in control if not passed(v) and v.name not in detector.ignore)
    return CaseResult(defect, detector.name, fired, control_broken, seconds, replay)


def table(results: list[CaseResult]) -> str:
    rows = [("defect", "caught by", "invariant", "time to detection", "control")]
    for r in results:
        rows.append((
            r.defect,
            r.detector,
            ", ".join(r.caught_by) or "NOT CAUGHT",
            f"{r.seconds_to_detection:.2f} s",
            "passes" if not r.control_broken else "FAILS: " + ", ".join(r.control_broken),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    caught = sum(r.caught for r in results)
    lines.append(f"caught {caught}/{len(results)}")
    return "\n".join(lines)
