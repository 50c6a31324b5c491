"""Chaos tests share the session's saga instance (harness.pytest_plugin) and one runs directory."""

from __future__ import annotations

import pytest

from harness.experiments.target import RunTarget


@pytest.fixture(scope="session")
def run_target(saga_target) -> RunTarget:
    return RunTarget(saga_target.kind, saga_target.endpoints, saga_target.local, saga_target.chaos_token)


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")
