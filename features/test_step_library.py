"""Fast checks of the step library's pure parts and of the features' coverage (no system needed)."""

from pathlib import Path

import pytest

from harness.bdd.tap import TappedMessage, first_unique, tapped
from harness.bdd.vocabulary import (
    OUTCOMES,
    UnknownPhrase,
    burst_outcomes,
    force_from_row,
    outcome,
    outcome_carrying,
    receiving_service,
)
from system.contracts import BINDINGS, LEGAL_TRACES, ROUTING_KEYS
from system.messaging.crashpoints import CRASH_POINTS

HERE = Path(__file__).parent


def examples(feature: str, column: str) -> list[str]:
    """The values of one column across every Examples table of a feature file."""
    values, header = [], None
    for line in (HERE / feature).read_text().splitlines():
        line = line.strip()
        if line.startswith("Examples"):
            header = None
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif column in header:
                values.append(cells[header.index(column)])
        elif line:
            header = None
    return values


def test_the_duplicate_outline_covers_every_routing_key_once():
    assert sorted(examples("duplicates.feature", "message")) == sorted(ROUTING_KEYS)


def test_the_duplicate_outline_names_the_service_bound_to_each_key():
    pairs = zip(examples("duplicates.feature", "message"), examples("duplicates.feature", "service"), strict=True)
    for key, service in pairs:
        assert key in BINDINGS[service]


def test_the_crash_outline_covers_every_crash_point_on_every_service():
    rows = set(zip(examples("crashes.feature", "service"), examples("crashes.feature", "point"), strict=True))
    assert rows == {(s, p) for s in BINDINGS for p in CRASH_POINTS}


def test_every_routing_key_is_carried_by_a_forced_saga():
    for key in ROUTING_KEYS:
        assert key in outcome_carrying(key).trace


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
    # A non-scarce outcome forces the payment, and every path past payment forces the delivery.
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
        return TappedMessage(key, mid, "o1", b"{}", 0.0)

    assert [x.routing_key for x in first_unique([m("a", "1"), m("b", "2"), m("a", "1")])] == ["a", "b"]


def test_a_malformed_body_is_still_recorded_from_its_properties():
    got = tapped("payment.process", b"{not json", "m1", "order-9", False, 5.0)
    assert (got.message_id, got.order_id, got.recorded().time) == ("m1", "order-9", 5.0)
