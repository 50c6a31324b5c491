"""harness.targets.compose: what the harness reads from the compose file, and how it drives it."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.runner.layout import Endpoints
from harness.targets.compose import (
    ComposeError,
    ComposeSystem,
    ComposeUnavailable,
    PublishedPort,
    checks,
    compose_service,
    external_target_env,
    interpolate,
    published_ports,
    read_dotenv,
)
from harness.targets.compose.__main__ import main
from harness.targets.target import external_endpoints
from system.contracts import SERVICES


def system(
    env: dict[str, str] | None = None, compose_file: Path = checks.COMPOSE_FILE
) -> ComposeSystem:
    return ComposeSystem(compose_file, env=env or {"PATH": "/usr/bin:/bin"}, say=lambda line: None)


# -- reading the compose file -----------------------------------------------------------------


def test_endpoints_are_the_published_ports() -> None:
    assert system().endpoints() == Endpoints(
        services={
            "order": "http://127.0.0.1:8001",
            "inventory": "http://127.0.0.1:8002",
            "payment": "http://127.0.0.1:8003",
            "delivery": "http://127.0.0.1:8004",
        },
        order_api="http://127.0.0.1:28001",
        amqp_url="amqp://saga.harness:saga-harness-demo@127.0.0.1:5672/",  # the harness's own user
        toxiproxy_url="http://127.0.0.1:8474",
    )


@pytest.fixture
def compose_copy(tmp_path: Path) -> Path:
    """docker-compose.yml and the Toxiproxy config it mounts, in a scratch directory."""
    (tmp_path / "deploy").mkdir()
    shutil.copy(checks.ROOT / "deploy" / "toxiproxy.json", tmp_path / "deploy" / "toxiproxy.json")
    shutil.copy(checks.COMPOSE_FILE, tmp_path / "docker-compose.yml")
    return tmp_path / "docker-compose.yml"


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_endpoints_follow_the_compose_file(compose_copy: Path) -> None:
    _replace(compose_copy, '"127.0.0.1:8003:8003"', '"9003:8003"')
    _replace(compose_copy, '"127.0.0.1:28001:28001"', '"127.0.0.1:38001:28001"')
    endpoints = system(compose_file=compose_copy).endpoints()
    assert endpoints.services["payment"] == "http://127.0.0.1:9003"
    assert endpoints.order_api == "http://127.0.0.1:38001"


def test_order_api_falls_back_to_the_service_when_the_proxy_is_not_published(
    compose_copy: Path,
) -> None:
    _replace(compose_copy, '- "127.0.0.1:28001:28001"', "")
    assert system(compose_file=compose_copy).endpoints().order_api == "http://127.0.0.1:8001"


def test_an_unpublished_toxiproxy_api_is_an_error(compose_copy: Path) -> None:
    _replace(compose_copy, '- "127.0.0.1:8474:8474"', "")
    with pytest.raises(ComposeError, match="8474"):
        system(compose_file=compose_copy).endpoints()


def test_a_missing_compose_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="no compose file"):
        system(compose_file=tmp_path / "docker-compose.yml")


def test_proxy_map_has_the_local_runners_shape() -> None:
    proxy_map = system().proxy_map()
    assert proxy_map["toxiproxy_url"] == "http://127.0.0.1:8474"
    assert proxy_map["proxies"]["amqp_payment"] == {
        "listen": "0.0.0.0:56723",
        "upstream": "rabbitmq:5672",
    }
    assert set(proxy_map["proxies"]) == {f"amqp_{s}" for s in SERVICES} | {"http_order"}


def test_the_external_target_reads_back_the_same_endpoints() -> None:
    endpoints = system().endpoints()
    assert external_endpoints(external_target_env(endpoints)) == endpoints


def test_chaos_token_is_off_unless_the_caller_sets_it() -> None:
    assert system().chaos_token() is None
    assert system({"SAGA_CHAOS_TOKEN": "s3cret"}).chaos_token() == "s3cret"


def test_dotenv_beside_the_compose_file_is_read_and_the_environment_wins(
    compose_copy: Path,
) -> None:
    (compose_copy.parent / ".env").write_text(
        "# comment\nSAGA_CHAOS_TOKEN='from-dotenv'\nSAGA_SEED=7\n"
    )
    assert read_dotenv(compose_copy.parent / ".env") == {
        "SAGA_CHAOS_TOKEN": "from-dotenv",
        "SAGA_SEED": "7",
    }
    assert system(compose_file=compose_copy).chaos_token() == "from-dotenv"
    assert system({"SAGA_CHAOS_TOKEN": "env"}, compose_file=compose_copy).chaos_token() == "env"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:-}", {}, ""),
        ("${A}", {"A": "x"}, "x"),
        ("$A/$B", {"A": "x"}, "x/"),
        ("$${A}", {"A": "x"}, "${A}"),
        ("${A:+alt}", {"A": "x"}, "alt"),
        ("${A:+alt}", {}, ""),
        ("${A:?needed}", {"A": "x"}, "x"),
    ],
)
def test_interpolation(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env) == expected


def test_interpolation_of_a_required_variable_that_is_missing() -> None:
    with pytest.raises(ComposeError, match="needed"):
        interpolate({"x": ["${A:?needed}"]}, {})


def test_published_ports_short_and_long_syntax() -> None:
    ports = published_ports(
        {
            "ports": [
                "8001:8001",
                "127.0.0.1:5672:5672/tcp",
                "9000",
                {"target": 80, "published": 8080, "host_ip": "127.0.0.1"},
            ]
        }
    )
    assert ports == [
        PublishedPort("0.0.0.0", 8001, 8001),
        PublishedPort("127.0.0.1", 5672, 5672),
        PublishedPort("127.0.0.1", 8080, 80),
    ]


def test_compose_service_names() -> None:
    assert [compose_service(s) for s in SERVICES] == [
        "order-service",
        "inventory-service",
        "payment-service",
        "delivery-service",
    ]
    with pytest.raises(ValueError):
        compose_service("billing")


# -- the Compose CLI --------------------------------------------------------------------------


def test_crash_and_restart_are_compose_kill_and_start() -> None:
    target = system()
    file = str(checks.COMPOSE_FILE)
    assert target.compose_argv("kill", "-s", "SIGKILL", "order-service") == [
        "docker",
        "compose",
        "-f",
        file,
        "kill",
        "-s",
        "SIGKILL",
        "order-service",
    ]
    assert target.compose_argv("start", "order-service")[-2:] == ["start", "order-service"]
    v1 = system({"SAGA_COMPOSE": "docker-compose"})
    v1.project = "demo"
    assert v1.compose_argv("stop", "rabbitmq") == [
        "docker-compose",
        "-f",
        file,
        "-p",
        "demo",
        "stop",
        "rabbitmq",
    ]


def test_kill_and_start_run_the_compose_commands() -> None:
    """The commands really run, in order (a recording runner stands in for the engine here)."""
    calls: list[list[str]] = []

    def record(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    target = ComposeSystem(checks.COMPOSE_FILE, env={}, run=record, say=lambda line: None)
    target.kill_service("payment")
    target.start_service("payment")
    target.restart_broker()
    assert [c[4:] for c in calls] == [
        ["kill", "-s", "SIGKILL", "payment-service"],
        ["start", "payment-service"],
        ["restart", "rabbitmq"],
    ]


def test_a_missing_compose_command_says_what_to_install() -> None:
    with pytest.raises(ComposeUnavailable, match="SAGA_COMPOSE"):
        system({"SAGA_COMPOSE": "/nonexistent/docker"}).kill_service("order")


def _engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker CLI on this machine")
def test_a_docker_cli_without_the_compose_plugin_is_reported() -> None:
    if (
        subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode
        == 0
    ):
        pytest.skip("this docker CLI has the Compose plugin")
    with pytest.raises(ComposeUnavailable, match="no Compose plugin"):
        system({"PATH": "/usr/local/bin:/usr/bin:/bin"}).kill_service("order")


@pytest.mark.skipif(
    not shutil.which("docker-compose"), reason="docker-compose (v1) is not installed"
)
def test_without_an_engine_a_crash_fails_with_compose_own_reason() -> None:
    if _engine_answers():
        pytest.skip("a Docker engine answers here; this test is about its absence")
    with pytest.raises(ComposeError) as error:
        system(
            {"SAGA_COMPOSE": "docker-compose", "PATH": "/usr/local/bin:/usr/bin:/bin"}
        ).kill_service("order")
    message = str(error.value)
    assert "kill -s SIGKILL order-service" in message
    assert "server API version" in message  # Compose's last words, not its whole traceback
    assert "Traceback" not in message


# -- readiness, against a real HTTP server on the published port --------------------------------


class _Ready(BaseHTTPRequestHandler):
    status = 200
    body = {"status": "ready"}

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        payload = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ready_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Ready]]]:
    handler = type("Handler", (_Ready,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


def test_status_asks_each_service_ready_on_its_published_port(
    compose_copy: Path, ready_server
) -> None:
    server, handler = ready_server
    _replace(compose_copy, '"127.0.0.1:8002:8002"', f'"127.0.0.1:{server.server_port}:8002"')
    target = system(compose_file=compose_copy)
    status = target.service_status("inventory")
    assert (status.ready, status.port) == (True, server.server_port)
    handler.status, handler.body = 503, {"reason": "broker connection lost"}
    status = target.service_status("inventory")
    assert (status.ready, status.reason) == (False, "broker connection lost")
    with pytest.raises(ComposeError, match="broker connection lost"):
        target.wait_ready(timeout=0.2, services=("inventory",))


def test_main_prints_exports_for_the_external_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "-f", str(checks.COMPOSE_FILE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "export SAGA_TARGET=external" in lines
    assert "export TOXIPROXY_URL=http://127.0.0.1:8474" in lines
    assert main(["nonsense"]) == 254
    assert main(["env", "-f", "/nonexistent/docker-compose.yml"]) == 1
