"""Issue #14 items 2 and 9 on all four services, in-process: a POST body with non-finite numbers
gets a 422 naming the field (not a 500), on the chaos endpoints too and without a token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.inprocess import InProcessTransport
from system.__main__ import build_app
from system.contracts import SERVICES
from tests.api.conftest import NO_BROKER

CHAOS_BODIES = [
    ("/_chaos/crashpoints", b'{"point": "before_commit", "skip": 1e400}', "skip"),
    ("/_chaos/crashpoints", b'{"point": NaN}', "point"),
    ("/_chaos/handler-faults", b'{"routing_key": null, "count": Infinity}', "count"),
    ("/_chaos/handler-faults", b'{"count": [-Infinity, {"x": NaN}]}', "count"),
]


@pytest.fixture(params=SERVICES)
def service_http(request, tmp_path, monkeypatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv("SAGA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAGA_AMQP_URL", NO_BROKER)
    monkeypatch.delenv("SAGA_CHAOS_TOKEN", raising=False)
    _, app = build_app(request.param)
    transport = InProcessTransport(app)
    try:
        with httpx.Client(transport=transport, base_url=f"http://{request.param}.in-process") as client:
            yield client
    finally:
        transport.close()


@pytest.mark.parametrize(("path", "body", "field"), CHAOS_BODIES)
def test_non_finite_numbers_on_the_chaos_surface_are_a_422_naming_the_field(service_http, path, body, field):
    response = service_http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"{field}: ")


def test_a_non_utf8_body_is_a_422_on_every_service(service_http):
    response = service_http.post(
        "/_chaos/handler-faults", content=b'{"count": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "not UTF-8" in response.json()["detail"]


def test_every_service_documents_its_422_body(service_http):
    doc = service_http.get("/openapi.json").json()
    assert set(doc["components"]["schemas"]["HTTPValidationError"]["properties"]) == {"detail", "errors"}
    assert "ValidationError" not in doc["components"]["schemas"]  # FastAPI's default, which we never send
    for path in ("/_chaos/crashpoints", "/_chaos/handler-faults"):
        assert set(doc["paths"][path]["post"]["responses"]) == {"200", "403", "404", "413", "422"}
    assert "503" in doc["paths"]["/ready"]["get"]["responses"]
