"""The local runner: clear errors instead of hangs, and `up` that only starts what is down."""

import os
import subprocess
import sys


def _saga_harness(args, env_changes, tmp_path):
    env = {**os.environ, "SAGA_HOME": str(tmp_path / "home"), **env_changes}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_up_without_a_broker_says_so_and_how_to_start_it(tmp_path):
    done = _saga_harness(["up"], {"SAGA_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"}, tmp_path)
    assert done.returncode == 1
    assert "RabbitMQ is not reachable at 127.0.0.1:1" in done.stderr
    assert "rabbitmq-server -detached" in done.stderr
    assert not (tmp_path / "home" / "order.pid").exists()  # nothing was started


def test_status_of_a_system_that_is_down(tmp_path):
    ports = {f"SAGA_{s}_PORT": str(p) for s, p in zip(("ORDER", "INVENTORY", "PAYMENT", "DELIVERY"), range(18901, 18905), strict=True)}
    done = _saga_harness(["status"], ports, tmp_path)
    assert done.returncode == 1
    # One line per process: with SAGA_REPLICAS=N (and nothing running to say otherwise), N a service.
    assert done.stdout.count("NOT READY: not running") == 4 * int(os.environ.get("SAGA_REPLICAS") or 1)


def test_bad_usage_exits_254(tmp_path):
    done = _saga_harness(["kill", "shipping"], {}, tmp_path)
    assert done.returncode == 254 and "not a service or replica: 'shipping'" in done.stderr


def test_up_again_starts_nothing_new(saga_target):
    system = saga_target.require_process_control()
    before = {s.service: s.pid for s in system.status()}
    said = []
    system.say = said.append
    try:
        statuses = system.up(chaos=True, timeout=60)
    finally:
        system.say = lambda line: None
    assert {s.service: s.pid for s in statuses} == before
    assert sum("already running" in line for line in said) == len(before)  # each process, replicas too
