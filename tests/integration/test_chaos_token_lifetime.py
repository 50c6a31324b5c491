"""The chaos token belongs to one `up --chaos` (issue 14, item 7): `down` removes it, a plain `up`
never turns the crash-point surface on, and `restart` keeps the mode the run was started with."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from harness.pytest_plugin import TEST_PORT_BASE
from harness.runner.instance import fresh_isolated_env
from harness.runner.layout import service_port
from system.contracts import SERVICES


def _surface(env: dict[str, str], token: str | None) -> dict[str, int]:
    """Each service's answer to GET /_chaos/crashpoints: 404 while its control surface is off."""
    headers = {"X-Chaos-Token": token} if token else {}
    return {s: httpx.get(f"http://127.0.0.1:{service_port(s, env)}/_chaos/crashpoints", headers=headers,
                         timeout=5).status_code for s in SERVICES}


def test_a_chaos_token_lives_from_up_chaos_to_down() -> None:
    name = f"{os.environ.get('SAGA_TEST_INSTANCE', 'test')}-token"
    env = fresh_isolated_env(name, int(os.environ.get("SAGA_TEST_PORT_BASE", TEST_PORT_BASE)) + 100)
    env["SAGA_NO_PROXY"] = "1"  # the token's life does not depend on the proxies: start faster
    token_file = os.path.join(env["SAGA_HOME"], "chaos-token")

    def saga(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    off = dict.fromkeys(SERVICES, 404)
    try:
        saga("up", "--chaos")
        token = open(token_file).read().strip()
        assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
        assert _surface(env, token) == dict.fromkeys(SERVICES, 200)
        saga("kill", "payment")
        saga("restart", "payment")  # a restart inside a chaos run keeps the surface on
        assert _surface(env, token)["payment"] == 200

        saga("down")
        assert not os.path.exists(token_file)
        saga("up")
        assert not os.path.exists(token_file)
        assert _surface(env, token) == off
        saga("kill", "payment")
        saga("restart", "payment")  # and a restart inside a plain run keeps it off
        assert _surface(env, token) == off

        # A chaos run that ended without `down` (a reboot, a kill -9): its token must not carry over.
        saga("down")
        with open(token_file, "w") as stale:
            stale.write(token)
        env["SAGA_CHAOS_TOKEN"] = token  # nor does a token in the caller's environment, without --chaos
        saga("up")
        assert not os.path.exists(token_file)
        assert _surface(env, token) == off
    finally:
        saga("down")
