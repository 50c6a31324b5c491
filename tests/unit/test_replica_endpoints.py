"""A service run as replicas, as the harness reaches it: each replica's own URL (issue #17), its
readiness and its counters read from every replica, not from whichever the shared port picks."""

from __future__ import annotations

import httpx

from harness.client import SagaClient
from harness.runner.layout import Endpoints, Layout, local_endpoints, urls_of

PORTS_OF = ("order", "inventory", "payment", "delivery")
PORTS = {"SAGA_ORDER_PORT": "26001", "SAGA_INVENTORY_PORT": "26002", "SAGA_PAYMENT_PORT": "26003",
         "SAGA_DELIVERY_PORT": "26004"}


def test_each_replica_has_its_own_url_and_a_single_process_only_the_services(tmp_path):
    one = local_endpoints(Layout(tmp_path), PORTS, replicas=1)
    assert one.replicas == {} and one.process_urls("payment") == {"payment": "http://127.0.0.1:26003"}
    two = local_endpoints(Layout(tmp_path), PORTS, replicas=2)
    assert two.process_urls("payment") == {"payment#1": "http://127.0.0.1:26103",
                                           "payment#2": "http://127.0.0.1:26203"}
    # An isolated instance (tests, zoo) has its processes on consecutive ports from its base + 1.
    compact = local_endpoints(Layout(tmp_path), {**PORTS, "SAGA_REPLICA_PORT_STEP": "4"}, replicas=2)
    ports = sorted(int(url.rsplit(":", 1)[1]) for s in PORTS_OF for url in compact.process_urls(s).values())
    assert ports == list(range(26005, 26013))


def test_a_bare_service_means_every_replica_and_a_replica_itself():
    urls = {"payment": "http://p", "payment#1": "http://p1", "payment#2": "http://p2", "order": "http://o"}
    assert urls_of(urls, "payment") == ["http://p1", "http://p2"]
    assert urls_of(urls, "payment#2") == ["http://p2"] and urls_of(urls, "order") == ["http://o"]


def _replicated_client(bodies: dict[str, tuple[int, dict]]) -> SagaClient:
    def answer(request: httpx.Request) -> httpx.Response:
        status, body = bodies[request.url.host]
        return httpx.Response(status, json=body)

    endpoints = Endpoints({"payment": "http://shared"}, "http://shared", "amqp://nowhere",
                          replicas={"payment": ["http://r1", "http://r2"]})
    return SagaClient(endpoints, transport=httpx.MockTransport(answer))


def test_counters_are_summed_over_the_replicas():
    client = _replicated_client({
        "r1": (200, {"ready": True, "reason": "ok", "stats": {"handled": 3, "duplicates": 1}}),
        "r2": (503, {"ready": False, "reason": "broker connection lost", "stats": {"handled": 2, "duplicates": 0}}),
        "shared": (200, {"ready": True, "reason": "ok", "stats": {"handled": 3, "duplicates": 1}}),
    })
    assert client.stats("payment") == {"handled": 5, "duplicates": 1}
    assert client.ready("payment") == (False, "payment#2: broker connection lost")


def test_the_service_is_ready_only_when_every_replica_is():
    ok = (200, {"ready": True, "reason": "ok", "stats": {}})
    assert _replicated_client({"r1": ok, "r2": ok}).ready("payment") == (True, "")


def test_an_instance_database_is_its_vhost_as_a_plain_identifier():
    from harness.runner.instance import instance_database

    assert instance_database("saga_test") == "saga_test"
    assert instance_database("saga_wra-check") == "saga_wra_check"
    assert instance_database("saga_T.x") == "saga_t_x"
