"""The containers run what the local runner runs: `harness.runner.commands.service_argv`, with the
image's `python` in place of the runner's interpreter."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import yaml

from harness.targets.compose import checks, interpolate

commands = pytest.importorskip(
    "harness.runner.commands", reason="the local runner (harness.runner.commands) is not there yet"
)


@pytest.fixture
def compose() -> dict[str, Any]:
    return interpolate(yaml.safe_load(checks.COMPOSE_FILE.read_text()), {})


def test_each_container_runs_the_local_runners_command(compose: dict[str, Any]) -> None:
    assert checks.command_problems(compose, commands.service_argv, sys.executable) == []


def test_a_container_command_that_drifts_is_caught(compose: dict[str, Any]) -> None:
    compose["services"]["payment-service"]["command"] = ["saga-service", "payment"]
    problems = checks.command_problems(compose, commands.service_argv, sys.executable)
    assert any("payment-service" in p for p in problems), problems


def test_a_local_runner_that_drifts_is_caught(compose: dict[str, Any]) -> None:
    def drifted(service: str) -> list[str]:
        return [sys.executable, "-m", "system.main", service]

    problems = checks.command_problems(compose, drifted, sys.executable)
    assert len(problems) == 4, problems


def test_an_entrypoint_wrapping_the_command_is_caught(compose: dict[str, Any]) -> None:
    compose["services"]["order-service"]["entrypoint"] = ["tini", "--"]
    problems = checks.command_problems(compose, commands.service_argv, sys.executable)
    assert any("entrypoint" in p for p in problems), problems


def test_the_command_names_a_real_entry_point() -> None:
    """`python -m system <service>` resolves: the package has a __main__ accepting each service."""
    import system.__main__ as entry
    from system.contracts import SERVICES

    for service in SERVICES:
        with pytest.raises(SystemExit) as exit_info:
            entry.main([service, "--help"])
        assert exit_info.value.code == 0


def test_the_entry_point_check_can_fail() -> None:
    import system.__main__ as entry

    with pytest.raises(SystemExit) as exit_info:
        entry.main(["no-such-service", "--help"])
    assert exit_info.value.code != 0
