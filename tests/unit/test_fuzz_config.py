"""`make fuzz`'s configuration is valid: every service's OpenAPI loads in schemathesis, the checks
exist, the run is bounded and seeded, and the report parser reads schemathesis's events."""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import pytest
import schemathesis  # a dev extra: `make install` brings it

from system.app import create_app
from system.config import service_config
from system.contracts import SERVICES
from system.registry import SERVICE_LOGIC

ROOT = Path(__file__).resolve().parents[2]


def load_fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_tool", ROOT / "tools" / "fuzz.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def routes_of(service: str):
    import importlib

    return importlib.import_module(f"system.{service}.api").routes


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_schema_loads_in_schemathesis(service, tmp_path):
    config = service_config(service, {"SAGA_DATA_DIR": str(tmp_path)})
    openapi = create_app(config, SERVICE_LOGIC[service], routes_of(service)).openapi()
    schema = schemathesis.openapi.from_dict(openapi)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert {"GET /health", "GET /ready"} <= {op.label for op in operations}


def test_the_run_is_bounded_seeded_and_its_checks_exist(tmp_path):
    from schemathesis.checks import CHECKS

    fuzz = load_fuzz()
    assert set(fuzz.CHECKS) <= set(CHECKS.get_all_names())
    plan = fuzz.plan_from_env({"SAGA_FUZZ_SEED": "7", "SAGA_FUZZ_EXAMPLES": "3"}, tmp_path)
    command = plan.command("order", "http://127.0.0.1:1")
    assert command[command.index("--seed") + 1] == "7" and command[command.index("--max-examples") + 1] == "3"
    assert float(command[command.index("--max-response-time") + 1]) <= 10  # a hang fails the run
    assert Path(command[0]).name == "schemathesis"
    assert fuzz.plan_from_env({}, tmp_path).max_examples == fuzz.DEFAULT_EXAMPLES


def test_the_config_file_loads_and_excuses_only_readiness():
    from schemathesis.config import SchemathesisConfig

    fuzz = load_fuzz()
    project = SchemathesisConfig.from_path(str(fuzz.CONFIG_FILE)).projects.get_default()
    [only] = project.operations.operations  # schemathesis accepts the file
    assert "503" in only.checks.not_a_server_error.expected_statuses
    [raw] = tomllib.loads(fuzz.CONFIG_FILE.read_text())["operations"]
    assert {k for k in raw if k.startswith("include")} == {"include-path"} and raw["include-path"] == "/ready"


def test_the_report_parser_counts_requests_operations_and_failures():
    fuzz = load_fuzz()

    def scenario(label, statuses, failing):
        return json.dumps({"ScenarioFinished": {"recorder": {
            "label": label,
            "interactions": {str(i): {"response": {"status_code": s}} for i, s in enumerate(statuses)},
            "checks": {"0": [{"name": "not_a_server_error", "status": "failure" if failing else "success",
                              "failure_info": {"failure": {"code": "ST100"}}}]},
        }}})

    lines = [json.dumps({"Initialize": {"seed": 7}}), scenario("GET /a", [200, 500], True),
             scenario("GET /a", [200], True), scenario("POST /b", [422, 201], False)]
    figures = fuzz.figures_from_ndjson(lines)
    assert (figures.operations, figures.requests, figures.server_errors, figures.failures) == (2, 5, 1, 1)
