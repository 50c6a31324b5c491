"""The handler-fault control surface, in-process: gated like the crash points, then armed,
listed and cleared (the lifespan, and so the broker, is never started here)."""

from dataclasses import replace

from fastapi.testclient import TestClient

from system.app import create_app
from system.config import service_config
from system.order.api import routes
from system.registry import SERVICE_LOGIC

URL = "/_chaos/handler-faults"


def client(token: str | None) -> TestClient:
    config = replace(service_config("order", {}), chaos_token=token)
    return TestClient(create_app(config, SERVICE_LOGIC["order"], routes))


def test_without_a_chaos_token_the_surface_does_not_exist():
    assert client(None).post(URL, json={"count": 1}).status_code == 404


def test_a_wrong_token_is_refused():
    assert client("s3cret").get(URL, headers={"X-Chaos-Token": "nope"}).status_code == 403


def test_arm_list_and_clear():
    c, token = client("s3cret"), {"X-Chaos-Token": "s3cret"}
    armed = c.post(URL, json={"routing_key": "inventory.reserved", "count": 3}, headers=token)
    assert armed.status_code == 200 and armed.json()["armed"] == {"routing_key": "inventory.reserved", "count": 3}
    assert c.post(URL, json={"count": 2}, headers=token).json()["armed"] == {"routing_key": None, "count": 2}
    assert len(c.get(URL, headers=token).json()["armed"]) == 2
    assert c.post(URL, json={"count": 0}, headers=token).status_code == 422
    assert c.delete(URL, headers=token).status_code == 204
    assert c.get(URL, headers=token).json()["armed"] == []
