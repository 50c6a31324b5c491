"""Issue 2's benchmark: the raw AMQP ceiling on this machine vs the saga's end-to-end throughput.

1. Ceiling: persistent messages with publisher confirms through one topic exchange into one
   durable queue, consumed with manual acks, both sides running at once: messages/s.
2. Saga: an isolated local instance with zero failure rates; N orders posted by a pool of
   clients; every order driven to a terminal status. Latency is POST to terminal status, taken
   from the order's own server-side timestamps (created_at -> last history entry).

The last line: sagas_per_s=… p50_ms=… p99_ms=… ceiling_msgs_per_s=… ratio=…
with ratio = sagas/s x 6 (messages per successful saga) / ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.client import SagaClient  # noqa: E402
from harness.runner.instance import fresh_isolated_env  # noqa: E402
from harness.runner.local import LocalSystem  # noqa: E402


async def amqp_ceiling(amqp_url: str, messages: int, window: int = 200) -> float:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        pub = await connection.channel(publisher_confirms=True)
        sub = await connection.channel()
        await sub.set_qos(prefetch_count=window)
        exchange = await pub.declare_exchange("bench_ceiling", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await sub.declare_queue(f"bench_ceiling_{uuid.uuid4().hex[:6]}", durable=True, auto_delete=True)
        await queue.bind("bench_ceiling", routing_key="bench.#")
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= messages:
                done.set()

        tag = await queue.consume(on_message)
        body = b'{"message_id":"x","type":"bench.ping","order_id":"o","payload":{}}'
        started = time.perf_counter()
        pending: set[asyncio.Future] = set()
        for i in range(messages):
            msg = aio_pika.Message(body, message_id=str(i), delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            pending.add(asyncio.ensure_future(exchange.publish(msg, routing_key="bench.ping")))
            if len(pending) >= window:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pending)
        await asyncio.wait_for(done.wait(), timeout=120)
        elapsed = time.perf_counter() - started
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        await pub.exchange_delete("bench_ceiling")
    return messages / elapsed


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class LeanPoster:
    """POST /orders over one keep-alive HTTP/1.1 connection per thread (http.client).

    The load generator runs on the machine it measures: the harness's httpx client costs about
    1 ms of CPU per POST, which on two cores is taken from the services under test. This one
    costs a fraction of that; the orders, and what the services do with them, are the same."""

    def __init__(self, order_api: str, timeout: float = 30.0) -> None:
        parts = urlsplit(order_api)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = (parts.path or "").rstrip("/") + "/orders"
        self.timeout = timeout
        self._local = threading.local()

    def post(self, body: dict) -> str:
        """The new order's id; raises on anything but 201."""
        payload = json.dumps(body).encode()
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more, anew
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                conn.request("POST", self.path, payload, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status != 201:
                raise RuntimeError(f"POST /orders: {response.status} {data[:200]!r}")
            return str(json.loads(data)["order_id"])
        raise AssertionError("unreachable")


SUCCEED = {"payment": "succeed", "delivery": "succeed"}


def order_body(i: int, prefix: str = "bench") -> dict:
    return {"user_id": f"{prefix}_{i}", "product_id": "product_1", "quantity": 1, "amount": 10.0, "force": SUCCEED}


def saga_throughput(client: SagaClient, orders: int, clients: int, timeout: float, poll: float = 1.0) -> dict:
    """`poll`: how often the orders are listed while waiting. The figures come from the orders'
    own timestamps, so the poll only costs: listing every order every 0.1 s took a visible share
    of the order service's time (py-spy), so it waits a second between lists."""
    poster = LeanPoster(client.endpoints.order_api)
    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        ids = list(pool.map(lambda i: poster.post(order_body(i)), range(orders)))
    final = client.wait_terminal(ids, timeout=timeout, poll=poll)
    done = [o for o in final.values() if o["status"] in ("completed", "failed")]
    latencies = sorted((_ts(o["history"][-1]["at"]) - _ts(o["created_at"])) * 1000 for o in done)
    finished = max(_ts(o["history"][-1]["at"]) for o in done) if done else time.time()
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return {
        "orders": orders,
        "terminal": len(done),
        "completed": sum(o["status"] == "completed" for o in done),
        "lost": orders - len(done),
        "seconds": finished - started,
        "sagas_per_s": len(done) / max(finished - started, 1e-9),
        "p50_ms": q[49],
        "p95_ms": q[94],
        "p99_ms": q[98],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--ceiling-messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()

    env = fresh_isolated_env("bench", 22000)  # a fresh instance, so earlier runs do not skew the figures
    env.update({"PAYMENT_FAILURE_RATE": "0", "DELIVERY_FAILURE_RATE": "0"})
    ceiling = asyncio.run(amqp_ceiling(env["SAGA_AMQP_URL"], args.ceiling_messages))
    print(f"amqp ceiling: {ceiling:,.0f} msgs/s ({args.ceiling_messages} persistent, confirmed, acked)")

    system = LocalSystem(env=env, proxied=False, say=lambda line: None)
    system.up(timeout=90)
    try:
        with SagaClient(system.endpoints(), timeout=30) as client:
            client.place_order("product_1", 1, 1.0)  # warm up connections and caches
            result = saga_throughput(client, args.orders, args.clients, args.timeout)
    finally:
        system.down()
    ratio = result["sagas_per_s"] * 6 / ceiling
    print(
        f"saga: {result['terminal']}/{result['orders']} terminal ({result['completed']} completed, "
        f"{result['lost']} lost) in {result['seconds']:.2f}s with {args.clients} clients"
    )
    print(
        f"sagas_per_s={result['sagas_per_s']:.1f} p50_ms={result['p50_ms']:.0f} "
        f"p95_ms={result['p95_ms']:.0f} p99_ms={result['p99_ms']:.0f} "
        f"ceiling_msgs_per_s={ceiling:.0f} ratio={ratio:.2f}"
    )
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
