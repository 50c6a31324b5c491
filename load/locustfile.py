"""Customers placing orders on the saga, each followed to its end, judged for consistency at stop.

    locust -f load/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8001

A customer draws an order kind from the mix (--saga-mix), POSTs it with an Idempotency-Key,
polls GET /orders/{id} until the saga ends (bounded by --saga-timeout) and reports the saga's
latency, POST to terminal status, as a `SAGA` entry named `saga: <outcome>`. Every POST is
recorded as a Jepsen-style operation (invoke, then ok / fail / info). When the test stops, the
run's record is saved and `python -m load.verdict` settles and checks it; a broken invariant or
an order not terminal by the deadline makes Locust exit non-zero with the counterexamples.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `load` from any working directory

import gevent  # noqa: E402
from locust import FastHttpUser, events, task  # noqa: E402
from locust.runners import STATE_STOPPED, LocalRunner, MasterRunner, WorkerRunner  # noqa: E402
from locust.stats import CSV_STATS_INTERVAL_SEC  # noqa: E402

from harness.exits import EXIT_UNKNOWN, EXIT_USAGE  # noqa: E402
from harness.model import Operation, OpType  # noqa: E402
from harness.stock_boundary import SCARCE_PRODUCT, available_of  # noqa: E402
from load import ui  # noqa: E402
from load.chaos import drawn  # noqa: E402
from load.mix import DEFAULT_MIX, Mix, MixError, OrderKind, order_body, outcome_of  # noqa: E402
from load.operations import PostAnswer, classify_post, saga_latency  # noqa: E402
from load.record import RunRecord, derive_targets  # noqa: E402
from system.contracts import DEFAULT_PORTS  # noqa: E402
from system.styles import DEFAULT_STYLE, STYLES  # noqa: E402

OPERATIONS_MESSAGE = "saga_operations"  # a worker's operations, sent to the master at stop
REPORT_MESSAGE = "saga_report"  # master -> workers: stop your customers and send your operations
WORKER_REPORT_TIMEOUT_S = 60.0
PROCESSES_PER_WORKER = 1_000_000  # worker k's customers are processes k*1e6+1, k*1e6+2, ...
POST_ATTEMPTS = 3  # an ambiguous or refused POST is retried with the same key, like a real client
USAGE_EXIT_CODE = EXIT_USAGE


def _port(service: str) -> int:
    return int(os.environ.get(f"SAGA_{service.upper()}_PORT") or DEFAULT_PORTS[service])


def default_host() -> str:
    return os.environ.get("SAGA_ORDER_URL") or f"http://127.0.0.1:{_port('order')}"


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument("--saga-mix", env_var="SAGA_LOAD_MIX", default=DEFAULT_MIX,
                        help="order kinds and weights: success, insufficient_stock, payment_failure, "
                             "delivery_failure, idempotent_retry, random, scarce_small, scarce_exact, "
                             "scarce_over; or the preset scarce-stock")
    parser.add_argument("--saga-style", env_var="SAGA_STYLE", choices=STYLES, default=DEFAULT_STYLE,
                        help="saga style of the system under load (recorded; what the check expects)")
    parser.add_argument("--saga-seed", env_var="SAGA_LOAD_SEED", type=int, default=ui.default("saga_seed", None),
                        help="seed for the mix and the chaos plan (default: random, logged)")
    parser.add_argument("--saga-timeout", env_var="SAGA_LOAD_SAGA_TIMEOUT", type=float, default=30.0,
                        help="seconds a customer follows one order before reporting `saga: timeout`")
    parser.add_argument("--saga-think-time", env_var="SAGA_LOAD_THINK_TIME", type=float, default=0.0,
                        help="seconds a customer waits between orders")
    parser.add_argument("--saga-check-deadline", env_var="SAGA_LOAD_CHECK_DEADLINE", type=float, default=60.0,
                        help="every order must be terminal this many seconds after stop (or heal)")
    parser.add_argument("--saga-skip-check", env_var="SAGA_LOAD_SKIP_CHECK", action="store_true", default=False,
                        help="save the run record but do not run the consistency check")
    parser.add_argument("--saga-run-dir", env_var="SAGA_LOAD_RUN_DIR", default="runs",
                        help="where each run's record.json and verdict.json go (a subfolder per run)")
    for service in ("inventory", "payment", "delivery"):
        parser.add_argument(f"--{service}-url", env_var=f"SAGA_{service.upper()}_URL", default="",
                            help=f"{service} service URL (default: --host's hostname and port + "
                                 f"{DEFAULT_PORTS[service] - DEFAULT_PORTS['order']})")
    parser.add_argument("--amqp-url", env_var="SAGA_AMQP_URL", default="",
                        help="broker for the queue and dead-letter checks (default: guest@--host's hostname:5672)")
    parser.add_argument("--saga-skip-broker-check", env_var="SAGA_LOAD_SKIP_BROKER_CHECK", action="store_true",
                        default=False, help="skip the queues_drained and dead_letters_accounted invariants")
    # The web UI shows these defaults by parsing again: after init they are the real ones (load/ui.py).
    parser.add_argument("--chaos-victim", env_var="SAGA_CHAOS_VICTIM", default=ui.default("chaos_victim", ""),
                        help="load/shapes.py: the service to SIGKILL (default: drawn from the seed)")
    parser.add_argument("--chaos-latency-ms", env_var="SAGA_CHAOS_LATENCY_MS", type=int,
                        default=ui.default("chaos_latency_ms", 0),
                        help="load/shapes.py: latency on every AMQP link (default: drawn from the seed)")


@events.init.add_listener
def validate_options(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # used as a library, without Locust's command line
        return
    try:
        environment.saga_mix = Mix.parse(options.saga_mix)
    except MixError as exc:
        sys.stderr.write(f"--saga-mix: {exc}\n")
        sys.exit(USAGE_EXIT_CODE)
    seed = options.saga_seed
    environment.saga_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    victim, latency_ms = drawn(environment.saga_seed)
    # What runs is what the web UI shows (and may change): the seed and the plan's parameters.
    options.saga_seed = environment.saga_seed
    options.chaos_victim = options.chaos_victim or victim
    options.chaos_latency_ms = options.chaos_latency_ms or latency_ms
    ui.resolve_defaults(options.saga_seed, options.chaos_victim, options.chaos_latency_ms)
    if isinstance(environment.runner, MasterRunner):  # distributed: the workers' operations come here
        environment.saga_worker_operations = {}

        def collect(msg: Any, **_: Any) -> None:
            environment.saga_worker_operations[msg.data["worker"]] = msg.data["operations"]

        environment.runner.register_message(OPERATIONS_MESSAGE, collect)
    elif isinstance(environment.runner, WorkerRunner):
        # Locust's master quits without telling workers to stop first: it asks for the report.
        environment.runner.register_message(REPORT_MESSAGE, lambda msg, **_: gevent.spawn(environment.runner.stop))


@events.test_start.add_listener
def start_run(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    try:  # the web UI may have changed it since init
        environment.saga_mix = Mix.parse(options.saga_mix)
    except MixError as exc:
        print(f"--saga-mix: {exc}; keeping {environment.saga_mix}", flush=True)
    try:  # and the seed (the UI shows the one resolved at init)
        environment.saga_seed = int(options.saga_seed)
    except (TypeError, ValueError):
        print(f"--saga-seed: {options.saga_seed!r} is not an integer; keeping {environment.saga_seed}", flush=True)
    host = environment.host or options.host or default_host()
    record = RunRecord(
        run_id=uuid.uuid4().hex[:8],
        seed=environment.saga_seed,
        targets=derive_targets(host, inventory=options.inventory_url, payment=options.payment_url,
                               delivery=options.delivery_url, amqp_url=options.amqp_url,
                               skip_broker=options.saga_skip_broker_check),
        mix=str(environment.saga_mix),
        deadline_s=options.saga_check_deadline,
        style=options.saga_style,
    )
    environment.saga_run = record
    environment.saga_processes = itertools.count(1)
    print(f"saga-load run {record.run_id}: seed {record.seed}, mix {record.mix}, style {record.style}, host {host}",
          flush=True)


class Customer(FastHttpUser):
    host = default_host()
    network_timeout = 10.0
    connection_timeout = 5.0

    def wait_time(self) -> float:
        return self.environment.parsed_options.saga_think_time

    def on_start(self) -> None:
        env = self.environment
        self.saga_run: RunRecord = env.saga_run
        offset = 0
        if isinstance(env.runner, WorkerRunner):  # process ids unique across the workers
            offset = (max(env.runner.worker_index, 0) + 1) * PROCESSES_PER_WORKER
        self.process_id = offset + next(env.saga_processes)
        self.rng = random.Random(f"{self.saga_run.seed}:{self.process_id}")
        self.user_id = f"load-{self.saga_run.run_id}-{self.process_id}"
        self.orders = itertools.count(1)

    @task
    def place_and_follow(self) -> None:
        kind = self.environment.saga_mix.draw(self.rng)
        available = self.available(SCARCE_PRODUCT) if kind.stock_offset is not None else None
        body = order_body(kind, self.user_id, self.rng, available)
        key = f"{self.user_id}-{next(self.orders)}"
        sent = time.time()
        order_id = self.place(kind, body, key, available)
        if order_id is None:
            return
        if kind.retry_same_key:
            self.post(kind, body, key, name="POST /orders (same key again)", expect_order=order_id)
        self.follow(kind, order_id, sent)

    # -- placing -------------------------------------------------------------------------------
    def available(self, product_id: str) -> int | None:
        """The product's available stock right now (a boundary order is sized on it); None if
        the inventory service did not say."""
        url = f"{self.saga_run.targets.inventory}/inventory"
        with self.client.get(url, name="GET /inventory", catch_response=True) as response:
            if response.status_code != 200:
                return None
            stock = parse_json(response)
            return available_of(stock, product_id) if isinstance(stock, list) else None

    def place(self, kind: OrderKind, body: dict[str, Any], key: str, stock_seen: int | None = None) -> str | None:
        for attempt in range(POST_ATTEMPTS):
            answer = self.post(kind, body, key, stock_seen=stock_seen)
            if answer.op_type == "ok":
                return answer.value["order_id"]
            if not answer.retry:
                return None
            gevent.sleep(0.5 * 2**attempt)  # refused or unknown: back off, retry with the same key
        return None

    def post(
        self, kind: OrderKind, body: dict[str, Any], key: str, name: str = "POST /orders",
        expect_order: str | None = None, stock_seen: int | None = None,
    ) -> PostAnswer:
        """One POST, recorded as one operation (invoke, then its ending)."""
        value: dict[str, Any] = {"idempotency_key": key, "kind": kind.name, "request": body}
        if stock_seen is not None:
            value["stock_seen"] = stock_seen  # what a boundary order was sized against
        self.record("invoke", value)
        # Killed mid-request (the test stopping): the order may exist, so the outcome is unknown.
        answer = PostAnswer("info", value, "interrupted")
        try:
            with self.client.post("/orders", json=body, headers={"Idempotency-Key": key}, name=name,
                                  catch_response=True) as response:
                answer = classify_post(response.status_code, parse_json(response),
                                       getattr(response, "error", None), value, expect_order)
                if answer.complaint:
                    response.failure(answer.complaint)
        finally:
            self.record(answer.op_type, answer.value, answer.error)
        return answer

    def record(self, op_type: OpType, value: dict[str, Any], error: str | None = None) -> None:
        self.saga_run.operations.append(Operation(self.process_id, op_type, "place_order", time.time(), value, error))

    # -- following -----------------------------------------------------------------------------
    def follow(self, kind: OrderKind, order_id: str, sent: float) -> None:
        deadline = time.monotonic() + self.environment.parsed_options.saga_timeout
        delay = 0.05
        while True:
            order = self.read_order(order_id)
            outcome = outcome_of(order) if order else None
            if outcome is not None:
                seen = time.time()
                exc = None if outcome in kind.expected else AssertionError(
                    f"{kind.name} order ended {outcome}; expected {'/'.join(sorted(kind.expected))}")
                self.report_saga(outcome, saga_latency(sent, seen, order), exc)
                return
            if time.monotonic() > deadline:
                status = order.get("status") if order else "unread"
                self.report_saga("timeout", time.time() - sent, TimeoutError(
                    f"order still {status} after {self.environment.parsed_options.saga_timeout:.0f}s"))
                return
            gevent.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def read_order(self, order_id: str) -> dict[str, Any] | None:
        with self.client.get(f"/orders/{order_id}", name="GET /orders/{id}", catch_response=True) as response:
            if response.status_code == 200:
                return response.json()
            return None

    def report_saga(self, outcome: str, seconds: float, exc: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="SAGA", name=f"saga: {outcome}", response_time=seconds * 1000.0,
            response_length=0, exception=exc, context={},
        )


# --- the end of a test: heal, save, check -----------------------------------------------------------
@events.test_stop.add_listener
def finish_run(environment: Any, **_: Any) -> None:
    record: RunRecord | None = getattr(environment, "saga_run", None)
    if record is None or record.stopped_at is not None:
        return
    record.stopped_at = time.time()
    chaos = heal_chaos(environment, record)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):  # the master checks: hand it this worker's operations
        runner.send_message(OPERATIONS_MESSAGE, {"worker": runner.client_id,
                                                 "operations": [asdict(op) for op in record.operations]})
        print(f"saga-load worker {runner.client_id}: {len(record.operations)} operations sent to the master",
              flush=True)
        return
    if isinstance(runner, MasterRunner):
        if not gather_worker_operations(environment, record):
            environment.process_exit_code = EXIT_UNKNOWN
            return
    elif not isinstance(runner, LocalRunner):
        print("saga-load: the consistency check needs the operations of every process", flush=True)
        return
    folder = Path(environment.parsed_options.saga_run_dir) / f"load-{datetime.now():%Y%m%d-%H%M%S}-{record.run_id}"
    path = record.save(folder / "record.json")
    print(f"saga-load run {record.run_id}: {len(record.operations)} operations, "
          f"{len(record.order_ids())} orders; record {path}", flush=True)
    if environment.parsed_options.saga_skip_check:
        print(f"saga-load: check skipped; run it with: python -m load.verdict {path}", flush=True)
        return
    code = run_verdict(path, record.deadline_s)
    ui.report_verdict(environment, path.with_name("verdict.json"), code)  # web UI and --html show it
    if getattr(environment.parsed_options, "csv_prefix", None):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.5)  # the --csv writer's next pass takes the verdict rows
    # The verdict decides when it is not valid; under chaos, request failures are expected,
    # so a valid verdict decides too. Otherwise Locust's own rule (--exit-code-on-error) applies.
    if code != 0 or chaos:
        previous = environment.process_exit_code or 0
        environment.process_exit_code = code if previous == 0 else previous


def gather_worker_operations(environment: Any, record: RunRecord) -> bool:
    """Wait until every worker sent its operations (Locust's custom messages) and add them to
    the master's record; False (the verdict is unknown) if one never does."""
    runner = environment.runner
    expected = max(len(runner.clients), getattr(environment.parsed_options, "expect_workers", 1) or 1)
    received = environment.saga_worker_operations
    runner.send_message(REPORT_MESSAGE)
    deadline = time.monotonic() + WORKER_REPORT_TIMEOUT_S
    while len(received) < expected and time.monotonic() < deadline:
        gevent.sleep(0.1)
    for operations in received.values():
        record.operations.extend(Operation(**op) for op in operations)
    print(f"saga-load master: operations of {len(received)} of {expected} workers", flush=True)
    if len(received) < expected:
        print(f"saga-load verdict: UNKNOWN ({expected - len(received)} workers never sent their operations)",
              flush=True)
        return False
    return True


def heal_chaos(environment: Any, record: RunRecord) -> bool:
    nemesis = getattr(environment, "saga_nemesis", None)
    if nemesis is None:
        return False
    environment.saga_nemesis = None
    try:
        nemesis.heal()
    except Exception as exc:  # noqa: BLE001 - the check must still run; the open fault makes it unknown
        print(f"chaos: HEALING FAILED: {type(exc).__name__}: {exc}; heal by hand: "
              "`saga-harness fault heal` and `saga-harness up` (same SAGA_HOME)", flush=True)
    else:  # not on a second Ctrl-C either: then the shape's exit hook tries again
        nemesis.finished = True
        nemesis.close()
    record.faults = list(nemesis.events)
    record.healed_at = nemesis.healed_at
    record.chaos_plan = nemesis.plan.describe()
    return True


def parse_json(response: Any) -> Any:
    if not response.status_code:  # no HTTP answer: nothing to parse
        return None
    try:
        return response.json()
    except ValueError:
        return None


def run_verdict(path: Path, deadline_s: float) -> int:
    """The check in a process of its own: no gevent there, and a crash cannot take Locust down."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    try:
        done = subprocess.run([sys.executable, "-m", "load.verdict", str(path)], cwd=ROOT, env=env,
                              timeout=deadline_s + 120)
    except subprocess.TimeoutExpired:
        print(f"saga-load verdict: UNKNOWN (the check did not finish; rerun: python -m load.verdict {path})", flush=True)
        return EXIT_UNKNOWN
    return done.returncode


@events.quitting.add_listener
def stop_before_quitting(environment: Any, **_: Any) -> None:
    # Ctrl-C and SIGTERM go straight to quitting, and Locust picks the exit code right after:
    # stop the test first so the heal and the check still run and their code counts.
    runner = environment.runner
    if runner is not None and runner.state != STATE_STOPPED and getattr(environment, "saga_run", None):
        runner.stop()
