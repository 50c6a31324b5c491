"""Run a defect's chaos-experiment detector on real processes: once with the defect, once without.

Each run gets a fresh isolated instance (own SAGA_HOME, ports, RabbitMQ vhost, empty data) so a
defect's damage never leaks into the control run or into anybody else's system.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.experiments.loading import load_experiment
from harness.experiments.runner import run_experiment
from harness.model import Verdict
from harness.runner.instance import fresh_isolated_env
from harness.runner.local import LocalSystem
from harness.targets.target import local_target
from harness.zoo.catalog import Detector
from harness.zoo.verdicts import CaseResult, judge

# Overridable so two checkouts (or a zoo beside a CI run) can each run the zoo on their own
# vhost and ports.
ZOO_INSTANCE = os.environ.get("SAGA_ZOO_INSTANCE", "zoo")
ZOO_PORT_BASE = int(os.environ.get("SAGA_ZOO_PORT_BASE", "23000"))


def fresh_instance(defects: frozenset[str], port_base: int = ZOO_PORT_BASE, style: str = "orchestration",
                   settings: dict[str, str] | None = None) -> LocalSystem:
    env = fresh_isolated_env(ZOO_INSTANCE, port_base)
    env["SAGA_STYLE"] = style
    env.update(settings or {})  # what the experiment needs its system to run with (issue #16)
    if defects:
        env["SAGA_DEFECTS"] = ",".join(sorted(defects))
    return LocalSystem(env=env, say=lambda line: None)


def run_detector(detector: Detector, defects: frozenset[str], seed: int, orders: int,
                 runs_dir: Path, style: str = "orchestration") -> tuple[list[Verdict], float, Path]:
    experiment = load_experiment(detector.name).with_load(orders=orders)
    system = fresh_instance(defects, style=style, settings=experiment.system)
    system.up(chaos=True, timeout=90)
    try:
        target = local_target(system, fresh=True)
        started = time.perf_counter()
        outcome = run_experiment(experiment, target, seed=seed, runs_dir=runs_dir, say=lambda line: None)
        seconds = time.perf_counter() - started
    finally:
        system.down()
    verdicts = [Verdict(**v) for v in outcome.results.get("verdicts", [])]
    return verdicts, seconds, outcome.run_dir


def run_experiment_case(defect: str, detector: Detector, seed: int, orders: int,
                        runs_dir: Path = Path("runs/zoo"), style: str = "orchestration") -> CaseResult:
    broken, seconds, run_dir = run_detector(detector, frozenset({defect}), seed, orders, runs_dir, style)
    control, _, _ = run_detector(detector, frozenset(), seed, orders, runs_dir, style)
    replay = (f"SAGA_STYLE={style} SAGA_DEFECTS={defect} saga-harness chaos run {detector.name} --seed {seed} "
              f"--orders {orders}  ({run_dir})")
    return judge(defect, detector, broken, control, seconds, replay)
