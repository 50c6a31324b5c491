"""The pure figures behind the plots."""

from __future__ import annotations

import pytest

from harness.report.analysis import (
    OrderSpan,
    bucket_starts,
    bucket_width,
    invoke_times,
    latency_series,
    nice_ceil,
    order_spans,
    outcome_of,
    pick_for_timeline,
    quantile,
    rate_series,
    to_epoch,
)

T0 = 1_700_000_000.0


def test_quantile_interpolates_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert quantile(values, 0.5) == 2.5
    assert quantile(values, 0.0) == 1.0 and quantile(values, 1.0) == 4.0
    assert quantile(list(range(1, 101)), 0.95) == pytest.approx(95.05)
    assert quantile([7.0], 0.99) == 7.0


def test_quantile_of_nothing_is_none() -> None:
    assert quantile([], 0.5) is None


@pytest.mark.parametrize(
    ("x", "expected"), [(0.21, 0.5), (1.0, 1.0), (1.01, 2.0), (3.0, 5.0), (7.0, 10.0), (0.0, 1.0)]
)
def test_nice_ceil_rounds_up_to_1_2_5(x: float, expected: float) -> None:
    assert nice_ceil(x) == pytest.approx(expected)


def test_bucket_width_keeps_at_most_the_asked_number_of_buckets() -> None:
    assert bucket_width(60.0, 60) == 1.0
    assert bucket_width(61.0, 60) == 2.0
    assert bucket_width(0.5, 60) == 0.1  # floor: never finer than 0.1 s
    assert len(bucket_starts(61.0, bucket_width(61.0, 60))) <= 60


def test_rate_series_counts_per_second_and_scales_the_partial_last_bucket() -> None:
    times = [T0 + 0.1, T0 + 0.2, T0 + 1.5, T0 + 2.2, T0 - 1, T0 + 9]
    assert rate_series(times, T0, T0 + 2.5, 1.0) == [
        (0.0, 1.0, 2.0),
        (1.0, 2.0, 1.0),
        (2.0, 3.0, 2.0),  # one event in the last half second: 2 per second
    ]


def test_latency_series_buckets_finished_orders_by_invoke_time() -> None:
    spans = [
        OrderSpan("a", T0 + 0.1, T0 + 1.1, "completed", True),
        OrderSpan("b", T0 + 0.5, T0 + 3.5, "failed: payment_failed", True),
        OrderSpan("c", T0 + 0.7, T0 + 50, "not terminal (pending)", False),
        OrderSpan("d", T0 + 2.5, T0 + 2.7, "completed", True),
    ]
    series = latency_series(spans, T0, T0 + 3.0, 1.0, qs=(0.5, 1.0))
    assert series[0.5] == [(0.5, 2.0), (1.5, None), (2.5, pytest.approx(0.2))]
    assert series[1.0][0] == (0.5, 3.0)


def test_invoke_times_pair_each_completion_with_its_process_invoke() -> None:
    ops = [
        {"process": 0, "type": "invoke", "f": "place_order", "time": T0, "value": {}},
        {"process": 1, "type": "invoke", "f": "place_order", "time": T0 + 1, "value": {}},
        {
            "process": 1,
            "type": "ok",
            "f": "place_order",
            "time": T0 + 2,
            "value": {"order_id": "b"},
        },
        {"process": 0, "type": "info", "f": "place_order", "time": T0 + 3, "value": {}},
        {"process": 0, "type": "invoke", "f": "place_order", "time": T0 + 4, "value": {}},
        {
            "process": 0,
            "type": "ok",
            "f": "place_order",
            "time": T0 + 5,
            "value": {"order_id": "c"},
        },
        {"process": 0, "type": "invoke", "f": "read_order", "time": T0 + 6, "value": {}},
        {"process": 0, "type": "ok", "f": "read_order", "time": T0 + 7, "value": {"order_id": "x"}},
    ]
    assert invoke_times(ops) == {"b": T0 + 1, "c": T0 + 4}


def test_order_spans_end_at_the_last_bus_event_or_run_on_when_unfinished() -> None:
    ops = [
        {"process": 0, "type": "invoke", "f": "place_order", "time": T0, "value": {}},
        {
            "process": 0,
            "type": "ok",
            "f": "place_order",
            "time": T0 + 0.1,
            "value": {"order_id": "a"},
        },
    ]
    msgs = [
        {"time": T0 + 0.2, "routing_key": "inventory.reserve", "order_id": "a"},
        {"time": T0 + 0.9, "routing_key": "delivery.scheduled", "order_id": "a"},
        {"time": T0 + 0.5, "routing_key": "inventory.reserve", "order_id": "b"},
    ]
    orders = [{"order_id": "a", "status": "completed"}, {"order_id": "b", "status": "pending"}]
    spans = order_spans(ops, msgs, orders, end_of_run=T0 + 10)
    assert spans == [
        OrderSpan("a", T0, T0 + 0.9, "completed", True),
        OrderSpan("b", T0 + 0.5, T0 + 10, "not terminal (pending)", False),
    ]


def test_outcome_comes_from_state_else_from_the_bus() -> None:
    assert outcome_of({"status": "failed", "failure_reason": "payment_failed"}, set()) == (
        "failed: payment_failed",
        True,
    )
    assert outcome_of(None, {"inventory.reserve", "inventory.failed"}) == (
        "failed: insufficient_inventory",
        True,
    )
    # A payment failure is over only once the stock is released.
    assert outcome_of(None, {"payment.failed"}) == ("failed: payment_failed", False)
    assert outcome_of(None, {"payment.failed", "inventory.released"})[1] is True
    assert outcome_of(None, set()) == ("unknown", False)


def test_timeline_pick_keeps_unfinished_and_failed_orders_first() -> None:
    spans = [OrderSpan(f"ok{i}", T0 + i, T0 + i + 1, "completed", True) for i in range(5)]
    spans += [
        OrderSpan("late", T0 + 9, T0 + 20, "not terminal (pending)", False),
        OrderSpan("bad", T0 + 8, T0 + 9, "failed: delivery_failed", True),
    ]
    picked = pick_for_timeline(spans, 3)
    assert [s.order_id for s in picked] == ["ok0", "bad", "late"]


def test_to_epoch_reads_numbers_and_iso_strings() -> None:
    assert to_epoch(T0) == T0
    assert to_epoch("2023-11-14T22:13:20Z") == T0
    assert to_epoch("2023-11-14T22:13:20.500000+00:00") == T0 + 0.5
    assert to_epoch("soon") is None and to_epoch(None) is None and to_epoch(True) is None


def test_an_order_without_bus_traffic_uses_its_own_history_times() -> None:
    ops = [
        {"process": 0, "type": "invoke", "f": "place_order", "time": T0, "value": {}},
        {
            "process": 0,
            "type": "ok",
            "f": "place_order",
            "time": T0 + 0.1,
            "value": {"order_id": "a"},
        },
    ]
    history = [
        {"event": "inventory.reserve", "at": "2023-11-14T22:13:20.200000Z"},
        {"event": "inventory.failed", "at": "2023-11-14T22:13:21Z"},
    ]
    orders = [
        {
            "order_id": "a",
            "status": "failed",
            "failure_reason": "insufficient_inventory",
            "history": history,
        }
    ]
    [span] = order_spans(ops, [], orders, end_of_run=T0 + 10)
    assert (span.start, span.end, span.terminal) == (T0, T0 + 1.0, True)
