"""Fast checks of the step library's pure parts and of the features' coverage (no system needed)."""

import json
from pathlib import Path

import pytest

from harness.bdd.tap import TappedMessage, first_unique, tapped, with_new_id
from harness.bdd.vocabulary import (
    OUTCOMES,
    UnknownPhrase,
    burst_outcomes,
    force_from_row,
    outcome,
    outcome_carrying,
    receiving_service,
)
from system.contracts import (
    ALL_ROUTING_KEYS,
    BINDINGS,
    LEGAL_TRACES,
    ROUTING_KEYS,
    TIMEOUT_ONLY_KEYS,
)
from system.messaging.crashpoints import CRASH_POINTS
from system.styles import CHOREOGRAPHED

HERE = Path(__file__).parent


def outlines(feature: str) -> dict[str, list[dict[str, str]]]:
    """Every Scenario Outline of a feature file with the rows of all its Examples tables."""
    found: dict[str, list[dict[str, str]]] = {}
    rows: list[dict[str, str]] = []
    header = None
    for line in (HERE / feature).read_text().splitlines():
        line = line.strip()
        if line.startswith("Scenario Outline:"):
            rows = found.setdefault(line.partition(":")[2].strip(), [])
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                rows.append(dict(zip(header, cells, strict=True)))
        else:
            header = None  # a table ends at the first line that is not a row
    return found


def test_each_duplicate_outline_covers_every_routing_key_once():
    found = outlines("duplicates.feature")
    assert len(found) == 2
    for name, rows in found.items():
        # both styles' keys; those only a timed-out saga carries are deadlines.feature's (issue #16)
        wanted = sorted(k for k in ALL_ROUTING_KEYS if k not in TIMEOUT_ONLY_KEYS)
        assert sorted(r["message"] for r in rows) == wanted, name


def test_the_duplicate_outlines_name_the_service_bound_to_each_key():
    for rows in outlines("duplicates.feature").values():
        for row in rows:
            assert row["message"] in BINDINGS[row["service"]] or row["message"] in CHOREOGRAPHED.bindings[row["service"]]


def test_the_crash_outline_covers_every_crash_point_on_every_service():
    [rows] = outlines("crashes.feature").values()
    assert {(r["service"], r["point"]) for r in rows} == {(s, p) for s in BINDINGS for p in CRASH_POINTS}
    for row in rows:
        assert row["message"] in ALL_ROUTING_KEYS


def test_every_routing_key_is_carried_by_a_forced_saga():
    for key in ROUTING_KEYS:
        if key not in TIMEOUT_ONLY_KEYS:  # only a timed-out saga carries these (deadlines.feature)
            assert key in outcome_carrying(key).trace
    assert CHOREOGRAPHED.first_step in CHOREOGRAPHED.bus_trace(outcome_carrying(CHOREOGRAPHED.first_step).trace)


def test_an_unknown_routing_key_is_refused_with_the_known_ones():
    with pytest.raises(UnknownPhrase, match="inventory.reserve"):
        outcome_carrying("inventory.reserv")
    with pytest.raises(UnknownPhrase):
        receiving_service("nope")


def test_outcomes_expect_the_seed_traces():
    assert outcome("completed").trace == LEGAL_TRACES["completed"]
    assert outcome("delivery failed").trace == LEGAL_TRACES["delivery_failed"]
    with pytest.raises(UnknownPhrase, match="payment failed"):
        outcome("payment declined")


def test_no_outcome_is_left_to_the_dice():
    # Every outcome forces the payment, and every path past payment forces the delivery.
    for o in OUTCOMES.values():
        assert "payment" in o.force
        if o.force["payment"] == "succeed":
            assert "delivery" in o.force


def test_a_burst_runs_every_outcome():
    assert {o.name for o in burst_outcomes(5)} == set(OUTCOMES)


def test_table_cells_become_a_force_field():
    assert force_from_row("fail", "") == {"payment": "fail"}
    with pytest.raises(UnknownPhrase):
        force_from_row("maybe", "")


def test_a_repeated_message_id_is_one_step_of_the_trace():
    def m(key: str, mid: str) -> TappedMessage:
        return TappedMessage(0.0, key, mid, "o1", body=b"{}")

    assert [x.routing_key for x in first_unique([m("a", "1"), m("b", "2"), m("a", "1")])] == ["a", "b"]


def test_a_retry_keeps_the_content_under_a_new_id():
    original = tapped("payment.refund", b'{"message_id":"m1","order_id":"o1","payload":{"amount":5}}', "m1", "o1", False, 0.0)
    retry = with_new_id(original, "m2")
    assert (retry.message_id, retry.routing_key, retry.order_id) == ("m2", "payment.refund", "o1")
    assert json.loads(retry.body) == {"message_id": "m2", "order_id": "o1", "payload": {"amount": 5}}


def test_a_malformed_body_is_still_recorded_from_its_properties():
    got = tapped("payment.process", b"{not json", "m1", "order-9", False, 5.0)
    assert (got.message_id, got.order_id, got.recorded().time) == ("m1", "order-9", 5.0)
