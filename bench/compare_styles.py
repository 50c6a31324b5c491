"""Issue #15's comparison: orchestration vs choreography, from measured runs on this machine.

For each style, on a fresh isolated local instance of its own (real processes, real RabbitMQ):
  - the same steady load (--orders at --rate orders/s, dice off so every saga takes its longest
    successful path) with the bus recorded: messages per saga (distinct message_ids), of them
    published by the order service, sagas/s, and p50/p99 saga latency (POST to terminal status,
    from the order's own timestamps);
  - the deterministic simulator over the same seeds (messages per saga with the default dice);
  - the defect zoo's simulation detectors: which defects exist in the style, which are caught;
  - optionally (--experiments a,b,...) the shipped chaos experiments at --experiment-orders each.

Prints one markdown table per part; the README's comparison table is copied from a run of it.
Instance name and ports: SAGA_BENCH_INSTANCE (compare) and SAGA_BENCH_PORT_BASE (22600);
experiments run on the zoo's instance (SAGA_ZOO_INSTANCE / SAGA_ZOO_PORT_BASE).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.client import SagaClient  # noqa: E402
from harness.recorder import Recorder  # noqa: E402
from harness.runner.instance import fresh_isolated_env  # noqa: E402
from harness.runner.local import LocalSystem  # noqa: E402
from harness.sim import SimConfig, simulate  # noqa: E402
from system.styles import STYLES, style_named  # noqa: E402


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measured_load(style: str, orders: int, rate: float, clients: int = 16) -> dict:
    """`rate` 0: a burst, every order posted as fast as `clients` can (the saturation figure)."""
    name = os.environ.get("SAGA_BENCH_INSTANCE", "compare")
    env = fresh_isolated_env(f"{name}_{style}", int(os.environ.get("SAGA_BENCH_PORT_BASE", "22600")))
    env.update({"SAGA_STYLE": style, "PAYMENT_FAILURE_RATE": "0", "DELIVERY_FAILURE_RATE": "0"})
    system = LocalSystem(env=env, proxied=False, say=lambda line: None)
    system.up(timeout=90)
    try:
        with Recorder(system.endpoints().amqp_url) as recorder, SagaClient(system.endpoints(), timeout=30) as client:
            client.place_order("product_1", 1, 1.0)  # warm up connections and caches
            started = time.time()

            def post(i: int) -> str:
                if rate:
                    time.sleep(max(0.0, started + i / rate - time.time()))  # a steady rate, not a burst
                response = client.place_order("product_1", 1, 10.0, user_id=f"cmp_{i}")
                response.raise_for_status()
                return response.json()["order_id"]

            with ThreadPoolExecutor(clients) as pool:
                ids = list(pool.map(post, range(orders)))
            final = client.wait_terminal(ids, timeout=180, poll=0.1)
            recorder.drain()
            messages = [m for m in recorder.messages() if m.order_id in final]
    finally:
        system.down()
    done = [o for o in final.values() if o["status"] in ("completed", "failed")]
    latencies = sorted((_ts(o["history"][-1]["at"]) - _ts(o["created_at"])) * 1000 for o in done)
    finished = max(_ts(o["history"][-1]["at"]) for o in done) if done else time.time()
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    distinct = {m.message_id: m for m in messages}
    by_publisher = Counter(m.app_id for m in distinct.values())
    bindings = style_named(style).bindings
    deliveries = sum(sum(m.routing_key in keys for keys in bindings.values()) for m in distinct.values())
    return {
        "style": style, "orders": orders, "terminal": len(done), "lost": orders - len(done),
        "sagas_per_s": len(done) / max(finished - started, 1e-9),
        "p50_ms": q[49], "p99_ms": q[98],
        "msgs_per_saga": len(distinct) / max(len(done), 1),
        "order_msgs_per_saga": by_publisher.get("order", 0) / max(len(done), 1),
        "deliveries_per_saga": deliveries / max(len(done), 1),
        "app_id_missing": sum(1 for m in distinct.values() if not m.app_id),
    }


def simulated(style: str, seeds: range, orders: int) -> dict:
    messages = sagas = 0
    cpu = 0.0
    for seed in seeds:
        started = time.process_time()
        result = simulate(SimConfig(seed=seed, orders=orders, style=style))
        cpu += time.process_time() - started
        messages += len({m.message_id for m in result.history.messages})
        sagas += orders
    return {"msgs_per_saga": messages / sagas, "sagas_per_cpu_s": sagas / cpu}


def zoo_exposure(style: str) -> dict:
    from harness.zoo.catalog import defects_in, sim_detector
    from harness.zoo.simulated import run_sim_case
    from system.defects import DEFECTS

    present = defects_in(style)
    caught = [d for d in present if run_sim_case(d, sim_detector(d, style), 1, style).caught]
    return {"exists": len(present), "of": len(DEFECTS), "caught": len(caught),
            "absent": sorted(set(DEFECTS) - set(present))}


def experiment(style: str, name: str, orders: int, seed: int) -> str:
    from harness.zoo.catalog import Detector
    from harness.zoo.experimental import run_detector

    verdicts, seconds, run_dir = run_detector(Detector("experiment", name, ()), frozenset(), seed, orders,
                                              Path("runs/compare"), style)
    bad = [v.name for v in verdicts if v.valid not in (True, "not_applicable")]
    return f"{'valid' if not bad else 'NOT valid: ' + ', '.join(bad)} ({seconds:.0f} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--sim-orders", type=int, default=200)
    parser.add_argument("--sim-seeds", type=int, default=5)
    parser.add_argument("--experiments", default="", help="shipped experiments to run in each style, comma-separated")
    parser.add_argument("--experiment-orders", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--burst", type=int, default=300, help="orders posted at once for the saturation figure (0: skip)")
    args = parser.parse_args()
    print(f"compare: {time.strftime('%Y-%m-%d %H:%M')}, {args.orders} orders at {args.rate:g}/s per style, dice off")
    rows = {style: measured_load(style, args.orders, args.rate) for style in STYLES}
    bursts = {style: measured_load(style, args.burst, 0) for style in STYLES} if args.burst else {}
    sims = {style: simulated(style, range(args.seed, args.seed + args.sim_seeds), args.sim_orders) for style in STYLES}
    zoo = {style: zoo_exposure(style) for style in STYLES}
    print("\n| figure | " + " | ".join(STYLES) + " |\n|---|" + "---|" * len(STYLES))
    lines = [
        ("bus messages per saga (real, all succeed)", lambda s: f"{rows[s]['msgs_per_saga']:.2f}"),
        ("of them published by the order service", lambda s: f"{rows[s]['order_msgs_per_saga']:.2f}"),
        ("queue deliveries per saga (messages x bound queues)", lambda s: f"{rows[s]['deliveries_per_saga']:.2f}"),
        ("bus messages per saga (simulated, default dice)", lambda s: f"{sims[s]['msgs_per_saga']:.2f}"),
        (f"sagas/s at {args.rate:g} orders/s offered", lambda s: f"{rows[s]['sagas_per_s']:.1f}"),
        ("saga latency p50 / p99 (ms)", lambda s: f"{rows[s]['p50_ms']:.0f} / {rows[s]['p99_ms']:.0f}"),
        ("lost sagas / messages without app_id", lambda s: f"{rows[s]['lost']} / {rows[s]['app_id_missing']}"),
        *([(f"saturation: sagas/s, burst of {args.burst} orders (16 clients)",
            lambda s: f"{bursts[s]['sagas_per_s']:.1f}"),
           ("saturation: latency p50 / p99 (ms)", lambda s: f"{bursts[s]['p50_ms']:.0f} / {bursts[s]['p99_ms']:.0f}")]
          if bursts else []),
        ("simulated sagas per CPU-second", lambda s: f"{sims[s]['sagas_per_cpu_s']:,.0f}"),
        ("zoo defects that exist / caught (simulation)",
         lambda s: f"{zoo[s]['exists']}/{zoo[s]['of']} / {zoo[s]['caught']}"
                   + (f" (absent: {', '.join(zoo[s]['absent'])})" if zoo[s]['absent'] else "")),
    ]
    for label, cell in lines:
        print(f"| {label} | " + " | ".join(cell(s) for s in STYLES) + " |")
    for name in [n.strip() for n in args.experiments.split(",") if n.strip()]:
        cells = [experiment(s, name, args.experiment_orders, args.seed) for s in STYLES]
        print(f"| experiment `{name}` ({args.experiment_orders} orders, seed {args.seed}) | " + " | ".join(cells) + " |",
              flush=True)
    return 0 if all(r["lost"] == 0 for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
