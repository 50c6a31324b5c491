"""Run a defect's simulation detector, with the defect and without it."""

from __future__ import annotations

import time

from harness.sim import FaultSpec, SimConfig, parse_schedule, simulate
from harness.zoo.catalog import Detector
from harness.zoo.verdicts import CaseResult, judge
from system.defects import Defect


def sim_config(detector: Detector, seed: int, defects: frozenset[Defect], style: str = "orchestration") -> SimConfig:
    p = detector.params
    return SimConfig(
        seed=seed,
        orders=p.get("orders", 10),
        faults=FaultSpec.parse(p["faults"]) if p.get("faults") else FaultSpec(),
        schedule=tuple(parse_schedule(p["schedule"])) if p.get("schedule") else (),
        defects=defects,
        mix=tuple(p["mix"].split(",")) if p.get("mix") else (),
        style=style,
        step_timeout=p.get("step_timeout", 0.0),
        payment_transient_failure_rate=p.get("payment_transient_failure_rate", 0.0),
        max_retries=p.get("max_retries", 3),
    )


def run_sim_case(defect: str, detector: Detector, seed: int, style: str = "orchestration") -> CaseResult:
    started = time.perf_counter()
    broken = simulate(sim_config(detector, seed, frozenset({Defect(defect)}), style))
    seconds = time.perf_counter() - started
    control = simulate(sim_config(detector, seed, frozenset(), style))
    return judge(defect, detector, broken.verdicts, control.verdicts, seconds, broken.config.replay_command())
