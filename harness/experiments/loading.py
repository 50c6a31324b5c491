"""Find and load experiments: a shipped name, a YAML file, or a Python module exposing EXPERIMENT
(an Experiment, or a dict in the YAML's shape)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from harness.experiments.model import Experiment, ExperimentError
from harness.experiments.validation import parse_experiment

SHIPPED_DIR = Path(__file__).with_name("shipped")
YAML_SUFFIXES = (".yaml", ".yml")


def shipped_paths() -> dict[str, Path]:
    """Shipped experiments by name (the file's stem, which is also the experiment's name)."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.iterdir()) if p.suffix in (*YAML_SUFFIXES, ".py") and not p.name.startswith("_")}


def load_experiment(name_or_path: str) -> Experiment:
    """A shipped name or a file path -> Experiment; ExperimentError (bad usage) otherwise."""
    path = Path(name_or_path)
    if path.suffix in (*YAML_SUFFIXES, ".py") or path.exists():
        if not path.is_file():
            raise ExperimentError(name_or_path, ["no such file"])
        return load_file(path)
    shipped = shipped_paths()
    if name_or_path in shipped:
        return load_file(shipped[name_or_path])
    raise ExperimentError(name_or_path, [
        f"no shipped experiment of that name and no such file; shipped: {', '.join(shipped) or 'none'}"
    ])


def load_file(path: Path) -> Experiment:
    source = str(path)
    if path.suffix == ".py":
        return _from_module(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ExperimentError(source, [f"not valid YAML: {exc}"]) from None
    except OSError as exc:
        raise ExperimentError(source, [f"cannot read it: {exc.strerror or exc}"]) from None
    return parse_experiment(data, source, default_name=path.stem)


def _from_module(path: Path) -> Experiment:
    source = str(path)
    spec = importlib.util.spec_from_file_location(f"saga_experiment_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ExperimentError(source, ["cannot be imported as a Python module"])
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's module: report, do not crash
        raise ExperimentError(source, [f"importing it failed: {type(exc).__name__}: {exc}"]) from None
    value: Any = getattr(module, "EXPERIMENT", None)
    if value is None:
        raise ExperimentError(source, ["defines no EXPERIMENT (an Experiment, or a dict shaped like the YAML)"])
    if isinstance(value, Experiment):
        return value
    return parse_experiment(value, source, default_name=path.stem)
