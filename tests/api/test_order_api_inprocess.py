"""The order API's input checks and paging, in-process against the ASGI app (no live servers)."""

from __future__ import annotations

import pytest

from tests.api_input_cases import (
    GOOD,
    INVALID_FIELDS,
    MALFORMED_JSON,
    NON_FINITE,
    NOT_UTF8,
    OVERSIZED,
    REQUIRED,
    TOO_DEEP,
    post_order,
)


@pytest.mark.parametrize(("change", "expected_words"), INVALID_FIELDS)
def test_invalid_fields_are_rejected_with_a_message(order_client, change, expected_words):
    response = post_order(order_client, {"user_id": "u-bad", **GOOD, **change})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    for word in expected_words:
        assert word in detail
    assert order_client.orders() == []  # nothing half-created


@pytest.mark.parametrize("missing", REQUIRED)
def test_missing_field_is_named(order_client, missing):
    body = {"user_id": "u-missing", **GOOD}
    del body[missing]
    response = post_order(order_client, body)
    assert response.status_code == 422 and missing in response.json()["detail"]


def test_malformed_json_is_a_4xx(order_client):
    response = post_order(order_client, raw=MALFORMED_JSON)
    assert 400 <= response.status_code < 500 and "JSON" in response.text


def test_oversized_body_is_413(order_client):
    response = post_order(order_client, raw=OVERSIZED)
    assert response.status_code == 413 and "exceeds" in response.json()["detail"]


def test_idempotency_key_with_a_different_body_is_a_conflict(order_client):
    first = order_client.place_order("product_1", 1, 10.0, user_id="u-key", idempotency_key="k1")
    again = order_client.place_order("product_1", 1, 10.0, user_id="u-key", idempotency_key="k1")
    clash = order_client.place_order("product_1", 2, 10.0, user_id="u-key", idempotency_key="k1")
    assert (first.status_code, again.status_code, clash.status_code) == (201, 200, 409)
    assert again.json()["order_id"] == first.json()["order_id"]
    assert "different request body" in clash.json()["detail"]
    assert len(order_client.orders()) == 1


# --- paging: GET /orders?limit=&after= with X-Next-After ------------------------------------------
def _place(client, n: int) -> list[str]:
    ids = []
    for i in range(n):
        response = client.place_order("product_1", 1, 1.0, user_id=f"u{i}")
        assert response.status_code == 201, response.text
        ids.append(response.json()["order_id"])
    return ids


def test_a_page_says_where_the_next_one_starts(order_client):
    placed = _place(order_client, 5)
    url = order_client.endpoints.services["order"] + "/orders"
    first = order_client.http.get(url, params={"limit": 2})
    assert [o["order_id"] for o in first.json()] == placed[:2]
    cursor = first.headers["X-Next-After"]
    second = order_client.http.get(url, params={"limit": 3, "after": cursor})
    assert [o["order_id"] for o in second.json()] == placed[2:]
    assert "X-Next-After" not in second.headers  # the last page says so by not naming a next one


def test_the_client_reads_every_page(order_client):
    placed = _place(order_client, 7)
    assert [o["order_id"] for o in order_client.orders(page=2)] == placed
    assert [o["order_id"] for o in order_client.orders(status="pending", page=3)] == placed


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 10_001}, {"after": "not-a-cursor"}])
def test_bad_paging_parameters_are_422(order_client, params):
    url = order_client.endpoints.services["order"] + "/orders"
    assert order_client.http.get(url, params=params).status_code == 422


def test_equal_timestamps_page_without_gaps_or_repeats(tmp_path):
    """Keyset paging orders by (created_at, order_id): a page boundary inside a run of equal
    timestamps neither skips nor repeats an order."""
    from system.order import store
    from system.order.domain import OrderRequest, place_order
    from system.stores.sqlite import open_database

    db = open_database(tmp_path / "order.sqlite3", store.TABLES)
    request = OrderRequest("u", "product_1", 1, 1.0, None, None)
    ids = [f"{n:02d}-{'x' * n}" for n in range(9)]
    for order_id in reversed(ids):  # inserted out of order, all at the same instant
        order = place_order(order_id, request, "2026-01-01T00:00:00.000000+00:00", None).state
        store.insert(db, order)
    seen, after = [], None
    while True:
        page = store.list_orders(db, limit=4, after=after)
        seen += [o.order_id for o in page]
        if len(page) < 4:
            break
        after = store.page_cursor(page[-1])
    assert seen == ids


# --- issue #14: hostile bodies get a 422 naming the problem, never a 500 or a 400 ---------------
@pytest.mark.parametrize(("raw", "expected_words"), NON_FINITE)
def test_non_finite_numbers_get_an_encodable_422_naming_the_field(order_client, raw, expected_words):
    response = post_order(order_client, raw=raw)
    assert response.status_code == 422, response.text
    problem = response.json()
    for word in expected_words:
        assert word in problem["detail"]
    assert all(set(item) == {"loc", "msg", "type"} for item in problem["errors"])  # no input echoed
    assert order_client.orders() == []


def test_a_body_that_is_not_utf8_is_a_422_naming_the_encoding(order_client):
    response = post_order(order_client, raw=NOT_UTF8)
    assert response.status_code == 422, response.text
    assert "body: JSON decode error: body is not UTF-8" in response.json()["detail"]


def test_a_body_nested_too_deeply_is_a_422(order_client):
    response = post_order(order_client, raw=TOO_DEEP)
    assert response.status_code == 422, response.text
    assert "nests too deeply" in response.json()["detail"]


def test_the_openapi_document_describes_the_answers_of_post_orders(order_client):
    doc = order_client.http.get(order_client.endpoints.services["order"] + "/openapi.json").json()
    answers = doc["paths"]["/orders"]["post"]["responses"]
    assert set(answers) == {"200", "201", "409", "413", "422"}
    problem = answers["422"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema = doc["components"]["schemas"][problem]
    assert set(schema["properties"]) == {"detail", "errors"}
    items = doc["components"]["schemas"]["ValidationItem"]
    assert set(items["properties"]) == {"loc", "msg", "type"}
    # Every 422 FastAPI documents (GET /orders' query parameters too) points at that same body.
    get_422 = doc["paths"]["/orders"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert doc["components"]["schemas"][get_422.rsplit("/", 1)[1]] == schema
    assert "404" in doc["paths"]["/orders/{order_id}"]["get"]["responses"]
    amount = doc["components"]["schemas"]["CreateOrder"]["properties"]["amount"]
    assert amount["exclusiveMinimum"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "null"}, "query.status: unknown status 'null'"), ({"after": "not-a-cursor"}, "query.after: ")],
)
def test_a_422_the_route_decides_has_the_one_422_body(order_client, params, field):
    """Found by `make fuzz` (schemathesis, seed 20261130): an unknown status answered a bare
    `{"detail": str}`, not the documented `{"detail", "errors"}` every other 422 has."""
    url = order_client.endpoints.services["order"] + "/orders"
    response = order_client.http.get(url, params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith(field), body
    assert [e["loc"] for e in body["errors"]] == [["query", field.split(".")[1].split(":")[0]]]
