"""Simulated sagas per second, every invariant checked (target: >= 5,000 on one core).

    python bench/bench_sim.py [--orders 1000] [--repeat 3]

A saga here is one order placed and driven to quiescence through the real messaging core (the
services' domain functions, handle_message and the consumer and relay policies) over the
simulated at-least-once broker, with the full invariant check at the end. The
simulator is single-threaded, so CPU seconds of this process are seconds of one core; wall-clock
figures are printed too (on a busy machine they are lower).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.sim import FaultSpec, SimConfig, simulate  # noqa: E402
from harness.sim.run import check_invariants  # noqa: E402

TARGET = 5000.0


def measure(label: str, configs: list[SimConfig]) -> float:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sagas = steps = checked = 0
    bad = []
    for config in configs:
        result = simulate(config)
        sagas += config.orders
        steps += result.steps
        checked += len(result.verdicts)
        if result.valid is not True:
            bad.append(config.replay_command())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rate = sagas / cpu
    print(
        f"{label:<58} {len(configs):>4} runs {sagas:>6} sagas {steps:>8} steps "
        f"{rate:>8.0f} sagas/s cpu {sagas / wall:>8.0f} sagas/s wall  {checked} verdicts"
    )
    for command in bad:
        print(f"    NOT VALID: {command}")
    return rate


def check_share(orders: int) -> None:
    """How much of a run is the invariant check (the same check_all the chaos runner uses)."""
    result = simulate(SimConfig(seed=1, orders=orders, faults=FaultSpec.parse("all")), check=False)
    cpu0 = time.process_time()
    check_invariants(result.history, result.state)
    print(f"invariant check alone on {orders} orders / {len(result.history.messages)} messages: "
          f"{time.process_time() - cpu0:.3f} s cpu")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders per large run")
    parser.add_argument("--repeat", type=int, default=3, help="large runs per mix")
    args = parser.parse_args()
    simulate(SimConfig(seed=0, orders=2))  # warm up: imports
    print(f"python {sys.version.split()[0]}, target {TARGET:.0f} sagas/s on one core\n")
    rates = []
    for mix in ("none", "all", "dup=0.2,reorder,crash=0.03,delay"):
        spec = FaultSpec.parse(mix)
        large = [SimConfig(seed=s, orders=args.orders, faults=spec) for s in range(args.repeat)]
        small = [SimConfig(seed=s, orders=10, faults=spec) for s in range(200)]
        rates.append(measure(f"faults={spec.to_text()} orders={args.orders}", large))
        rates.append(measure(f"faults={spec.to_text()} orders=10 (per-run overhead)", small))
    check_share(args.orders)
    worst = min(rates)
    print(f"\nworst {worst:.0f} sagas/s cpu: {'meets' if worst >= TARGET else 'BELOW'} the {TARGET:.0f} target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
