"""What one chaos run accumulates while it goes, so that whatever happens it can be written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.experiments.load import LoadGenerator
from harness.experiments.model import Experiment
from harness.model import History, SystemState, Verdict
from harness.nemesis import FaultLog, FaultScheduler, Nemesis
from harness.nemesis.duplicates import Duplicator
from harness.oplog import OpLog
from harness.recorder import Recorder
from harness.targets.target import Target

Say = Callable[[str], None]


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    exit_code: int


@dataclass
class Run:
    experiment: Experiment
    target: Target
    seed: int
    run_dir: Path
    run_tag: str  # prefix of every user_id (and Idempotency-Key) this run sends
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
    scope: list[str] = field(default_factory=list)  # the run's order ids: what order checks look at
    phases: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    crashed: str | None = None
    interrupted: bool = False  # Ctrl-C: healed and written, but no final reads

    def log(self, line: str) -> None:
        self.say(f"[chaos {self.experiment.name}] {line}")

    def history(self) -> History:
        return History(
            self.recorder.messages() if self.recorder else [],
            self.oplog.operations(),
            self.faults.events(),
            self.healed_at,
            injected=self.duplicator.injected() if self.duplicator else {},
            style=self.target.style,
        )
