"""How fast is the checker? Times check_all over a synthetic, consistent history.

    python bench/bench_checker.py --messages 1000000 [--seed N]

Builds ~1 message in 9 as an order (each with its legal trace on the bus, every message naming
its cause, plus redelivered duplicates up to the requested count), the matching final state,
and client operations; outcomes follow the system's dice (system.decisions) and a few orders
ask more than the scarce product's opening stock. Then times every invariant, with the dice and
a complete history as the simulator checks. Prints figures and exits 0, or 1 if the checker
calls this consistent world anything but valid (a checker bug). Target: 1,000,000 messages in
under 5 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.invariants import INVARIANTS, check_all, summary  # noqa: E402
from harness.model import History, Operation, RecordedMessage, SystemState, overall  # noqa: E402
from system.catalog import INITIAL_STOCK  # noqa: E402
from system.contracts import LEGAL_TRACES, SERVICES, dead_letter_queue_name, queue_name  # noqa: E402
from system.decisions import DecisionConfig, delivery_fails, payment_fails  # noqa: E402

MESSAGES_PER_ORDER = 9.1  # with redeliveries: ~110k orders for 1e6 messages
REFUSED = 0.05  # orders asking more than the scarce product's opening stock
PRODUCTS = ("product_1", "product_2")  # plenty of stock: the dice decide these orders
SCARCE = "product_3"
DICE = DecisionConfig(seed=1)


def _outcome(order_id: str, refused: bool) -> str:
    if refused:
        return "insufficient_inventory"
    if payment_fails(DICE, order_id, None):
        return "payment_failed"
    return "delivery_failed" if delivery_fails(DICE, order_id, None) else "completed"


def synthetic_run(messages: int, seed: int) -> tuple[History, SystemState]:
    rng = random.Random(seed)
    history, state = History(), SystemState()
    stock = {p: [n, 0] for p, n in INITIAL_STOCK.items()}  # available, reserved
    t = 1_700_000_000.0
    n_orders = max(1, round(messages / MESSAGES_PER_ORDER))
    for n in range(n_orders):
        order_id = f"o{n:08d}"
        refused = rng.random() < REFUSED
        outcome = _outcome(order_id, refused)
        product, quantity, amount = rng.choice(PRODUCTS), rng.randint(1, 2), round(rng.uniform(1, 500), 2)
        if refused:
            product, quantity = SCARCE, INITIAL_STOCK[SCARCE] + rng.randint(1, 5)
        key = f"k{n}" if n % 2 else None
        value = {"user_id": f"u{n % 997}", "product_id": product, "quantity": quantity, "amount": amount,
                 "idempotency_key": key}
        history.operations.append(Operation(n, "invoke", "place_order", t, value))
        history.operations.append(Operation(n, "ok", "place_order", t + 0.002, value | {"order_id": order_id}))
        at = datetime.fromtimestamp(t, UTC).isoformat()
        trace = LEGAL_TRACES[outcome]
        for i, event in enumerate(trace):
            cause = f"{order_id}-{i - 1}" if i else None
            history.messages.append(RecordedMessage(t + 0.001 * i, event, f"{order_id}-{i}", order_id, causation_id=cause))
        completed = outcome == "completed"
        state.orders.append({
            "order_id": order_id, "user_id": value["user_id"], "product_id": product, "quantity": quantity,
            "amount": amount, "status": "completed" if completed else "failed",
            "failure_reason": None if completed else outcome,
            "history": [{"event": e, "at": at} for e in trace], "idempotency_key": key,
        })
        t += 0.01
        if outcome == "insufficient_inventory":
            state.reservations.append({"order_id": order_id, "product_id": product, "quantity": quantity, "status": "rejected"})
            continue
        state.reservations.append({"order_id": order_id, "product_id": product, "quantity": quantity,
                                   "status": "reserved" if completed else "released"})
        if completed:
            stock[product][0] -= quantity
            stock[product][1] += quantity
        refunded = amount if outcome == "delivery_failed" else 0.0
        state.payments.append({
            "payment_id": f"p{order_id}", "order_id": order_id, "user_id": value["user_id"], "amount": amount,
            "status": {"payment_failed": "failed", "delivery_failed": "refunded"}.get(outcome, "completed"),
            "refunded_amount": refunded,
        })
        if outcome in ("completed", "delivery_failed"):
            state.deliveries.append({"delivery_id": f"d{order_id}", "order_id": order_id,
                                     "status": "scheduled" if completed else "failed"})
    # At-least-once delivery: fill up with redelivered copies (same message_id) of earlier messages.
    originals = len(history.messages)
    for _ in range(max(0, messages - originals)):
        m = history.messages[rng.randrange(originals)]
        history.messages.append(RecordedMessage(m.time + 0.5, m.routing_key, m.message_id, m.order_id, True,
                                                m.causation_id))
    state.inventory = [{"product_id": p, "available": a, "reserved": r, "initial": INITIAL_STOCK[p]}
                       for p, (a, r) in stock.items()]
    state.queues = {queue_name(s): 0 for s in SERVICES} | {dead_letter_queue_name(s): 0 for s in SERVICES}
    state.read_at = t + 10.0
    return history, state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="recorded messages (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the synthetic run (default 1)")
    try:
        args = parser.parse_args(argv)
        if args.messages < 1:
            parser.error("--messages must be positive")
    except SystemExit as exc:  # argparse says 2 for bad usage; the project says 254
        return 254 if exc.code == 2 else int(exc.code or 0)
    print(f"seed={args.seed} messages={args.messages}", flush=True)
    started = time.perf_counter()
    history, state = synthetic_run(args.messages, args.seed)
    print(f"built synthetic run in {time.perf_counter() - started:.1f} s", flush=True)

    started, cpu = time.perf_counter(), time.process_time()
    verdicts = check_all(history, state, decisions=DICE, complete_history=True)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu

    for name in INVARIANTS:
        t0 = time.perf_counter()
        check_all(history, state, only=[name], decisions=DICE, complete_history=True)
        print(f"  {name:<30} {time.perf_counter() - t0:7.3f} s")
    n = len(history.messages)
    print(f"messages={n} orders={len(state.orders)} operations={len(history.operations)} "
          f"check_all={elapsed:.2f} s (cpu {cpu:.2f} s, load average {os.getloadavg()[0]:.1f}) "
          f"rate={n / elapsed:,.0f} messages/s")
    if overall(verdicts) is not True:
        print(summary(verdicts))
        print("the checker did not find this consistent run valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
