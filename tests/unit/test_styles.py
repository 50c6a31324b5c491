"""Saga styles (issue #15): the per-style contract tables, the reaction table, the choreography's
order service and participants, and the checker reading the style of a history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.invariants import check_all
from harness.sim import SimConfig, simulate
from system.access import grant
from system.composition import decide_for
from system.contracts import (
    COMMANDS,
    DELIVERY_FAILED,
    INVENTORY_RESERVED,
    LEGAL_TRACES,
    ORDER_PLACED,
    ORDER_TIMED_OUT,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    REPLIES,
    HandlerContext,
    Message,
)
from system.decisions import DecisionConfig
from system.defects import Defect
from system.order.domain import TRANSITIONS, OrderRequest, choreography_handle, path_to, place_order
from system.styles import (
    CHOREOGRAPHED,
    ORCHESTRATED,
    REACTIONS,
    STYLES,
    env_style,
    style_named,
)

CTX = HandlerContext(now="2026-11-30T00:00:00Z", decisions=DecisionConfig(0, 0.0, 0.0))
REQUEST = OrderRequest("u", "product_1", 2, 10.0, force_payment="succeed", force_delivery="fail")


def test_each_style_publishes_each_key_from_one_service_and_binds_what_someone_publishes():
    for style in (ORCHESTRATED, CHOREOGRAPHED):
        keys = [k for ks in style.publishes.values() for k in ks]
        assert len(keys) == len(set(keys)), style.name
        for service, bound in style.bindings.items():
            assert all(style.owner(k) not in (None, service) for k in bound), (style.name, service)
        for outcome, trace in style.bus_traces.items():
            assert trace[0] == style.first_step and all(style.owner(k) for k in trace), outcome
    # ONE message per saga, a second (order.timed_out) only when a step's deadline passes (issue #16).
    assert CHOREOGRAPHED.publishes["order"] == (ORDER_PLACED, ORDER_TIMED_OUT)
    assert set(CHOREOGRAPHED.routing_keys) == {ORDER_PLACED, ORDER_TIMED_OUT, *REPLIES}
    assert set(ORCHESTRATED.routing_keys) == {*COMMANDS, *REPLIES}


def test_the_reaction_table_is_the_orchestrators_table_read_the_other_way():
    # every (event -> command) the orchestrator sends is a participant's reaction, and back
    sent = {(event, step.command) for (_, event), step in TRANSITIONS.items() if step.command}
    reacted = {(event, command) for event, (_, command) in REACTIONS.items() if event != ORDER_PLACED}
    assert sent == reacted


def test_the_history_maps_to_each_styles_bus():
    assert CHOREOGRAPHED.bus_trace(LEGAL_TRACES["delivery_failed"]) == (
        ORDER_PLACED, INVENTORY_RESERVED, PAYMENT_COMPLETED, DELIVERY_FAILED, PAYMENT_REFUNDED, "inventory.released")
    assert ORCHESTRATED.bus_trace(LEGAL_TRACES["completed"]) == LEGAL_TRACES["completed"]


def test_style_setting_and_permissions():
    assert env_style({}).name == "orchestration"
    assert env_style({"SAGA_STYLE": "Choreography"}).name == "choreography"
    with pytest.raises(ValueError, match="one of orchestration, choreography"):
        style_named("jazz")
    assert "payment\\.process" in grant("order", ORCHESTRATED).topic_write
    assert grant("order", CHOREOGRAPHED).topic_write == "^(order\\.placed|order\\.timed_out)$"


def test_the_order_service_publishes_one_message_in_a_choreography_and_keeps_the_seed_history():
    outcome = place_order("o-1", REQUEST, CTX.now, style="choreography")
    [placed] = outcome.messages
    assert placed.type == ORDER_PLACED and placed.payload["amount"] == 10.0
    assert [h.event for h in outcome.state.history] == ["inventory.reserve"]  # inventory reacts with it


def _event(key: str, after: str | None = None, n: int = 0) -> Message:
    return Message(f"m-{key}-{n}", key, "o-1", {"after": after} if after else {}, CTX.now, None)


def test_the_listening_order_service_catches_up_on_an_event_that_overtook_its_cause():
    order = place_order("o-1", REQUEST, CTX.now, style="choreography").state
    # payment.completed arrives before inventory.reserved: it implies the reservation
    out = choreography_handle(order, _event(PAYMENT_COMPLETED, INVENTORY_RESERVED), CTX)
    assert out.messages == () and out.state.status == "payment_completed"
    assert [h.event for h in out.state.history] == list(LEGAL_TRACES["completed"][:5])
    late = choreography_handle(out.state, _event(INVENTORY_RESERVED, ORDER_PLACED), CTX)
    assert late.state == out.state  # the late one changes nothing
    # inventory.released is reachable two ways: what it reacted to picks the one
    assert path_to(TRANSITIONS, "pending", "inventory.released", PAYMENT_FAILED) == (
        INVENTORY_RESERVED, PAYMENT_FAILED, "inventory.released")
    assert path_to(TRANSITIONS, "pending", "inventory.released", None) is None  # ambiguous: ignored


def test_a_participant_reacts_with_its_own_domain_and_carries_the_context_on():
    payment = decide_for("payment", style="choreography")
    context = dict(REQUEST.__dict__)
    reserved = Message("m-r", INVENTORY_RESERVED, "o-1", {"product_id": "product_1", "saga": context}, CTX.now, "m-p")
    out = payment(None, reserved, CTX)
    [reply] = out.messages
    assert reply.type == PAYMENT_COMPLETED and reply.causation_id == "m-r"
    assert reply.payload["saga"] == context and reply.payload["after"] == INVENTORY_RESERVED
    assert payment(None, replace(reserved, type=PAYMENT_FAILED), CTX).messages == ()  # not its reaction


def test_no_delivery_compensation_in_a_choreography_means_nobody_refunds():
    payment = decide_for("payment", {Defect.NO_DELIVERY_COMPENSATION}, "choreography")
    failed = Message("m-d", DELIVERY_FAILED, "o-1", {"saga": dict(REQUEST.__dict__)}, CTX.now, "m-c")
    assert payment(None, failed, CTX).messages == ()


@pytest.mark.parametrize("style", STYLES)
def test_a_simulated_run_is_valid_in_each_style_and_names_its_style(style):
    result = simulate(SimConfig(seed=3, orders=30, style=style))
    assert all(v.valid in (True, "not_applicable") for v in result.verdicts), [
        (v.name, v.counterexamples[:1]) for v in result.verdicts if v.valid not in (True, "not_applicable")]
    assert result.history.style == style
    per_saga = len({m.message_id for m in result.history.messages}) / 30
    assert per_saga < 5 if style == "choreography" else per_saga > 5


def test_a_choreographys_history_checked_as_an_orchestrations_is_caught():
    result = simulate(SimConfig(seed=3, orders=10, style="choreography"))
    wrong = replace(result.history, style="orchestration")
    verdicts = {v.name: v.valid for v in check_all(wrong, result.state)}
    assert verdicts["publisher_owns_key"] is False and verdicts["bus_causality"] is False


def test_an_experiment_written_in_commands_means_the_same_deliveries_in_a_choreography():
    from harness.nemesis.base import PlannedFault
    from harness.nemesis.duplicates import settings_from
    from system.styles import bus_keys, delivered_as

    assert delivered_as(CHOREOGRAPHED, "payment", "payment.process") == INVENTORY_RESERVED
    assert delivered_as(CHOREOGRAPHED, "payment", "payment.refund") == DELIVERY_FAILED
    assert delivered_as(ORCHESTRATED, "payment", "payment.process") == "payment.process"
    assert bus_keys(CHOREOGRAPHED, "inventory.release") == (PAYMENT_FAILED, PAYMENT_REFUNDED)
    assert bus_keys(CHOREOGRAPHED, "payment.*") == ("payment.*",)  # a pattern stays a pattern
    fault = PlannedFault(id=1, nemesis="duplicates", kind="duplicate", target="inventory.reserve,payment.refund",
                         at_s=0.0, duration_s=1.0)
    assert settings_from(fault, CHOREOGRAPHED).keys == (ORDER_PLACED, DELIVERY_FAILED)
    assert settings_from(fault).keys == ("inventory.reserve", "payment.refund")


def test_the_bdd_vocabulary_knows_who_receives_what_in_each_style():
    from harness.bdd.vocabulary import not_in_style, receiving_services

    assert receiving_services(INVENTORY_RESERVED, CHOREOGRAPHED) == ("order", "payment")
    assert receiving_services(INVENTORY_RESERVED, ORCHESTRATED) == ("order",)
    assert not_in_style("payment.process", CHOREOGRAPHED) and not_in_style(ORDER_PLACED, ORCHESTRATED)
    assert not_in_style(PAYMENT_COMPLETED, CHOREOGRAPHED) is None
