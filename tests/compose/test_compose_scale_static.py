"""docker-compose.scale.yml (PostgreSQL, second replicas, the cluster profile), checked without a
Docker engine: the real files pass, and a copy broken in one way fails with that problem."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from harness.targets.compose import checks, interpolate
from harness.targets.compose.scale import SCALE_FILE, merge, scale_problems


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    base = interpolate(yaml.safe_load(checks.COMPOSE_FILE.read_text()), {})
    return merge(base, interpolate(yaml.safe_load(SCALE_FILE.read_text()), {}))


def test_the_overlay_merged_with_the_demo_is_a_valid_compose_file(merged):
    assert checks.schema_problems(merged, checks.load_schema()) == []
    assert checks.path_problems(merged, checks.ROOT) == []
    assert checks.depends_on_problems(merged) == []


def test_the_real_files_have_no_problem(merged):
    assert scale_problems(merged) == []


@pytest.mark.parametrize(("breaking", "expected"), [
    (lambda c: c["services"]["payment-service-2"]["environment"].pop("SAGA_STORE"), "payment-service-2: SAGA_STORE"),
    (lambda c: c["services"]["order-service"]["environment"].update(SAGA_STORE="sqlite"), "order-service: SAGA_STORE"),
    (lambda c: c["services"]["delivery-service-2"].update(ports=["127.0.0.1:8004:8004"]), "publishes a host port"),
    (lambda c: c["services"]["inventory-service-2"].update(command=["python", "-m", "system", "order"]), "command"),
    (lambda c: c["services"]["payment-service-2"]["environment"].update(SAGA_SEED="7"), "differs from payment-service's in SAGA_SEED"),
    (lambda c: c["services"]["rabbitmq-3"]["environment"].update(RABBITMQ_ERLANG_COOKIE="other"), "rabbitmq-3: RABBITMQ_ERLANG_COOKIE"),
    (lambda c: c["services"]["rabbitmq-2"].pop("profiles"), "rabbitmq-2: belongs to the cluster profile"),
    (lambda c: c["services"].pop("postgres"), "no postgres service"),
])
def test_each_check_fails_on_a_copy_broken_its_way(merged, breaking, expected):
    broken = copy.deepcopy(merged)
    breaking(broken)
    assert any(expected in problem for problem in scale_problems(broken)), scale_problems(broken)
