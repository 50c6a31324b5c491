"""The Dockerfile, parsed by BuildKit's own parser (the `dockerfile` package) and checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.targets.compose import checks

DOCKERFILE = checks.ROOT / "Dockerfile"


def test_dockerfile_passes() -> None:
    assert checks.dockerfile_problems(DOCKERFILE, checks.ROOT) == []


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A copy of what the build context holds for the image (files only; packages as stubs)."""
    for name in ("pyproject.toml", "Dockerfile", ".dockerignore"):
        shutil.copy(checks.ROOT / name, tmp_path / name)
    (tmp_path / "README.md").write_text("readme\n")
    for package in ("system", "harness"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    return tmp_path


def test_the_copy_of_the_context_passes(context: Path) -> None:
    assert checks.dockerfile_problems(context / "Dockerfile", context) == []


def _edit(context: Path, old: str, new: str) -> None:
    path = context / "Dockerfile"
    text = path.read_text()
    assert old in text, f"the Dockerfile no longer contains {old!r}; update this test"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("FROM python:3.11-slim", "FROM python:3.12", "FROM python:3.11-slim"),
        ("COPY system ./system", "COPY sytem ./system", "'sytem' does not exist"),
        ("COPY system ./system", "COPY system", "needs a source and a destination"),
        ("COPY harness ./harness\n", "", "'harness'"),
        ("RUN pip install . \\", "RUN pip install -r requirements.txt \\", "pip install ."),
        ("USER saga", "USER root", "unprivileged"),
        ('CMD ["python", "-m", "system", "--help"]', "CMD python -m system --help", "exec form"),
        ("EXPOSE 8001", "EXPOZE 8001", "unknown instruction"),
        ("WORKDIR /app", "WORKDIR /app\nADD https://example.invalid/x.tgz /tmp/", "URL"),
        ("FROM python:3.11-slim", "FROM python:3.11-slim AS base\nFROM base", "one stage"),
    ],
    ids=[
        "base-image",
        "missing-source",
        "no-destination",
        "package-not-copied",
        "no-pip-install",
        "root-user",
        "shell-form-cmd",
        "unknown-instruction",
        "add-url",
        "two-stages",
    ],
)
def test_dockerfile_check_catches(context: Path, old: str, new: str, expected: str) -> None:
    _edit(context, old, new)
    problems = checks.dockerfile_problems(context / "Dockerfile", context)
    assert any(expected in p for p in problems), problems


def test_a_copied_file_excluded_by_dockerignore_is_caught(context: Path) -> None:
    with open(context / ".dockerignore", "a") as ignore:
        ignore.write("system\n")
    problems = checks.dockerfile_problems(context / "Dockerfile", context)
    assert any("excluded by .dockerignore" in p for p in problems), problems


def test_the_readme_that_pyproject_names_is_needed(context: Path) -> None:
    (context / "README.md").unlink()
    problems = checks.dockerfile_problems(context / "Dockerfile", context)
    assert any("'README.md' does not exist" in p for p in problems), problems


def test_an_unparsable_dockerfile_is_reported(context: Path) -> None:
    (context / "Dockerfile").unlink()
    assert any(
        "does not parse" in p for p in checks.dockerfile_problems(context / "Dockerfile", context)
    )


@pytest.mark.parametrize(
    ("path", "patterns", "ignored"),
    [
        ("system", ["system"], True),
        ("system/app.py", ["system"], True),
        ("harness/x/__pycache__", ["**/__pycache__"], True),
        ("__pycache__", ["**/__pycache__"], True),
        ("README.md", ["*.md", "!README.md"], False),
        ("docs/a.md", ["*.md"], False),  # a pattern without / only matches at the top
        ("pyproject.toml", [".venv", "tests"], False),
    ],
)
def test_dockerignore_rules(path: str, patterns: list[str], ignored: bool) -> None:
    assert checks.is_ignored(path, patterns) is ignored


def test_the_build_context_leaves_out_local_state() -> None:
    patterns = checks.dockerignore_patterns(checks.ROOT / ".dockerignore")
    for path in (".git", ".venv", ".saga/data/order.sqlite3", "runs/x", "system/__pycache__/a.pyc"):
        assert checks.is_ignored(path, patterns), path
