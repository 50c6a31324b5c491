"""Chaos tests share the session's saga instance (harness.pytest_plugin) and one runs directory."""

from __future__ import annotations

import pytest

from harness.targets.target import Target


@pytest.fixture(scope="session")
def run_target(saga_target) -> Target:
    return saga_target


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")
