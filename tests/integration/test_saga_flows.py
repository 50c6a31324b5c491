"""The seed's traces on the real system: each order's history is exactly the seed's list."""

from system.contracts import (
    TRACE_DELIVERY_FAILED,
    TRACE_INSUFFICIENT_INVENTORY,
    TRACE_PAYMENT_FAILED,
    TRACE_SUCCESS,
)
from tests.integration.helpers import finished, place, trace


def test_success_path_completes_with_the_seed_trace(saga_client):
    before = saga_client.stock_of("product_1")
    order_id = place(saga_client, product_id="product_1", quantity=2, amount=199.99,
                     force={"payment": "succeed", "delivery": "succeed"})
    order = finished(saga_client, order_id)
    assert order["status"] == "completed" and order["failure_reason"] is None
    assert trace(order) == TRACE_SUCCESS
    [payment] = saga_client.payments(order_id)
    assert (payment["status"], payment["amount"]) == ("completed", 199.99)
    [delivery] = saga_client.deliveries(order_id)
    assert delivery["status"] == "scheduled"
    [reservation] = saga_client.reservations(order_id)
    assert (reservation["status"], reservation["quantity"]) == ("reserved", 2)
    after = saga_client.stock_of("product_1")
    assert after["available"] + after["reserved"] == after["initial"]
    assert after["reserved"] - before["reserved"] >= 2  # ours is among them (others may run too)


def test_payment_failure_releases_the_inventory(saga_client):
    order_id = place(saga_client, product_id="product_2", quantity=3, amount=30.0, force={"payment": "fail"})
    order = finished(saga_client, order_id)
    assert (order["status"], order["failure_reason"]) == ("failed", "payment_failed")
    assert trace(order) == TRACE_PAYMENT_FAILED
    [payment] = saga_client.payments(order_id)
    assert payment["status"] == "failed"
    assert saga_client.deliveries(order_id) == []
    [reservation] = saga_client.reservations(order_id)
    assert reservation["status"] == "released"


def test_delivery_failure_refunds_and_releases(saga_client):
    order_id = place(saga_client, product_id="product_2", quantity=1, amount=55.5,
                     force={"payment": "succeed", "delivery": "fail"})
    order = finished(saga_client, order_id)
    assert (order["status"], order["failure_reason"]) == ("failed", "delivery_failed")
    assert trace(order) == TRACE_DELIVERY_FAILED
    [payment] = saga_client.payments(order_id)
    assert (payment["status"], payment["refunded_amount"]) == ("refunded", 55.5)
    [delivery] = saga_client.deliveries(order_id)
    assert delivery["status"] == "failed"
    [reservation] = saga_client.reservations(order_id)
    assert reservation["status"] == "released"


def test_insufficient_inventory_fails_without_touching_stock(saga_client):
    before = saga_client.stock_of("product_3")
    order_id = place(saga_client, product_id="product_3", quantity=100, amount=4999.99)
    order = finished(saga_client, order_id)
    assert (order["status"], order["failure_reason"]) == ("failed", "insufficient_inventory")
    assert trace(order) == TRACE_INSUFFICIENT_INVENTORY
    assert saga_client.payments(order_id) == [] and saga_client.deliveries(order_id) == []
    assert saga_client.stock_of("product_3")["available"] == before["available"]


def test_unknown_order_is_404_and_list_filters_by_status(saga_client):
    response = saga_client.http.get(saga_client.endpoints.services["order"] + "/orders/nope")
    assert response.status_code == 404 and "nope" in response.json()["detail"]
    order_id = place(saga_client, product_id="product_3", quantity=1000, amount=1.0)
    finished(saga_client, order_id)
    failed = saga_client.orders(status="failed")
    assert order_id in {o["order_id"] for o in failed}
    assert all(o["status"] == "failed" for o in failed)
    bad = saga_client.http.get(saga_client.endpoints.services["order"] + "/orders", params={"status": "weird"})
    assert bad.status_code == 422 and "weird" in bad.json()["detail"]
