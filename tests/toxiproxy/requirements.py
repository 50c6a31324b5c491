"""Print the requirements the bundled Toxiproxy's tests need, pinned as in pyproject.toml.

    python tests/toxiproxy/requirements.py        (make test-toxiproxy-py312 installs these)

The server needs only the standard library; its tests import pytest, httpx and, through the
client port, toxiproxy-python (which imports `future` without declaring it). Reading the
specifiers from pyproject.toml keeps the small venv on the versions the project is tested with.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

NEEDED = ("pytest", "pytest-timeout", "httpx", "toxiproxy-python", "future")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def requirements(pyproject: dict[str, object], needed: tuple[str, ...] = NEEDED) -> list[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    groups = [project["dependencies"], *project.get("optional-dependencies", {}).values()]
    pinned = {requirement_name(r): r.split("#")[0].strip() for group in groups for r in group}
    missing = [name for name in needed if name not in pinned]
    if missing:
        raise SystemExit(f"not in pyproject.toml: {', '.join(missing)}")
    return [pinned[name] for name in needed]


if __name__ == "__main__":
    print("\n".join(requirements(tomllib.loads(PYPROJECT.read_text()))))
