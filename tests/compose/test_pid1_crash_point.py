"""Why the compose services run with `init: true`: a crash point cannot kill PID 1.

A crash point ends its service with `os.kill(os.getpid(), SIGKILL)`. The kernel drops signals a
PID namespace's init has no handler for, SIGKILL included, when they come from inside the
namespace (pid_namespaces(7)). In a container without an init, python is PID 1: the "crash" would
be ignored and the handler would go on. These tests show the rule in a fresh PID namespace
(`unshare`, root only), then run the real crash point as a child of another process, which is
what `init: true` arranges.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from harness.targets.compose import checks

CRASH = (
    "from system.messaging.crashpoints import CrashPoints\n"
    "points = CrashPoints()\n"
    "points.arm('after_commit_before_ack')\n"
    "print('pid', __import__('os').getpid(), flush=True)\n"
    "points.hit('after_commit_before_ack', 'payment.process')\n"
    "print('survived', flush=True)\n"
)


def _unshare(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which("unshare"):
        pytest.skip("unshare is not installed")
    done = subprocess.run(
        ["unshare", "--pid", "--fork", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=checks.ROOT,
        env={**os.environ, "PYTHONPATH": str(checks.ROOT), **env},
    )
    if "Operation not permitted" in done.stderr:
        pytest.skip("creating a PID namespace needs root")
    return done


SELF_KILL = (
    "import os, signal\n"
    "print('pid', os.getpid(), flush=True)\n"
    "os.kill(os.getpid(), signal.SIGKILL)  # what a crash point does\n"
    "print('survived', flush=True)\n"
)


def test_as_pid_1_a_process_survives_its_own_sigkill() -> None:
    done = _unshare([sys.executable, "-c", SELF_KILL])
    assert "pid 1" in done.stdout
    assert "survived" in done.stdout  # the kernel ignored SIGKILL: no crash happened


def test_under_an_init_the_crash_point_kills_the_service() -> None:
    # sh is PID 1 here, standing in for the init (tini) that `init: true` runs.
    done = _unshare(
        ["/bin/sh", "-c", '"$PY" -c "$CRASH"; echo "exit=$?"'], PY=sys.executable, CRASH=CRASH
    )
    assert "pid 2" in done.stdout
    assert "survived" not in done.stdout
    assert "exit=137" in done.stdout  # 128 + SIGKILL
