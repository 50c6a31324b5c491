"""The features run on the saga's own step library (harness.bdd), against the session's system.

The system itself comes from harness.pytest_plugin (loaded by the top-level conftest.py): a local
isolated instance by default, or an already running one with SAGA_TARGET=external.
"""

from pathlib import Path

import pytest

from harness.bdd.steps import *  # noqa: F401,F403 - pytest-bdd finds steps through these fixtures

HERE = Path(__file__).parent

# Tags used in the .feature files; pytest-bdd turns tags into markers, and markers are strict.
MARKERS = {
    "seed_flow": "a flow the seed describes, without faults",
    "fault": "injects a fault (network, duplicate, crash or broker) and heals it in teardown",
    "process_control": "kills or restarts processes: skipped on an external target",
    "broker_restart": "restarts the shared RabbitMQ (disturbs other instances for a few seconds)",
}


def pytest_configure(config: pytest.Config) -> None:
    # pytest-bdd writes the Cucumber report with a bare open(): make sure its folder exists.
    report = getattr(config.option, "cucumber_json_path", None)
    if report:
        Path(report).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    registered = {line.split(":")[0] for line in config.getini("markers")}
    for name, description in MARKERS.items():
        if name not in registered:
            config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Scenarios need the real broker and services, like tests/integration.
    for item in items:
        is_scenario = "_pytest_bdd_example" in getattr(item, "fixturenames", ())
        if is_scenario and HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
