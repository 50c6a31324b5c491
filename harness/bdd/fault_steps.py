"""Steps that break things on purpose, and the checks that say nothing broke for the customer.

Every fault is registered on the scenario's world as it is injected, with the action that undoes
it, and the `saga_world` fixture undoes whatever is still active in teardown, pass or fail.
Steps that need process control (crash points, restarts, the broker) skip with a reason on an
external target; network steps skip when no Toxiproxy is known.
"""

from __future__ import annotations

from functools import partial

import pytest
from pytest_bdd import given, parsers, then, when

from harness.bdd import nemesis
from harness.bdd.tap import publish_again, with_new_id
from harness.bdd.vocabulary import (
    SCARCE_PRODUCT,
    burst_outcomes,
    not_in_style,
    outcome_carrying,
    receiving_services,
)
from harness.bdd.world import DEADLINE_S, SagaWorld, with_broker
from harness.crashpoints import arm_crash_point_everywhere, disarm_crash_points_everywhere
from harness.dice import decisions_from_env
from harness.faults.network import NetworkFaults
from harness.invariants import check_all, summary
from harness.model import passed
from harness.toxiproxy.client import ToxiproxyClient
from harness.waiting import wait_until
from system.contracts import SERVICES
from system.messaging.crashpoints import CRASH_POINTS
from system.styles import style_named


def _service(name: str) -> str:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}: use one of {', '.join(SERVICES)}")
    return name


def _network(world: SagaWorld) -> NetworkFaults:
    if "network" not in world.notes:
        url = world.target.endpoints.toxiproxy_url
        if not url:
            pytest.skip("needs Toxiproxy: this target has no TOXIPROXY_URL, so links cannot be faulted")
        faults = NetworkFaults(ToxiproxyClient(url))
        # Registered first, so it closes after every fault registered later has healed.
        world.cleanup.callback(faults.close)
        world.notes["network"] = faults
    return world.notes["network"]


def _stats_total(counts: dict[str, int]) -> int:
    """Deliveries a service took in, whatever became of them (SagaClient.stats' counters)."""
    return sum(int(counts.get(k, 0)) for k in ("handled", "duplicates", "dead_lettered"))


# -- network -----------------------------------------------------------------------------------
@given(parsers.parse("every link to the broker and the order API is slowed by {ms:d} ms"))
@when(parsers.parse("every link to the broker and the order API is slowed by {ms:d} ms"))
def slow_every_link(saga_world: SagaWorld, ms: int) -> None:
    faults = _network(saga_world)
    for target in ("all", "order_api"):
        fault = faults.add("latency", target, latency=ms, jitter=ms // 5)
        saga_world.add_fault("latency", target, partial(faults.heal, fault), ms=ms)


@given(parsers.parse("the {service} service's link to the broker is slowed by {ms:d} ms"))
@when(parsers.parse("the {service} service's link to the broker is slowed by {ms:d} ms"))
def slow_one_link(saga_world: SagaWorld, service: str, ms: int) -> None:
    faults = _network(saga_world)
    fault = faults.add("latency", _service(service), latency=ms, jitter=ms // 5)
    saga_world.add_fault("latency", service, lambda: faults.heal(fault), ms=ms)


@given(parsers.parse("the {service} service is cut off from the broker"))
@when(parsers.parse("the {service} service is cut off from the broker"))
def cut_off(saga_world: SagaWorld, service: str) -> None:
    faults = _network(saga_world)
    fault = faults.partition_now(_service(service))
    saga_world.add_fault("partition", service, lambda: faults.heal(fault))


@when(parsers.parse("the {service} service's link to the broker is restored"))
def restore_link(saga_world: SagaWorld, service: str) -> None:
    saga_world.active_fault("partition", service).heal()


@when("every fault is healed")
def heal_everything(saga_world: SagaWorld) -> None:
    saga_world.heal_all()


@then(parsers.parse("the {service} service reports that it is not ready"))
def reports_not_ready(saga_world: SagaWorld, service: str) -> None:
    ready, why = wait_until(lambda: saga_world.client.ready(_service(service)), lambda r: not r[0], 20,
                            what=f"{service} to report that it is not ready")
    saga_world.notes[f"not-ready:{service}"] = why


@then(parsers.parse("the {service} service is ready again"))
def ready_again(saga_world: SagaWorld, service: str) -> None:
    wait_until(lambda: saga_world.client.ready(_service(service)), lambda r: r[0], DEADLINE_S,
               what=f"{service} to be ready again")


@then("every service is ready again")
def all_ready(saga_world: SagaWorld) -> None:
    wait_until(lambda: {s: saga_world.client.ready(s) for s in SERVICES}, lambda r: all(ok for ok, _ in r.values()),
               DEADLINE_S, what="every service to be ready again")


@then("the payment service still lists payments")
def payments_still_listed(saga_world: SagaWorld) -> None:
    payments = saga_world.client.payments()  # raises on anything but 2xx
    assert isinstance(payments, list)


@then(parsers.parse('every order waits at "{status}"'))
def orders_wait_at(saga_world: SagaWorld, status: str) -> None:
    def statuses() -> dict[str, str]:
        return {i: (saga_world.client.order(i) or {}).get("status", "missing") for i in saga_world.orders}

    wait_until(statuses, lambda s: all(v == status for v in s.values()), 20, what=f"every order at {status}")


@then("every order that got its stock waits for its payment")
def served_orders_wait_for_payment(saga_world: SagaWorld) -> None:
    def parked(order: dict) -> bool:
        return order.get("status") == "inventory_reserved" or order.get("failure_reason") == "insufficient_inventory"

    def reads() -> list[dict]:
        return [saga_world.client.order(i) or {"order_id": i} for i in saga_world.orders]

    seen = wait_until(reads, lambda os: all(parked(o) for o in os), 20,
                      what="every order that got its stock to wait for its payment")
    assert any(o.get("status") == "inventory_reserved" for o in seen), "no order got as far as its payment"


# -- crashes -----------------------------------------------------------------------------------
@given(parsers.parse('the {service} service will die at "{point}" on a "{message}" message'))
@when(parsers.parse('the {service} service will die at "{point}" on a "{message}" message'))
def arm_crash(saga_world: SagaWorld, service: str, point: str, message: str) -> None:
    system = saga_world.target.require_process_control()
    token = saga_world.target.chaos_token
    if not token:
        pytest.skip("needs the chaos control surface: start the system with a chaos token (saga-harness up --chaos)")
    assert point in CRASH_POINTS, f"unknown crash point {point!r}: use one of {', '.join(CRASH_POINTS)}"
    style = style_named(saga_world.target.style)
    # A crash on a message the service never handles (or, after publishing, never sends) in this style
    # would never fire: the scenario is about the other style.
    meets = style.owner(message) == service if point == "after_publish_before_mark_sent" else (
        message in style.bindings.get(_service(service), ()))
    if not meets:
        pytest.skip(f"the {service} service never {'sends' if point.startswith('after_publish') else 'handles'} "
                    f"{message!r} in the {style.name}")
    # Every process of the service (its replicas): whichever takes the message dies.
    urls = list(saga_world.target.endpoints.process_urls(_service(service)).values())
    saga_world.notes[f"pids:{service}"] = system.pids(service)
    saga_world.notes[f"crash-urls:{service}"] = urls

    def bring_back() -> None:
        if system.pid(service) is None:
            nemesis.restart_service(system, service)
        disarm_crash_points_everywhere(urls, token)

    arm_crash_point_everywhere(urls, token, point, message)
    saga_world.add_fault("crash", service, bring_back, point=point, routing_key=message)


@then(parsers.parse("the {service} service dies"))
def service_dies(saga_world: SagaWorld, service: str) -> None:
    system = saga_world.target.require_process_control()
    old: dict[str, int | None] = saga_world.notes.get(f"pids:{service}") or {}

    def dead() -> bool:
        # One process (of a service's replicas, the one that took the message) gone for the
        # runner, and really gone: a dying process still holds its port and files.
        pids = system.pids(_service(service))
        return any(pid is None and ((was := old.get(p)) is None or nemesis.process_gone(was)) for p, pid in pids.items())

    wait_until(dead, bool, 20, what=f"{service} (pids {old}) to die at its crash point")
    urls = saga_world.notes.get(f"crash-urls:{service}", [])
    if len(urls) > 1 and saga_world.target.chaos_token:
        # The message goes back to the queue: a sibling still armed would die on it too.
        disarm_crash_points_everywhere(urls, saga_world.target.chaos_token)


@when(parsers.parse("the {service} service is restarted"))
def restart(saga_world: SagaWorld, service: str) -> None:
    system = saga_world.target.require_process_control()
    nemesis.restart_service(system, _service(service))
    window = saga_world.find_active("crash", service)
    if window is not None:
        window.heal()  # ends the crash window in the history (and disarms what is left)


@when(parsers.parse("the {service} service is restarted once it has died"))
def restart_after_death(saga_world: SagaWorld, service: str) -> None:
    service_dies(saga_world, service)
    restart(saga_world, service)


# -- the broker --------------------------------------------------------------------------------
@when("the broker is restarted")
def broker_restarted(saga_world: SagaWorld) -> None:
    saga_world.target.require_process_control()
    if nemesis.rabbitmqctl() is None:
        pytest.skip("needs rabbitmqctl on this machine to restart the broker")
    amqp_url = saga_world.target.endpoints.amqp_url
    window = saga_world.add_fault("broker_restart", "rabbitmq", lambda: nemesis.ensure_broker_running(amqp_url))
    nemesis.stop_broker()
    nemesis.start_broker(amqp_url)
    window.heal()


# -- duplicates --------------------------------------------------------------------------------
@given(parsers.parse('a finished order whose saga carried a "{message}" message'))
def finished_order_carrying(saga_world: SagaWorld, message: str) -> None:
    tap = saga_world.tap
    assert tap is not None, 'add "Given the message bus is being recorded" to the scenario'
    wanted = outcome_carrying(message)
    if (why := not_in_style(message, style_named(saga_world.target.style))) is not None:
        pytest.skip(why)
    product, quantity = (SCARCE_PRODUCT, 100) if wanted.scarce else ("product_1", 1)
    response = saga_world.place(product, quantity, 12.5, force=wanted.force)
    assert response.status_code == 201, response.text
    saga_world.finish()
    order_id = saga_world.order_id
    found = wait_until(lambda: [m for m in tap.of_order(order_id) if m.routing_key == message],
                       bool, 10, what=f"the bus to carry {message} for order {order_id}")
    assert saga_world.wait_quiet(), "the system did not settle after the saga"
    saga_world.notes["captured"] = found[0]
    saga_world.notes["before"] = saga_world.snapshot(order_id)


@when(parsers.parse('the "{message}" message is delivered again with the same message id'))
def deliver_again(saga_world: SagaWorld, message: str) -> None:
    captured = saga_world.notes["captured"]
    assert captured.routing_key == message
    _send_copy(saga_world, "duplicate", captured)


@when(parsers.parse('the "{message}" message is sent again under a new message id'))
def send_again_new_id(saga_world: SagaWorld, message: str) -> None:
    captured = saga_world.notes["captured"]
    assert captured.routing_key == message
    copy = with_new_id(captured)
    # The copy is the fault, not the system's own effect: the checker is told so.
    saga_world.injected[copy.message_id] = captured.message_id
    _send_copy(saga_world, "retry", copy)


def _send_copy(saga_world: SagaWorld, kind: str, copy) -> None:
    """Note the receiver's counters, then publish the copy inside a recorded fault window."""
    receivers = receiving_services(copy.routing_key, style_named(saga_world.target.style))
    saga_world.notes["stats-before"] = {s: saga_world.service_stats(s) for s in receivers}
    saga_world.notes["receivers"] = receivers
    window = saga_world.add_fault(kind, copy.routing_key, lambda: None, message_id=copy.message_id)
    with_broker(lambda: publish_again(saga_world.target.endpoints.amqp_url, [copy]))
    window.heal()


@then(parsers.parse("the {service} service takes the message in"))
def takes_it_in(saga_world: SagaWorld, service: str) -> None:
    receivers = saga_world.notes["receivers"]
    assert service in receivers, f"{', '.join(receivers)} receive(s) this message, not {service}"
    saga_world.notes["receiver"] = service
    before = _stats_total(saga_world.notes["stats-before"][service])
    stats = wait_until(lambda: saga_world.service_stats(service), lambda s: _stats_total(s) > before, 15,
                       what=f"{service} to take the second delivery in")
    saga_world.notes["stats-after"] = stats


@then("it recognises the message as a duplicate")
def recognised_duplicate(saga_world: SagaWorld) -> None:
    # Summed over the receiver's replicas: whichever of them took the copy counted it.
    before = saga_world.notes["stats-before"][saga_world.notes["receiver"]]
    after = saga_world.notes["stats-after"]
    assert after["duplicates"] > before["duplicates"] and after["handled"] == before["handled"], (
        f"the inbox did not absorb it: duplicates {before['duplicates']} -> {after['duplicates']}, "
        f"handled {before['handled']} -> {after['handled']}"
    )


@then("nothing about the order, its payment, its delivery or its stock changed")
def nothing_changed(saga_world: SagaWorld) -> None:
    assert saga_world.wait_quiet(), "the system did not settle after the duplicate"
    before = saga_world.notes["before"]
    after = saga_world.snapshot(saga_world.order_id)
    changed = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
    assert not changed, f"the duplicate changed: {changed}"


@when("every message the bus carried so far is delivered again")
def deliver_everything_again(saga_world: SagaWorld) -> None:
    assert saga_world.tap is not None, 'add "Given the message bus is being recorded" to the scenario'
    ours = set(saga_world.orders)
    messages = [m for m in saga_world.tap.messages if m.order_id in ours]
    window = saga_world.add_fault("duplicate", "all", lambda: None, count=len(messages))
    with_broker(lambda: publish_again(saga_world.target.endpoints.amqp_url, messages))
    window.heal()


# -- a burst -----------------------------------------------------------------------------------
@when(parsers.parse("a burst of {n:d} orders is placed with mixed outcomes"))
def burst(saga_world: SagaWorld, n: int) -> None:
    expected = saga_world.notes.setdefault("expected", {})
    for i, wanted in enumerate(burst_outcomes(n)):
        product, quantity = (SCARCE_PRODUCT, 100) if wanted.scarce else ("product_1", 1 + i % 3)
        response = saga_world.place(product, quantity, 10.0 + i, force=wanted.force)
        assert response.status_code == 201, f"burst order {i} refused: HTTP {response.status_code} {response.text}"
        expected[saga_world.order_id] = wanted


# -- the checker -------------------------------------------------------------------------------
@then("every invariant holds for the orders of this scenario")
def invariants_hold(saga_world: SagaWorld) -> None:
    # Bounded waits without asserting: if something never ends, the checker says so with evidence.
    saga_world.client.wait_terminal(saga_world.orders, timeout=DEADLINE_S)
    saga_world.wait_quiet()
    verdicts = check_all(
        saga_world.history(),
        saga_world.state(),
        order_ids=saga_world.orders,
        expected_dead_letters=saga_world.expected_dead_letters,
        decisions=decisions_from_env(),
    )
    saga_world.notes["verdicts"] = verdicts
    # Shown with the failure (and with -rP): what was done to the system, and what the checker said.
    for w in saga_world.faults:
        print(f"fault {w.kind} on {w.target}: {w.detail} ({(w.end or 0) - w.start:.1f}s)")
    print(f"{len(saga_world.orders)} orders, {len(saga_world.tap.messages) if saga_world.tap else 0} messages recorded")
    print(summary(verdicts))
    assert all(passed(v) for v in verdicts), "invariants do not all hold:\n" + summary(verdicts)
