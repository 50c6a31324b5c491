"""Bad input gets a 4xx that names the problem, and nothing is half-created."""

import uuid

from tests.api_input_cases import (
    GOOD,
    INVALID_FIELDS,
    NON_FINITE,
    NOT_UTF8,
    OVERSIZED,
    post_order,
)
from tests.integration.helpers import finished, unique_user


# Every bad-input case runs in-process against the app (tests/api); these two make sure the real
# server, with its middleware and uvicorn's parsing, answers the same.
def test_an_invalid_field_is_rejected_by_the_real_server_and_nothing_is_created(saga_client):
    user = unique_user()
    change, expected_words = INVALID_FIELDS[0]
    response = post_order(saga_client, {"user_id": user, **GOOD, **change})
    assert response.status_code == 422 and all(word in response.json()["detail"] for word in expected_words)
    assert user not in {o["user_id"] for o in saga_client.orders()}


def test_an_oversized_body_is_413_from_the_real_server(saga_client):
    response = post_order(saga_client, raw=OVERSIZED)
    assert response.status_code == 413 and "exceeds" in response.json()["detail"]


def test_non_finite_numbers_and_non_utf8_bodies_get_a_422_from_the_real_server(saga_client):
    raw, expected_words = NON_FINITE[0]
    response = post_order(saga_client, raw=raw)
    assert response.status_code == 422 and all(word in response.json()["detail"] for word in expected_words)
    response = post_order(saga_client, raw=NOT_UTF8)
    assert response.status_code == 422 and "not UTF-8" in response.json()["detail"]
    for service in ("inventory", "payment", "delivery"):  # the chaos surface, without a token
        url = saga_client.endpoints.services[service] + "/_chaos/handler-faults"
        answer = saga_client.http.post(url, content=b'{"count": 1e400}', headers={"Content-Type": "application/json"})
        assert answer.status_code == 422 and answer.json()["detail"].startswith("count: "), answer.text


def test_idempotency_key_retry_returns_the_same_order_and_one_saga(saga_client):
    key = f"key-{uuid.uuid4()}"
    body = {"product_id": "product_1", "quantity": 1, "amount": 12.5, "user_id": unique_user(),
            "force": {"payment": "succeed", "delivery": "succeed"}}
    first = saga_client.place_order(**body, idempotency_key=key)
    second = saga_client.place_order(**body, idempotency_key=key)
    assert first.status_code == 201 and second.status_code == 200
    order_id = first.json()["order_id"]
    assert second.json()["order_id"] == order_id
    finished(saga_client, order_id)
    third = saga_client.place_order(**body, idempotency_key=key)
    assert third.status_code == 200 and third.json() == {"order_id": order_id, "status": "completed"}
    assert len(saga_client.payments(order_id)) == 1
    assert [o["order_id"] for o in saga_client.orders() if o["idempotency_key"] == key] == [order_id]


def test_idempotency_key_with_a_different_body_is_a_conflict(saga_client):
    key = f"key-{uuid.uuid4()}"
    user = unique_user()
    assert saga_client.place_order("product_1", 1, 10.0, user_id=user, idempotency_key=key).status_code == 201
    clash = saga_client.place_order("product_1", 2, 10.0, user_id=user, idempotency_key=key)
    assert clash.status_code == 409
    assert "different request body" in clash.json()["detail"]
    assert sum(1 for o in saga_client.orders() if o["user_id"] == user) == 1
