"""A run that cannot finish still leaves its files and says so: 255 when the harness broke,
254 when the stored run cannot be read back."""

import json

from harness.experiments.rundir import CONFIG, RESULTS, SCHEDULE
from harness.experiments.runner import run_experiment
from harness.experiments.target import RunTarget
from harness.experiments.validation import parse_experiment
from harness.runner.layout import Endpoints
from tests.chaos.cli_helpers import saga

NOBODY = "http://127.0.0.1:9"  # the discard port: nothing answers there


def unreachable_target() -> RunTarget:
    services = {s: NOBODY for s in ("order", "inventory", "payment", "delivery")}
    return RunTarget("external", Endpoints(services, NOBODY, "amqp://guest:guest@127.0.0.1:9/"), None, None)


def test_a_run_whose_broker_is_unreachable_ends_crashed_with_its_files(tmp_path):
    experiment = parse_experiment({"name": "doomed", "faults": [{"nemesis": "duplicates"}]}, "test")
    outcome = run_experiment(experiment, unreachable_target(), seed=5, runs_dir=tmp_path, say=lambda line: None,
                             render=False)
    assert outcome.exit_code == 255
    results = json.loads((outcome.run_dir / RESULTS).read_text())
    assert results["valid"] == "unknown" and results["crashed"] and results["seed"] == 5
    assert (outcome.run_dir / CONFIG).is_file() and (outcome.run_dir / SCHEDULE).is_file()


def test_analyze_refuses_a_run_dir_with_a_damaged_file(tmp_path, capsys):
    (tmp_path / RESULTS).write_text("{half a json")
    assert saga("analyze", str(tmp_path)) == 254
    assert "not valid JSON" in capsys.readouterr().err


def test_analyze_refuses_a_run_dir_missing_its_history(tmp_path, capsys):
    (tmp_path / RESULTS).write_text(json.dumps({"check": {}, "healed_at": None}))
    assert saga("analyze", str(tmp_path)) == 254
    assert "history.jsonl" in capsys.readouterr().err
