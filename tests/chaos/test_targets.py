"""What each target can do, said before a run starts; the compose target drives the Compose CLI."""

import subprocess
from pathlib import Path

import pytest

from harness.exits import Unreachable
from harness.experiments import load_experiment
from harness.experiments.target import TargetProblem, broker_control, ensure_reachable, problems
from harness.nemesis.base import NemesisError
from harness.nemesis.broker import BrokerControl
from harness.runner.layout import Endpoints
from harness.targets.compose import ComposeSystem
from harness.targets.target import NoProcessControl, Target, compose_target
from system.config import DEFAULT_AMQP_URL

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


class RecordingRunner:
    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    def __call__(self, argv, **kwargs):
        self.argvs.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "", "")


def urls_only(amqp_url: str = DEFAULT_AMQP_URL) -> Target:
    services = {s: "http://127.0.0.1:9" for s in ("order", "inventory", "payment", "delivery")}
    return Target("external", Endpoints(services, "http://127.0.0.1:9", amqp_url))


def test_a_broker_the_harness_cannot_reach_is_unreachable_with_its_url_redacted():
    with pytest.raises(Unreachable, match=r"the broker at amqp://guest:\*\*\*@127.0.0.1:9/"):
        ensure_reachable(urls_only("amqp://guest:secret@127.0.0.1:9/"))


def test_a_target_without_process_control_says_so():
    with pytest.raises(NoProcessControl, match="external target"):
        urls_only().require_process_control()


@pytest.mark.integration  # the real broker must accept the harness, or that is the one problem
def test_an_external_target_refuses_kills_and_broker_restarts_up_front():
    found = problems(urls_only(), load_experiment("crash-loop"))
    assert any("`kill` faults need process control" in p for p in found)
    assert any("crash points on" in p and "no chaos token" in p for p in found)
    assert any("cannot restart the broker" in p for p in problems(urls_only(), load_experiment("broker-restart")))
    assert any("Toxiproxy" in p for p in problems(urls_only(), load_experiment("partition")))


def test_a_run_whose_broker_cannot_be_reached_raises_before_touching_anything(tmp_path):
    from harness.experiments.runner import run_experiment

    with pytest.raises(Unreachable, match="the broker at"):
        run_experiment(load_experiment("broker-restart"), urls_only("amqp://127.0.0.1:9/"), runs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration  # the broker must be reachable to get as far as the target's abilities
def test_a_run_on_a_target_that_cannot_do_it_raises_before_touching_anything(tmp_path):
    from harness.experiments.runner import run_experiment

    with pytest.raises(TargetProblem, match="cannot run the experiment"):
        run_experiment(load_experiment("broker-restart"), urls_only(), runs_dir=tmp_path)
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
    assert isinstance(broker_control(target), BrokerControl)


def test_a_target_without_process_control_cannot_build_a_broker_control():
    with pytest.raises(NemesisError):
        broker_control(urls_only())
