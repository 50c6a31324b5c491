"""`saga-harness fault ...` and `saga-harness toxiproxy` as a user runs them."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import harness.faults.cli as fault_cli
import harness.toxiproxy.cli as toxiproxy_cli
from harness.cli import _Parser
from harness.toxiproxy.client import NotFound
from tests.toxiproxy.txp_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> int:
    """Parse and run like harness.cli.main does, with only the modules under test registered."""
    parser = _Parser(prog="saga-harness")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    fault_cli.register(sub)
    toxiproxy_cli.register(sub)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return args.func(args)


@pytest.fixture
def order_proxy(client, echo_port):
    for name in ("amqp_order",):
        try:
            client.delete_proxy(name)
        except NotFound:
            pass
    client.create_proxy("amqp_order", f"127.0.0.1:{echo_port}")
    yield
    client.delete_proxy("amqp_order")


def test_fault_add_list_heal(client, order_proxy, capsys):
    url = client.url
    assert (
        run(
            "fault",
            "add",
            "latency",
            "--target",
            "order",
            "--attr",
            "latency=20",
            "--attr",
            "jitter=5",
            "--url",
            url,
        )
        == 0
    )
    assert "chaos_latency_downstream" in capsys.readouterr().out
    assert [t.attributes for t in client.toxics("amqp_order")] == [{"latency": 20, "jitter": 5}]
    assert run("fault", "list", "--url", url) == 0
    assert "chaos_latency_downstream" in capsys.readouterr().out
    assert run("fault", "heal", "--url", url) == 0
    assert client.toxics("amqp_order") == []


def test_fault_partition_then_heal(client, order_proxy):
    assert run("fault", "partition", "--target", "order", "--url", client.url) == 0
    assert client.get_proxy("amqp_order").enabled is False
    assert run("fault", "heal", "--url", client.url) == 0
    assert client.get_proxy("amqp_order").enabled is True


@pytest.mark.parametrize(
    "argv",
    [
        ["fault", "add", "latency", "--target", "nowhere", "--attr", "latency=1"],
        ["fault", "add", "latency", "--target", "order", "--attr", "latency=fast"],
        ["fault", "add", "latency", "--target", "order", "--attr", "speed=1"],
        ["fault", "add", "volcano", "--target", "order"],
        ["fault", "add", "latency"],
        ["fault", "add", "latency", "--target", "order", "--stream", "sideways"],
        ["fault"],
    ],
)
def test_bad_usage_exits_254_with_a_message(client, argv, capsys):
    assert run(*argv, *(["--url", client.url] if len(argv) > 1 else [])) == 254
    assert "error" in capsys.readouterr().err


def test_unreachable_server_exits_2_and_says_how_to_start_it(capsys):
    # As for every unreachable target (harness/exits.py): the outcome is unknown, not "refused".
    assert run("fault", "list", "--url", f"http://127.0.0.1:{free_port()}") == 2
    err = capsys.readouterr().err
    assert "not reachable" in err and "saga-harness toxiproxy" in err


def test_missing_proxy_exits_1(client, capsys):
    assert (
        run(
            "fault",
            "add",
            "latency",
            "--target",
            "delivery",
            "--attr",
            "latency=1",
            "--url",
            client.url,
        )
        == 1
    )
    assert "proxy not found" in capsys.readouterr().err


def test_toxiproxy_subcommand_registers_its_options():
    parser = argparse.ArgumentParser()
    toxiproxy_cli.register(parser.add_subparsers())
    args = parser.parse_args(["toxiproxy", "--port", "9000", "--seed", "3", "--config", "x.json"])
    assert (args.host, args.port, args.seed, args.config) == ("127.0.0.1", 9000, 3, "x.json")
    assert args.func is toxiproxy_cli.handler


def test_python_m_runs_the_server_logs_its_seed_and_loads_a_config(tmp_path, echo_port):
    config = tmp_path / "proxies.json"
    entry = {
        "name": "cfg",
        "listen": "127.0.0.1:0",
        "upstream": f"127.0.0.1:{echo_port}",
        "toxics": [{"type": "latency", "attributes": {"latency": 5}}],
    }
    config.write_text(json.dumps([entry]))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.toxiproxy",
            "--port",
            str(port),
            "--seed",
            "42",
            "--config",
            str(config),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                proxy = httpx.get(f"http://127.0.0.1:{port}/proxies/cfg", timeout=1).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        assert proxy["toxics"][0]["attributes"] == {"latency": 5, "jitter": 0}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "seed=42" in err
