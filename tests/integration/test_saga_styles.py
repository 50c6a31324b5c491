"""The seed's four flows on the real system in BOTH saga styles (issue #15), with the bus recorded:
the order's history is the seed's trace either way; the bus carries the style's trace; every
message names its publisher (AMQP app_id), the service that owns its key in that style; in a
choreography the order service publishes exactly one message per saga; and every invariant holds.
"""

import pytest

from harness.broker import peek_dead_letters, run_sync
from harness.client import SagaClient
from harness.invariants import check_all
from harness.model import History
from harness.recorder import Recorder
from system.contracts import LEGAL_TRACES, ORDER_PLACED
from system.styles import STYLES, style_named
from tests.integration.helpers import finished, place, trace

FLOWS = {  # outcome -> the order's request
    "completed": dict(product_id="product_1", quantity=2, amount=199.99,
                      force={"payment": "succeed", "delivery": "succeed"}),
    "payment_failed": dict(product_id="product_2", quantity=3, amount=30.0, force={"payment": "fail"}),
    "delivery_failed": dict(product_id="product_2", quantity=1, amount=55.5,
                            force={"payment": "succeed", "delivery": "fail"}),
    "insufficient_inventory": dict(product_id="product_3", quantity=100, amount=4999.99),
}


@pytest.mark.parametrize("style", STYLES)
def test_the_seed_flows_in_each_style(saga_target_in, style):
    target = saga_target_in(style)
    contract = style_named(style)
    # Dead letters other tests parked on purpose (a shared session system) are not this test's.
    parked = [d.message_id for d in run_sync(peek_dead_letters(target.endpoints.amqp_url))]
    with Recorder(target.endpoints.amqp_url) as recorder, SagaClient(target.endpoints) as client:
        placed = {outcome: place(client, **request) for outcome, request in FLOWS.items()}
        orders = {outcome: finished(client, order_id) for outcome, order_id in placed.items()}
        recorder.drain()
        messages = recorder.messages()
        state = client.read_state()
    for outcome, order in orders.items():
        assert (order["failure_reason"] or "completed") == outcome
        assert trace(order) == LEGAL_TRACES[outcome], (style, outcome)  # the seed's trace, both styles
        on_bus = [m for m in messages if m.order_id == order["order_id"] and not m.redelivered]
        assert tuple(m.routing_key for m in on_bus) == contract.bus_traces[outcome], (style, outcome)
        assert all(m.app_id == contract.owner(m.routing_key) for m in on_bus), [
            (m.routing_key, m.app_id) for m in on_bus]
        by_order_service = [m.routing_key for m in on_bus if m.app_id == "order"]
        if style == "choreography":
            assert by_order_service == [ORDER_PLACED]  # exactly one message per saga
    history = History(messages=messages, style=style)
    verdicts = check_all(history, state, order_ids=placed.values(), expected_dead_letters=parked)
    assert all(v.valid in (True, "not_applicable") for v in verdicts), [
        (v.name, v.valid, v.counterexamples[:2]) for v in verdicts if v.valid not in (True, "not_applicable")]
