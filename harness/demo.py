"""`saga-harness demo`: the seed's walkthrough against the running system, narrated."""

from __future__ import annotations

import argparse
import json
import sys
import time

from harness.client import SagaClient
from harness.runner.local import LocalSystem


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="walk through the seed's examples against the running system")
    demo.add_argument("--batch", type=int, default=20, help="orders in the batch where some payments fail")
    demo.add_argument("--timeout", type=float, default=60.0)
    demo.set_defaults(func=cmd_demo)


def _show_order(order: dict) -> None:
    trace = " -> ".join(h["event"] for h in order["history"])
    reason = f" ({order['failure_reason']})" if order.get("failure_reason") else ""
    print(f"  order {order['order_id']}: {order['status']}{reason}")
    print(f"    {trace}")


def _post(client: SagaClient, title: str, body: dict, **kwargs) -> str:
    print(f"\n== {title}")
    print(f"  POST /orders {json.dumps(body)}")
    response = client.place_order(**body, **kwargs)
    print(f"  -> {response.status_code} {response.text}")
    response.raise_for_status()
    return response.json()["order_id"]


def cmd_demo(args: argparse.Namespace) -> int:
    system = LocalSystem()
    endpoints = system.endpoints()
    started = time.time()
    with SagaClient(endpoints) as client:
        success = _post(
            client,
            "A successful order (forced to succeed so the walkthrough is repeatable)",
            {"user_id": "user_123", "product_id": "product_1", "quantity": 2, "amount": 199.99},
            force={"payment": "succeed", "delivery": "succeed"},
        )
        _show_order(client.wait_terminal([success], args.timeout)[success])

        scarce = _post(
            client,
            "Insufficient inventory (the seed's example: 100 x product_3)",
            {"user_id": "user_456", "product_id": "product_3", "quantity": 100, "amount": 4999.99},
        )
        _show_order(client.wait_terminal([scarce], args.timeout)[scarce])

        print(f"\n== A batch of {args.batch} orders: the dice decide (PAYMENT_FAILURE_RATE 0.2, DELIVERY_FAILURE_RATE 0.1)")
        batch = []
        for i in range(args.batch):
            response = client.place_order("product_2", 1, 25.0 + i, user_id=f"user_batch_{i}")
            response.raise_for_status()
            batch.append(response.json()["order_id"])
        final = client.wait_terminal(batch, args.timeout)
        for order_id in batch:
            _show_order(final[order_id])

        mine = {success, scarce, *batch}
        print("\n== Inventory (GET :8002/inventory)")
        for p in client.inventory():
            print(f"  {p['product_id']}: available {p['available']}, reserved {p['reserved']} (of {p['initial']})")
        print("\n== Payments of these orders (GET :8003/payments)")
        for p in client.payments():
            if p["order_id"] in mine:
                print(f"  {p['order_id']}: {p['status']:<9} {p['amount']:>9.2f}  refunded {p['refunded_amount']:.2f}")
        print("\n== Deliveries of these orders (GET :8004/deliveries)")
        for d in client.deliveries():
            if d["order_id"] in mine:
                print(f"  {d['order_id']}: {d['status']}")
        return _summary(client, mine, final | {success: client.order(success), scarce: client.order(scarce)}, started)


def _summary(client: SagaClient, mine: set[str], final: dict, started: float) -> int:
    from harness.dice import decisions_from_env
    from harness.exits import exit_code_for
    from harness.invariants import check_all
    from harness.model import History, overall

    state = client.read_state()
    verdicts = check_all(History(), state, order_ids=mine, decisions=decisions_from_env())
    statuses = [o["status"] for o in final.values() if o]
    failed = [v.name for v in verdicts if v.valid is False]
    verdict = overall(verdicts)
    word = {True: "CONSISTENT", False: "INCONSISTENT", "unknown": "UNKNOWN"}[verdict]
    print(
        f"\nconsistency: {word}: {len(mine)} orders, {statuses.count('completed')} completed, "
        f"{statuses.count('failed')} failed, {len(verdicts)} invariants checked"
        + (f", broken: {', '.join(failed)}" if failed else "")
        + f" ({time.time() - started:.1f}s)"
    )
    return exit_code_for(verdict)


if __name__ == "__main__":
    sys.exit(cmd_demo(argparse.Namespace(batch=20, timeout=60.0)))
