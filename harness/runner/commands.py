"""The one place that says how a service process is started.

The containers in docker-compose.yml run the very same argv (with `python` for the interpreter);
tests/compose checks that they agree.
"""

from __future__ import annotations

import sys


def service_argv(service: str) -> list[str]:
    return [sys.executable, "-m", "system", service]


def toxiproxy_argv(host: str, port: int, seed: int | None = None) -> list[str]:
    argv = [sys.executable, "-m", "harness.toxiproxy", "--host", host, "--port", str(port)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return argv
