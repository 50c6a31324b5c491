"""Experiment files: every shipped one loads; a broken one is refused with every problem named."""

import textwrap

import pytest

from harness.experiments import ExperimentError, load_experiment, parse_experiment, shipped_paths
from harness.experiments.model import experiment_from_dict

REQUIRED_SHIPPED = {"latency", "partition", "duplicate-storm", "crash-loop", "broker-restart"}


def problems_of(data) -> list[str]:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(data, "test.yaml")
    return caught.value.problems


def test_the_required_experiments_are_shipped_and_load():
    names = set(shipped_paths())
    assert REQUIRED_SHIPPED <= names
    assert any("mixed" in n for n in names)
    for name in names:
        experiment = load_experiment(name)
        assert experiment.name == name and experiment.faults and experiment.description


def test_a_stored_config_rebuilds_the_same_experiment():
    for name in shipped_paths():
        experiment = load_experiment(name)
        assert experiment_from_dict(experiment.to_dict()) == experiment


def test_a_minimal_experiment_takes_the_defaults():
    experiment = parse_experiment({"name": "quiet"}, "x")
    assert experiment.faults == () and experiment.load.orders > 0 and experiment.invariants is None


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"name": "x", "faults": [{"nemesis": "gremlin"}]}, "faults[0].nemesis", "unknown nemesis 'gremlin'"),
        ({"name": "x", "faults": [{"nemesis": "network", "kind": "latencyy", "targets": "payment"}]},
         "faults[0].kind", "unknown kind 'latencyy'"),
        ({"name": "x", "faults": [{"nemesis": "network", "kind": "latency", "targets": "paymnt",
                                   "params": {"latency": 100}}]}, "faults[0].targets", "unknown network target"),
        ({"name": "x", "faults": [{"nemesis": "network", "kind": "latency", "targets": "payment",
                                   "params": {"latency": [500, 100]}}]}, "faults[0].params.latency", "above high"),
        ({"name": "x", "faults": [{"nemesis": "network", "kind": "latency", "targets": "payment",
                                   "params": {"rate": 5}}]}, "faults[0].params.rate", "takes latency, jitter"),
        ({"name": "x", "faults": [{"nemesis": "crash", "kind": "crashpoint", "points": ["after_lunch"]}]},
         "faults[0].points", "unknown crash point 'after_lunch'"),
        ({"name": "x", "faults": [{"nemesis": "crash", "kind": "kill", "targets": ["billing"]}]},
         "faults[0].targets", "unknown service 'billing'"),
        ({"name": "x", "faults": [{"nemesis": "duplicates", "targets": "shipping.*"}]},
         "faults[0].targets", "matches no routing key"),
        ({"name": "x", "faults": [{"nemesis": "duplicates", "params": {"probability": 3}}]},
         "faults[0].params.probability", "between 0 and 1"),
        ({"name": "x", "faults": [{"nemesis": "broker", "count": 0}]}, "faults[0].count", "must be > 0"),
        ({"name": "x", "faults": [{"nemesis": "broker", "window": [0.5, 1.5]}]}, "faults[0].window", "fractions"),
        ({"name": "x", "faults": [{"nemesis": "broker", "kind": "partition"}]}, "faults[0].targets",
         "cuts one node of the instance's own cluster"),
        ({"name": "x", "faults": [{"nemesis": "broker", "kind": "partition", "targets": "rabbitmq#2",
                                   "params": {"latency": 5}}]}, "faults[0].params.latency", "takes wait_s"),
        ({"name": "x", "load": {"orders": -3}}, "load.orders", "must be > 0"),
        ({"name": "x", "load": {"rate": "fast"}}, "load.rate", "must be a number"),
        ({"name": "x", "load": {"mix": {"refund_fraud": 1}}}, "load.mix.refund_fraud", "unknown order kind"),
        ({"name": "x", "load": {"mix": {"success": 0}}}, "load.mix", "must not all be zero"),
        ({"name": "x", "invariants": ["stock_conserved", "pigs_fly"]}, "invariants", "unknown invariant 'pigs_fly'"),
        ({"name": "x", "quiet": {"deadline_s": 0}}, "quiet.deadline_s", "must be > 0"),
        ({"name": "x", "fautls": []}, "fautls", "unknown key"),
        ({"name": "has space"}, "name", "without spaces"),
    ],
)
def test_a_broken_experiment_is_refused_naming_the_place_and_the_reason(data, path, words):
    problems = problems_of(data)
    assert any(p.startswith(f"{path}:") and words in p for p in problems), problems


def test_a_broker_fault_without_a_kind_is_still_a_restart():
    faults = parse_experiment({"name": "x", "faults": [{"nemesis": "broker"},
                                                        {"nemesis": "broker", "kind": "partition",
                                                         "targets": "rabbitmq#3"}]}, "x").faults
    assert [(f.kind, f.targets) for f in faults] == [("restart", ("rabbitmq",)), ("partition", ("rabbitmq#3",))]


def test_every_problem_is_reported_at_once():
    problems = problems_of({"name": "x", "load": {"orders": 0, "rate": -1},
                            "faults": [{"nemesis": "gremlin"}, {"nemesis": "broker", "count": 0}]})
    assert len(problems) == 4, problems


def test_a_top_level_list_is_refused():
    assert "top level must be a mapping" in problems_of([1, 2])[0]


def test_a_yaml_file_with_bad_syntax_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nfaults: [\n")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(str(path))
    assert str(path) in str(caught.value) and "not valid YAML" in str(caught.value)


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ExperimentError) as caught:
        load_experiment("no-such-experiment")
    assert "shipped: " in str(caught.value) and "crash-loop" in str(caught.value)


def test_a_missing_file_is_named():
    with pytest.raises(ExperimentError, match="no such file"):
        load_experiment("nowhere/absent.yaml")


def test_a_yaml_file_takes_its_name_from_the_file_when_it_has_none(tmp_path):
    path = tmp_path / "my-storm.yaml"
    path.write_text("faults:\n  - nemesis: duplicates\n    params: {probability: 0.2}\n")
    assert load_experiment(str(path)).name == "my-storm"


def test_a_python_module_exposing_experiment_loads(tmp_path):
    path = tmp_path / "custom.py"
    path.write_text(textwrap.dedent("""
        EXPERIMENT = {
            "name": "custom",
            "load": {"orders": 10, "rate": 5},
            "faults": [{"nemesis": "crash", "kind": "kill", "targets": ["payment"], "count": 2}],
        }
    """))
    experiment = load_experiment(str(path))
    assert experiment.name == "custom" and experiment.faults[0].count == 2


def test_a_python_module_without_experiment_is_refused(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("X = 1\n")
    with pytest.raises(ExperimentError, match="defines no EXPERIMENT"):
        load_experiment(str(path))


def test_the_command_line_answers_254_for_a_bad_experiment(tmp_path, capsys):
    from tests.chaos.cli_helpers import saga

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nfaults:\n  - nemesis: gremlin\n")
    assert saga("chaos", "run", str(path)) == 254
    err = capsys.readouterr().err
    assert "faults[0].nemesis: unknown nemesis 'gremlin'" in err
    assert saga("chaos", "run", "no-such-experiment") == 254
    assert saga("chaos", "run", "latency", "--orders", "0") == 254
    assert saga("analyze", str(tmp_path / "not-a-run")) == 254


def test_chaos_list_names_every_shipped_experiment(capsys):
    from tests.chaos.cli_helpers import saga

    assert saga("chaos", "list") == 0
    out = capsys.readouterr().out
    for name in shipped_paths():
        assert name in out
