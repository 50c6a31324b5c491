"""Chaos experiments: a seeded load and fault schedule against the saga, recorded and checked.

    experiment = load_experiment("mixed")            # a shipped name, a YAML file or a .py file
    outcome = run_experiment(experiment, started_local_target(), seed=7)
    outcome.exit_code                                 # 0 valid, 1 invalid, 2 unknown, 255 crashed
"""

from harness.experiments.loading import load_experiment, shipped_paths
from harness.experiments.model import Experiment, ExperimentError
from harness.experiments.validation import parse_experiment

__all__ = ["Experiment", "ExperimentError", "load_experiment", "parse_experiment", "shipped_paths"]
