"""Issue 18's benchmark: what tracing costs. Sagas/s with SAGA_TRACING off and on, in one run.

One isolated instance (no Toxiproxy, zero failure rates), restarted between modes; the modes
alternate (off, on, off, on, ... `--rounds` times) so that a machine busy with something else
skews both alike. With tracing on, every span really goes out: the services export OTLP/HTTP
to this process's receiver (harness/tracing/receiver.py), which writes them to a file, as a
chaos run does; the receiver's CPU is on the same machine, so the figure is an upper bound.

Throughput on a shared machine swings with whatever else runs, so the benchmark also takes the
CPU time the four service processes spent per saga (/proc/<pid>/stat), which hardly does.

The last line: off_sagas_per_s=… on_sagas_per_s=… ratio=… (on / off) spans_per_saga=…
cpu_ms_per_saga_off=… cpu_ms_per_saga_on=… cpu_ratio=…
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_saga import saga_throughput  # noqa: E402

from harness.client import SagaClient  # noqa: E402
from harness.runner.instance import fresh_isolated_env  # noqa: E402
from harness.runner.local import LocalSystem  # noqa: E402
from harness.tracing.receiver import Receiver  # noqa: E402
from system.contracts import SERVICES  # noqa: E402


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time of each process so far (/proc/<pid>/stat, clock ticks)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        found[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat(5))
    return found


def one_mode(env: dict[str, str], tracing: bool, orders: int, clients: int, timeout: float, base: int = 22200) -> dict:
    # A fresh instance each time: listing a growing order table (the wait for terminal states)
    # would make every later mode pay more per saga.
    env = {**env, **fresh_isolated_env("benchtrace", base), "SAGA_TRACING": "1" if tracing else "0"}
    system = LocalSystem(env=env, proxied=False, say=lambda line: None)
    system.up(timeout=90)
    try:
        pids = {s: pid for s in SERVICES if (pid := system.pid(s))}
        with SagaClient(system.endpoints(), timeout=30) as client:
            client.place_order("product_1", 1, 1.0)  # warm up connections and caches
            before = cpu_seconds(pids)
            result = saga_throughput(client, orders, clients, timeout, poll=1.0)
            time.sleep(1.0)  # the last spans leave (the batch delay is 0.25 s)
            after = cpu_seconds(pids)
            per_saga = {s: (after[s] - before[s]) * 1000 / max(result["terminal"], 1) for s in pids}
            result["cpu_ms_per_saga"] = sum(per_saga.values())
            result["cpu_by_service"] = per_saga
            return result
    finally:
        system.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per round and mode (200)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs (3)")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()

    base = int(os.environ.get("SAGA_BENCH_TRACING_PORT_BASE", "22200"))
    env = {"PAYMENT_FAILURE_RATE": "0", "DELIVERY_FAILURE_RATE": "0"}
    results: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        receiver = Receiver(Path(tmp) / "traces.jsonl", port=base + 318).start()
        env["SAGA_OTLP_ENDPOINT"] = receiver.endpoint
        try:
            for round_no in range(1, args.rounds + 1):
                for tracing in (False, True):
                    before = receiver.spans
                    result = one_mode(env, tracing, args.orders, args.clients, args.timeout, base)
                    receiver.settle(quiet_s=1.0, limit_s=10)
                    result["spans"] = receiver.spans - before
                    results[tracing].append(result)
                    print(f"round {round_no} tracing {'on ' if tracing else 'off'}: {result['sagas_per_s']:.1f} sagas/s, "
                          f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
                          f"{result['terminal']}/{result['orders']} terminal, {result['spans']} spans, "
                          f"services' CPU {result['cpu_ms_per_saga']:.2f} ms/saga ("
                          + ", ".join(f"{k} {v:.1f}" for k, v in result["cpu_by_service"].items()) + ")",
                          flush=True)
        finally:
            receiver.stop()
    off = statistics.mean(r["sagas_per_s"] for r in results[False])
    on = statistics.mean(r["sagas_per_s"] for r in results[True])
    p50_off = statistics.mean(r["p50_ms"] for r in results[False])
    p50_on = statistics.mean(r["p50_ms"] for r in results[True])
    spans = sum(r["spans"] for r in results[True]) / max(sum(r["terminal"] for r in results[True]), 1)
    cpu_off = statistics.mean(r["cpu_ms_per_saga"] for r in results[False])
    cpu_on = statistics.mean(r["cpu_ms_per_saga"] for r in results[True])
    # Throughput swings with whatever else the machine runs; CPU per saga hardly does.
    print(f"off_sagas_per_s={off:.1f} on_sagas_per_s={on:.1f} ratio={on / off:.3f} "
          f"p50_ms_off={p50_off:.0f} p50_ms_on={p50_on:.0f} spans_per_saga={spans:.1f} "
          f"cpu_ms_per_saga_off={cpu_off:.2f} cpu_ms_per_saga_on={cpu_on:.2f} cpu_ratio={cpu_on / cpu_off:.3f}")
    lost = sum(r["lost"] for rs in results.values() for r in rs)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
