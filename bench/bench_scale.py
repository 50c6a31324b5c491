"""Issue 17's benchmark: a capacity answer in one run.

For each configuration (store x replicas per service) on a fresh isolated instance:
1. max: a closed-loop burst (`--orders` orders from `--clients` clients, every order driven to a
   terminal status, zero failure rates): sagas/s from the first POST to the last terminal step;
2. open loop: orders arriving at a FIXED rate of half that maximum for `--open-seconds`
   (a scheduler, not the responses, sets the pace), and the latency of each from the moment
   its POST was sent to its terminal history entry: p50/p95/p99. Under a burst, latency is
   mostly queueing; at half load it is the saga itself.

SQLite with 2 replicas is refused by the runner (each process would have its own file), and is
listed as such. The AMQP ceiling (bench_saga.amqp_ceiling: persistent, confirmed, acked) is
measured in the same run; ratio = sagas/s x 6 messages per saga / ceiling msgs/s.

`--profile` (default on) samples every service process of the SQLite x1 and the 2-replica
PostgreSQL bursts with py-spy (`py-spy record --format raw`) and prints where the time goes: the top leaf functions
per service and the share of samples by layer (database driver, AMQP, HTTP, JSON, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_saga import LeanPoster, amqp_ceiling, order_body, saga_throughput  # noqa: E402

from harness.client import SagaClient  # noqa: E402
from harness.runner.instance import fresh_isolated_env  # noqa: E402
from harness.runner.local import LocalSystem, ReplicasNeedSharedStore  # noqa: E402
from system.stores.postgres import drop_database  # noqa: E402

PG_URL = os.environ.get("SAGA_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
INSTANCE = os.environ.get("SAGA_BENCH_INSTANCE", "pgbench")
PORT_BASE = int(os.environ.get("SAGA_BENCH_PORT_BASE", "30600"))  # below 32768, the ephemeral ports
SUCCEED = {"payment": "succeed", "delivery": "succeed"}

# Layers of the service processes, by the file a sampled leaf frame is in.
LAYERS = (
    ("postgres driver", ("psycopg",)),
    ("sqlite (its calls: system/stores/sqlite.py)", ("sqlite3", "system/stores/sqlite.py")),
    ("amqp (aio-pika/aiormq/pamqp)", ("aio_pika", "aiormq", "pamqp")),
    ("http (uvicorn/h11/starlette/fastapi)", ("uvicorn", "h11", "starlette", "fastapi", "anyio")),
    ("validation (pydantic)", ("pydantic",)),
    ("json", ("json/",)),
    ("asyncio event loop", ("asyncio/",)),
    ("logging", ("logging/",)),
    ("saga code (system/)", ("system/",)),
)


@dataclass
class Row:
    store: str
    replicas: int
    threads: int | None = None  # SAGA_STORE_THREADS (PostgreSQL); None: the default
    refused: str = ""
    max: dict = field(default_factory=dict)
    open: dict = field(default_factory=dict)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return q(0.50), q(0.95), q(0.99)


def open_loop(client: SagaClient, rate: float, seconds: float, timeout: float) -> dict:
    """Orders at a fixed arrival rate; latency = POST sent -> terminal history entry."""
    sent: dict[str, float] = {}
    errors = 0
    lock = threading.Lock()

    poster = LeanPoster(client.endpoints.order_api)

    def post(i: int, at: float) -> None:
        nonlocal errors
        try:
            order_id = poster.post(order_body(i, "open"))
            with lock:
                sent[order_id] = at
        except Exception:  # noqa: BLE001 - counted, reported
            with lock:
                errors += 1

    total = int(rate * seconds)
    interval = 1.0 / rate
    behind = 0
    with ThreadPoolExecutor(64) as pool:
        start = time.perf_counter()
        for i in range(total):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.05:
                behind += 1
            pool.submit(post, i, time.time())
    final = client.wait_terminal(list(sent), timeout=timeout, poll=0.2)
    done = [o for o in final.values() if o["status"] in ("completed", "failed")]
    latencies = [(_ts(o["history"][-1]["at"]) - sent[o["order_id"]]) * 1000 for o in done]
    p50, p95, p99 = _quantiles(latencies)
    return {"rate": rate, "orders": total, "terminal": len(done), "lost": len(sent) - len(done),
            "errors": errors, "late_arrivals": behind, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}


def profile(pids: dict[str, int], seconds: float, out: Path) -> dict[str, Path]:
    """Start py-spy on each process for `seconds`; returns the raw output files (written when done)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    files = {}
    for name, pid in pids.items():
        path = out / f"{name.replace('#', '_')}.txt"
        subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
                          "--format", "raw", "--output", str(path), "--nonblocking"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        files[name] = path
    return files


# Leaf frames where a thread waits rather than works. py-spy is asked for busy samples only,
# but on this VM it reports some of these anyway (the epoll wait, a store thread's queue).
WAITING = ("EpollSelector.select", "StoreThreads._serve (", "Condition.wait", "Event.wait",
           "Thread._wait_for_tstate_lock", "SimpleQueue.get")


def summarise_profiles(files: dict[str, Path], top: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(p.exists() and p.stat().st_size for p in files.values()):
        time.sleep(0.5)
    layers_all: collections.Counter[str] = collections.Counter()
    total_all = 0
    for name, path in files.items():
        leaves: collections.Counter[str] = collections.Counter()
        layers: collections.Counter[str] = collections.Counter()
        total = waiting = 0
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            print(f"  {name}: no profile (py-spy could not attach?)")
            continue
        for line in lines:
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            leaf = stack.rsplit(";", 1)[-1]
            if any(w in leaf for w in WAITING):
                waiting += n
                continue
            total += n
            leaves[leaf] += n
            layer = next((label for label, keys in LAYERS if any(k in leaf for k in keys)), "other")
            layers[layer] += n
        total_all += total
        layers_all.update(layers)
        print(f"  {name}: {total} busy samples ({waiting} more waiting); top leaf functions:")
        for leaf, n in leaves.most_common(top):
            print(f"    {100 * n / max(total, 1):5.1f}%  {leaf}")
    print("  all profiled processes, busy samples by layer of the leaf frame:")
    for layer, n in layers_all.most_common():
        print(f"    {100 * n / max(total_all, 1):5.1f}%  {layer}")


def run_config(store: str, replicas: int, args: argparse.Namespace, prof_dir: Path | None,
               threads: int | None = None) -> Row:
    row = Row(store, replicas, threads)
    base = {**os.environ, "PAYMENT_FAILURE_RATE": "0", "DELIVERY_FAILURE_RATE": "0"}
    for name in ("SAGA_STORE", "SAGA_REPLICAS", "SAGA_STORE_THREADS"):
        base.pop(name, None)
    if store == "postgresql":
        base["SAGA_STORE"] = PG_URL
    if threads is not None:
        base["SAGA_STORE_THREADS"] = str(threads)
    for attempt in (1, 2):  # a start that failed on a loaded machine is tried once more, from fresh
        env = fresh_isolated_env(INSTANCE, PORT_BASE, base)
        system = LocalSystem(env=env, proxied=False, say=lambda line: None)
        try:
            system.up(timeout=120, replicas=replicas)
            break
        except ReplicasNeedSharedStore as exc:
            row.refused = "refused: " + str(exc).split(":")[0]
            return row
        except RuntimeError as exc:
            system.down()
            if attempt == 2:
                row.refused = f"failed to start: {exc}"[:200]
                return row
    try:
        with SagaClient(system.endpoints(), timeout=30) as client:
            for _ in range(5):  # warm connections and caches
                client.place_order("product_1", 1, 1.0, force=SUCCEED)
            files = None
            if prof_dir is not None:
                pids = {s.service: s.pid for s in system.status() if s.pid and ("#2" not in s.service)}
                files = profile(pids, args.profile_seconds, prof_dir)  # type: ignore[arg-type]
            row.max = saga_throughput(client, args.orders, args.clients, args.timeout)
            if files is not None:
                summarise_profiles(files, args.top)
            rate = max(1.0, row.max["sagas_per_s"] / 2)
            row.open = open_loop(client, rate, args.open_seconds, args.timeout)
    finally:
        system.down()
        if store == "postgresql":
            drop_database(env["SAGA_STORE"])
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--open-seconds", type=float, default=20.0)
    parser.add_argument("--ceiling-messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--pg-threads", type=int, nargs="*", default=[], metavar="N",
                        help="also PostgreSQL x1 with SAGA_STORE_THREADS=N (each N a row): what the default rests on")
    args = parser.parse_args()

    probe = fresh_isolated_env(INSTANCE, PORT_BASE)
    ceiling = asyncio.run(amqp_ceiling(probe["SAGA_AMQP_URL"], args.ceiling_messages))
    print(f"amqp ceiling: {ceiling:,.0f} msgs/s ({args.ceiling_messages} persistent, confirmed, acked)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="saga-pyspy-") as tmp:
        for store, replicas in (("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2)):
            # the best configuration so far and the one with most processes
            profiled = not args.no_profile and (store, replicas) in (("sqlite", 1), ("postgresql", 2))
            if profiled:
                print(f"py-spy profile of {store} x{replicas} (replica #1 of each service), "
                      f"{args.profile_seconds:.0f} s of the burst:")
            rows.append(run_config(store, replicas, args, Path(tmp) if profiled else None))
            print(f"  done: {store} x{replicas}", flush=True)
        for threads in args.pg_threads:
            rows.append(run_config("postgresql", 1, args, None, threads))
            print(f"  done: postgresql x1, {threads} store threads", flush=True)

    print()
    print(f"| store (store threads) | replicas | sagas/s (burst of {args.orders}, {args.clients} clients) | ratio to ceiling "
          f"| open-loop rate /s | p50 ms | p95 ms | p99 ms | lost |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.refused:
            print(f"| {r.store} | {r.replicas} | {r.refused} | | | | | | |")
            continue
        m, o = r.max, r.open
        store = r.store if r.threads is None else f"{r.store} ({r.threads})"
        print(f"| {store} | {r.replicas} | {m['sagas_per_s']:.1f} | {m['sagas_per_s'] * 6 / ceiling:.2f} "
              f"| {o['rate']:.1f} | {o['p50_ms']:.0f} | {o['p95_ms']:.0f} | {o['p99_ms']:.0f} "
              f"| {m['lost'] + o['lost']} |")
    print(f"ceiling_msgs_per_s={ceiling:.0f}")
    lost = sum(r.max.get("lost", 0) + r.open.get("lost", 0) for r in rows)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
