"""Phase one: before any fault, the system is ready, carries nothing left over from earlier runs,
and the invariants hold on a small probe. If not, no fault is injected: whatever the run found
would say nothing about faults."""

from __future__ import annotations

import time
from typing import Any

from harness.broker import peek_dead_letters, run_sync
from harness.client import SagaClient
from harness.crashpoints import disarm_crash_points_everywhere
from harness.experiments.run import Run
from harness.experiments.schedule import plan_order
from harness.experiments.target import process_urls
from harness.invariants import check_all
from harness.model import History, Verdict, overall
from harness.nemesis.handler_faults import HandlerFaultNemesis
from harness.nemesis.network import NetworkNemesis
from harness.quiescence import wait_quiescent
from system.contracts import SERVICES

READY_TIMEOUT_S = 60.0
PROBE_KINDS = ("success", "payment_failure")
PROBE_PROCESS = 10_000  # the probe's process ids, apart from the load's


def wait_ready(client: SagaClient, timeout: float) -> dict[str, str]:
    """{service: why not ready}; empty once every service is ready, or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        not_ready = {}
        for service in SERVICES:
            ready, reason = client.ready(service)
            if not ready:
                not_ready[service] = reason
        if not not_ready or time.monotonic() > deadline:
            return not_ready
        time.sleep(0.3)


def clear_leftovers(run: Run, phase: dict[str, Any]) -> None:
    """A toxic or an armed crash point from an earlier run would be blamed on this one."""
    endpoints, token = run.target.endpoints, run.target.chaos_token
    if endpoints.toxiproxy_url:
        network = NetworkNemesis(endpoints.toxiproxy_url)
        try:
            report = network.faults.heal_all()
        finally:
            network.close()
        if report.removed or report.enabled:
            phase["leftover_faults_healed"] = {"toxics": report.removed, "proxies": report.enabled}
    if token:  # on every process: the service's port reaches one replica the kernel picks
        urls = process_urls(run.target)
        disarm_crash_points_everywhere(urls.values(), token)
        HandlerFaultNemesis(urls, token).heal_all()


def probe(run: Run, client: SagaClient) -> list[str]:
    ids = []
    for n, kind in enumerate(PROBE_KINDS):
        plan = plan_order(run.seed, 0, {kind: 1}, f"{run.run_tag}-probe{n}")
        op = run.oplog.invoke(PROBE_PROCESS + n, "place_order", {**plan.request_value(), "probe": True})
        response = client.place_order(plan.product_id, plan.quantity, plan.amount, user_id=plan.user_id,
                                      force=plan.force, idempotency_key=plan.idempotency_key)
        if response.status_code != 201:
            run.oplog.fail(op, f"{response.status_code}: {response.text[:200]}")
            raise RuntimeError(f"the steady-state probe order was refused: {response.status_code} {response.text[:200]}")
        order_id = response.json()["order_id"]
        run.oplog.ok(op, {"order_id": order_id, "status_code": 201})
        ids.append(order_id)
    return ids


def steady_state(run: Run, client: SagaClient) -> bool:
    began = time.monotonic()
    phase: dict[str, Any] = {}
    run.phases["steady_state"] = phase
    not_ready = wait_ready(client, 0)
    if not_ready:
        run.log(f"waiting up to {READY_TIMEOUT_S:.0f}s for {', '.join(not_ready)} to be ready")
        not_ready = wait_ready(client, READY_TIMEOUT_S)
    if not_ready:
        phase["problem"] = f"services not ready after {READY_TIMEOUT_S:.0f}s: {not_ready}"
        run.log(f"steady state: {phase['problem']}")
        run.verdicts = [Verdict("steady_state", "unknown", "every service is ready before any fault",
                                note=phase["problem"])]
        return False
    clear_leftovers(run, phase)
    phase["earlier_work_drained"] = wait_quiescent(client, None, None, deadline_s=30, settle_s=0,
                                                   say=lambda line: None).reached
    # Dead letters already parked belong to earlier runs: accounted for, not this run's doing.
    run.expected_dead_letters = [d.message_id for d in run_sync(peek_dead_letters(run.target.endpoints.amqp_url))]
    phase["dead_letters_before"] = len(run.expected_dead_letters)
    probe_ids = probe(run, client)
    orders = client.wait_terminal(probe_ids, timeout=30)
    state = client.read_state()
    history = History(run.recorder.messages() if run.recorder else [], run.oplog.operations(), [], None,
                      style=run.target.style)
    verdicts = check_all(history, state, terminal_deadline_s=30, order_ids=probe_ids,
                         expected_dead_letters=run.expected_dead_letters, only=run.experiment.invariants,
                         **run.target.check_options())
    verdict = overall(verdicts)
    phase.update(probe_orders=probe_ids, probe_statuses={i: o.get("status") for i, o in orders.items()},
                 valid=verdict, seconds=round(time.monotonic() - began, 3))
    if verdict is not True:
        run.log(f"steady state does not hold ({verdict}); no fault injected")
        run.verdicts, run.state, run.scope = verdicts, state, probe_ids
        return False
    run.log(f"steady state holds: {len(probe_ids)} probe orders, {len(verdicts)} invariants valid")
    return True
