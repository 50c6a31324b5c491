"""The requirements of the 3.12 venv come from pyproject.toml (tests/toxiproxy/requirements.py)."""

from __future__ import annotations

import tomllib

import pytest

from tests.toxiproxy.requirements import NEEDED, PYPROJECT, requirement_name, requirements


def test_the_real_pyproject_pins_every_needed_package():
    pinned = requirements(tomllib.loads(PYPROJECT.read_text()))
    assert [requirement_name(r) for r in pinned] == list(NEEDED)


def test_pins_come_from_dependencies_and_extras_without_comments():
    pyproject = {
        "project": {
            "dependencies": ["Pytest>=8", "future>=1.0   # undeclared by toxiproxy-python"],
            "optional-dependencies": {"dev": ["pytest-timeout[x]~=2.3"]},
        }
    }
    got = requirements(pyproject, ("pytest", "future", "pytest-timeout"))
    assert got == ["Pytest>=8", "future>=1.0", "pytest-timeout[x]~=2.3"]
    with pytest.raises(SystemExit, match="httpx"):
        requirements(pyproject, ("pytest", "httpx"))
