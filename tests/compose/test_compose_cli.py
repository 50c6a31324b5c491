"""`docker compose config` (or Compose v1's `docker-compose config`) on the real file.

`config` only parses, validates and interpolates: it needs no engine. Each Compose CLI found on
the machine is tried; one that is missing is skipped with the reason. (Debian's `docker-compose`
package brings v1; the docker CLI here has no Compose plugin.)
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.targets.compose import ComposeSystem, checks
from system.contracts import SERVICES

CLIS = {"docker compose": ["docker", "compose"], "docker-compose": ["docker-compose"]}


@functools.cache
def _available(argv: tuple[str, ...]) -> str | None:
    """None if this Compose CLI works here, else why not."""
    if not shutil.which(argv[0]):
        return f"{argv[0]} is not installed"
    done = subprocess.run([*argv, "version"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        first_line = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[0]
        return f"`{' '.join(argv)} version` failed: {first_line}"
    return None


@pytest.fixture(params=list(CLIS), ids=list(CLIS))
def compose_cli(request: pytest.FixtureRequest) -> list[str]:
    argv = CLIS[request.param]
    reason = _available(tuple(argv))
    if reason:
        pytest.skip(reason)
    return argv


def _env(**extra: str) -> dict[str, str]:
    # Only what a CLI needs, so a developer's SAGA_* variables cannot change the outcome.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return {**env, **extra}


def _config(
    cli: list[str], compose_file: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, "-f", str(compose_file), "--project-directory", str(checks.ROOT), "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(**env),
    )


def test_compose_config_accepts_the_file(compose_cli: list[str]) -> None:
    done = _config(compose_cli, checks.COMPOSE_FILE, "-q")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    hostname: rabbitmq", "    hostnme: rabbitmq", "hostnme"),
        ("condition: service_healthy", "condition: healthy", "healthy"),
    ],
    ids=["unknown-key", "bad-condition"],
)
def test_compose_config_rejects_a_broken_file(
    compose_cli: list[str], tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = checks.COMPOSE_FILE.read_text()
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new))
    done = _config(compose_cli, broken, "-q")
    assert done.returncode != 0
    assert expected in done.stderr + done.stdout


@pytest.mark.parametrize("token", ["", "s3cret"], ids=["unset", "set"])
def test_compose_and_the_harness_resolve_the_file_alike(compose_cli: list[str], token: str) -> None:
    """Compose's own interpolation and the compose target's agree on every service's
    environment and command; the chaos token is empty unless the caller sets it."""
    extra = {"SAGA_CHAOS_TOKEN": token} if token else {}
    done = _config(compose_cli, checks.COMPOSE_FILE, **extra)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    ours = ComposeSystem(checks.COMPOSE_FILE, env=_env(**extra), say=lambda line: None).compose[
        "services"
    ]
    for name in resolved:
        assert checks.environment(resolved[name]) == checks.environment(ours[name]), name
        assert resolved[name].get("command") == ours[name].get("command"), name
    for service in SERVICES:
        assert checks.environment(resolved[f"{service}-service"])["SAGA_CHAOS_TOKEN"] == token
