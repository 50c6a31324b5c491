"""What each target can do, said before a run starts; the compose target drives the Compose CLI."""

import subprocess
from pathlib import Path

import pytest

from harness.experiments import load_experiment
from harness.experiments.target import RunTarget, TargetProblem, compose_target
from harness.nemesis.base import NemesisError
from harness.nemesis.broker import BrokerControl
from harness.runner.layout import Endpoints
from harness.targets.compose import ComposeSystem
from system.config import DEFAULT_AMQP_URL

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


class RecordingRunner:
    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    def __call__(self, argv, **kwargs):
        self.argvs.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "", "")


def urls_only(amqp_url: str = DEFAULT_AMQP_URL) -> RunTarget:
    services = {s: "http://127.0.0.1:9" for s in ("order", "inventory", "payment", "delivery")}
    return RunTarget("external", Endpoints(services, "http://127.0.0.1:9", amqp_url))


def test_a_broker_the_harness_cannot_reach_is_the_only_problem_named():
    problems = urls_only("amqp://guest:secret@127.0.0.1:9/").problems(load_experiment("mixed"))
    assert len(problems) == 1 and "cannot connect to the broker at amqp://guest:***@127.0.0.1:9/" in problems[0]


@pytest.mark.integration  # the real broker must accept the harness, or that is the one problem
def test_an_external_target_refuses_kills_and_broker_restarts_up_front():
    problems = urls_only().problems(load_experiment("crash-loop"))
    assert any("`kill` faults need process control" in p for p in problems)
    assert any("crash points on" in p and "no chaos token" in p for p in problems)
    assert any("cannot restart the broker" in p for p in urls_only().problems(load_experiment("broker-restart")))
    assert any("Toxiproxy" in p for p in urls_only().problems(load_experiment("partition")))


def test_a_run_on_a_target_that_cannot_do_it_raises_before_touching_anything(tmp_path):
    from harness.experiments.runner import run_experiment

    with pytest.raises(TargetProblem, match="cannot run the experiment"):
        run_experiment(load_experiment("broker-restart"), urls_only("amqp://127.0.0.1:9/"), runs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_compose_broker_is_stopped_and_started_through_compose():
    runner = RecordingRunner()
    system = ComposeSystem(COMPOSE_FILE, run=runner, say=lambda line: None)
    control = BrokerControl.compose(system)
    control.stop()
    control.start()
    assert [argv[-2:] for argv in runner.argvs] == [["stop", "rabbitmq"], ["start", "rabbitmq"]]
    assert all(str(COMPOSE_FILE) in argv for argv in runner.argvs)


def test_the_compose_target_reads_its_endpoints_from_the_compose_file():
    target = compose_target(str(COMPOSE_FILE))
    assert target.kind == "compose" and set(target.endpoints.services) == {"order", "inventory", "payment", "delivery"}
    assert isinstance(target.broker_control(), BrokerControl)


def test_a_target_without_process_control_cannot_build_a_broker_control():
    with pytest.raises(NemesisError):
        urls_only().broker_control()
