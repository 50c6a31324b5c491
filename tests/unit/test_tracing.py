"""Tracing (issue #18): derived ids, the real SDK through our OTLP/HTTP receiver, waterfalls."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from harness.tracing.otlp import SpanRecord, by_order, read_traces
from harness.tracing.receiver import Receiver
from harness.tracing.waterfall import (
    coverage,
    fault_windows,
    render_text,
    rows,
    summarize,
    touched_services,
)
from system.config import ConfigError, service_config
from system.contracts import Message, caused_by
from system.messaging.policy import Ack, Requeue
from system.trace_ids import (
    commit_span_id,
    parse_traceparent,
    place_span_id,
    publish_span_id,
    span_hex,
    trace_hex,
    trace_id_of,
    traceparent,
)
from system.tracing import NO_TRACING, make_tracing


def test_ids_are_derived_from_the_envelope_and_stable():
    assert trace_id_of("o-1") == trace_id_of("o-1") != trace_id_of("o-2")
    assert len(trace_hex(trace_id_of("o-1"))) == 32 and len(span_hex(commit_span_id("m"))) == 16
    assert publish_span_id("m", 1) != publish_span_id("m", 2) != commit_span_id("m")
    header = traceparent(trace_id_of("o-1"), place_span_id("o-1"))
    assert parse_traceparent(header) == (trace_id_of("o-1"), place_span_id("o-1"), True)
    assert parse_traceparent(header.encode()) is not None


@pytest.mark.parametrize("bad", [None, 3, "", "00-abc-def-01", "ff-" + "1" * 32 + "-" + "1" * 16 + "-01",
                                 "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "00-" + "g" * 32 + "-" + "1" * 16 + "-01"])
def test_a_bad_traceparent_is_none(bad):
    assert parse_traceparent(bad) is None


def test_tracing_settings():
    off = service_config("order", {})
    assert off.tracing is False and off.otlp_endpoint == "http://127.0.0.1:4318"
    assert make_tracing(off) is NO_TRACING
    on = service_config("order", {"SAGA_TRACING": "1", "SAGA_OTLP_ENDPOINT": "http://jaeger:4318/"})
    assert on.tracing and on.otlp_endpoint == "http://jaeger:4318"
    with pytest.raises(ConfigError, match="SAGA_TRACING"):
        service_config("order", {"SAGA_TRACING": "maybe"})
    with pytest.raises(ConfigError, match="SAGA_OTLP_ENDPOINT"):
        service_config("order", {"SAGA_OTLP_ENDPOINT": "jaeger:4318"})


def test_off_loads_no_opentelemetry_at_all():
    """Off costs nothing: a service process built without SAGA_TRACING loads no OpenTelemetry
    SDK, exporter or instrumentation (FastAPI itself imports the no-op API when it is installed)."""
    code = ("import sys; from system.__main__ import build_app; build_app('order'); print(sorted(m for m in "
            "sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.instr'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "", "SAGA_DATA_DIR": "/nonexistent"}, check=True)
    assert out.stdout.strip() == "[]"


def test_one_saga_one_trace_through_the_real_sdk_and_our_receiver(tmp_path):
    """The OpenTelemetry SDK exports protobuf over HTTP to our receiver, which writes OTLP/JSON
    lines; the spans of a placed order, its publish, a retried and a committed delivery and the
    reply's publish share the saga's trace, and each names its derived parent."""
    out = tmp_path / "traces.jsonl"
    with Receiver(out, port=0) as receiver:
        env = {"SAGA_TRACING": "1", "SAGA_OTLP_ENDPOINT": receiver.endpoint}
        order = make_tracing(service_config("order", env))
        inventory = make_tracing(service_config("inventory", env))
        order_id = "order-42"
        order.placed(order_id, time.time_ns())
        reserve = Message("m-reserve", "inventory.reserve", order_id, {"quantity": 1})
        headers: dict = {}
        order.publish(reserve, headers).ok()
        assert parse_traceparent(headers["traceparent"]) == (trace_id_of(order_id), publish_span_id("m-reserve"), True)
        first = inventory.delivery(reserve, headers, False, 1, time.time_ns())
        first.failed(RuntimeError("transient"))
        first.end(Requeue(0.1))
        second = inventory.delivery(reserve, headers, True, 2, time.time_ns())
        second.committed(object(), time.time_ns())
        second.end(Ack())
        copy = inventory.delivery(reserve, {}, True, 3, time.time_ns())  # no header: derived parent
        copy.committed(None, time.time_ns())
        copy.end(Ack())
        reply = caused_by(reserve, "inventory.reserved", {}, "now")
        inventory.publish(reply, {}).ok()
        order.shutdown()
        inventory.shutdown()
        receiver.settle(quiet_s=0.2, limit_s=5)
    first_line = json.loads(out.read_text().splitlines()[0])
    assert "resourceSpans" in first_line  # the Collector file exporter's shape
    traces = read_traces(out)
    assert traces is not None and traces.bad_lines == 0
    spans = by_order(traces.spans)[order_id]
    assert {s.trace_id for s in spans} == {trace_hex(trace_id_of(order_id))}
    assert {s.service for s in spans} == {"order", "inventory"}
    named = {s.name: s for s in spans}
    assert named["place order"].span_id == span_hex(place_span_id(order_id))
    assert named["publish inventory.reserve"].parent_id == span_hex(place_span_id(order_id))
    assert named["commit inventory.reserve"].span_id == span_hex(commit_span_id("m-reserve"))
    assert named["publish inventory.reserved"].parent_id == span_hex(commit_span_id("m-reserve"))
    deliveries = [s for s in spans if s.kind == "consumer"]
    assert len(deliveries) == 3
    assert all(d.parent_id == span_hex(publish_span_id("m-reserve")) for d in deliveries)
    summary = summarize(order_id, spans)
    assert (summary.deliveries, summary.retries, summary.duplicates, summary.redeliveries) == (3, 1, 1, 2)
    assert summary.orphans == 0 and len(summary.trace_ids) == 1


def test_the_receiver_refuses_what_is_not_otlp(tmp_path):
    receiver = Receiver(tmp_path / "t.jsonl", port=0)
    try:
        assert receiver.handle("/v1/traces", "application/x-protobuf", "", b"\xff\xff\xff")[0] == 400
        assert receiver.handle("/v1/metrics", "application/json", "", b"{}")[0] == 404
        assert receiver.handle("/v1/traces", "application/json", "", b"[]")[0] == 400
        assert receiver.handle("/v1/traces", "application/json", "", b'{"resourceSpans": []}')[0] == 200
    finally:
        receiver.server.server_close()


def _span(order: str, trace: str, sid: str, parent: str, service: str, name: str, start: int, end: int,
          kind: str = "internal", **attrs) -> SpanRecord:
    return SpanRecord(trace, sid, parent, name, kind, service, start, end, {"saga.order_id": order, **attrs})


def test_coverage_counts_orders_in_one_trace_covering_the_services_they_touched():
    spans = [
        _span("a", "t1", "1", "", "order", "POST /orders", 0, 10, "server"),
        _span("a", "t1", "2", "1", "inventory", "process inventory.reserve", 20, 30, "consumer"),
        _span("b", "t2", "3", "", "order", "POST /orders", 0, 10, "server"),
        _span("b", "t3", "4", "9", "inventory", "process inventory.reserve", 20, 30, "consumer"),
        _span("c", "t4", "5", "", "order", "POST /orders", 0, 10, "server"),
    ]
    bus = [{"order_id": o, "routing_key": "inventory.reserve"} for o in "abc"]
    touched = touched_services(bus)
    assert touched["a"] == {"order", "inventory"}
    found = coverage(by_order(spans), touched)
    assert (found["orders"], found["one_trace"], found["one_trace_covering"]) == (3, 2, 1)
    assert {e["order_id"] for e in found["not_covered"]} == {"b", "c"}
    assert found["not_covered"][-1]["missing_services"] == ["inventory"]


def test_the_text_waterfall_shows_hops_marks_and_fault_windows():
    ms = 1_000_000
    spans = [
        _span("a", "t", "1", "", "order", "POST /orders", 0, 5 * ms, "server"),
        _span("a", "t", "2", "1", "order", "publish inventory.reserve", 6 * ms, 8 * ms, "producer"),
        _span("a", "t", "3", "2", "inventory", "process inventory.reserve", 9 * ms, 900 * ms, "consumer",
              **{"saga.redelivered": True, "saga.outcome": "requeue"}),
        _span("a", "t", "4", "gone", "order", "commit inventory.reserved", 950 * ms, 1000 * ms,
              **{"saga.terminal": True, "saga.status": "completed"}),
    ]
    windows = fault_windows([{"kind": "latency", "target": "all", "start": 0.1, "end": 0.5,
                              "detail": {"latency": 300}}, {"kind": "crash", "target": "x", "start": 99}])
    text = render_text("a", spans, windows)
    assert "redelivered" in text and "retry" in text and "parent missing" in text and "-> completed" in text
    assert "latency all 300ms" in text and "crash" not in text
    assert [r.indent for r in rows(spans)] == [0, 0, 1, 2]
    assert summarize("a", spans).flags() == "1 redelivered, 1 retried, 1 parent missing"


def _otlp_line(service: str, spans: list[dict]) -> str:
    def attrs(d: dict) -> list[dict]:
        out = []
        for k, v in d.items():
            value = {"boolValue": v} if isinstance(v, bool) else {"intValue": str(v)} if isinstance(v, int) \
                else {"stringValue": str(v)}
            out.append({"key": k, "value": value})
        return out

    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": attrs({"service.name": service})},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": [
            {"traceId": s["trace"], "spanId": s["id"], "parentSpanId": s.get("parent", ""), "name": s["name"],
             "kind": s.get("kind", 1), "startTimeUnixNano": str(s["start"]), "endTimeUnixNano": str(s["end"]),
             "attributes": attrs(s.get("attrs", {})), "status": s.get("status", {})}
            for s in spans]}],
    }]})


def _run_dir(tmp_path, *, style: str | None = None):
    from harness.experiments import rundir

    run = tmp_path / "runs" / "20260101-000000-latency"
    run.mkdir(parents=True)
    t0 = 1_700_000_000 * 10**9
    trace_a, trace_b = "a" * 32, "b" * 32
    (run / "traces.jsonl").write_text("\n".join([
        _otlp_line("order", [
            {"trace": trace_a, "id": "1" * 16, "name": "POST /orders", "kind": 2, "start": t0, "end": t0 + 5 * 10**6,
             "attrs": {"saga.order_id": "order-a"}},
            {"trace": trace_a, "id": "2" * 16, "parent": "1" * 16, "name": "publish inventory.reserve", "kind": 4,
             "start": t0 + 6 * 10**6, "end": t0 + 9 * 10**6, "attrs": {"saga.order_id": "order-a"},
             "status": {"code": 2, "message": "publish timed out"}},
            {"trace": trace_b, "id": "4" * 16, "name": "POST /orders", "kind": 2, "start": t0, "end": t0 + 10**6,
             "attrs": {"saga.order_id": "order-b"}},
        ]),
        _otlp_line("inventory", [
            {"trace": trace_a, "id": "3" * 16, "parent": "2" * 16, "name": "process inventory.reserve", "kind": 5,
             "start": t0 + 10 * 10**6, "end": t0 + 2000 * 10**6,
             "attrs": {"saga.order_id": "order-a", "saga.redelivered": True, "saga.outcome": "requeue"}},
        ]),
        "not json",
    ]) + "\n")
    (run / "faults.jsonl").write_text(json.dumps({"kind": "latency", "target": "inventory", "start": 1_700_000_000.5,
                                                  "end": 1_700_000_001.5, "detail": {"latency": 400}}) + "\n")
    results = {"name": "latency", "seed": 7, "valid": False, "wall_s": 12.5, "started": 1_700_000_000,
               "counts": {"orders": 2}, "verdicts": [
                   {"name": "orders_terminal", "valid": False, "checked": 2,
                    "counterexamples": [{"order_id": "order-a", "problem": "not terminal <b>"}]}]}
    if style:
        results["style"] = style
    rundir.write_json(run / "results.json", results)
    return run


def test_the_report_lists_slow_failed_and_violating_orders_and_links_counterexamples(tmp_path):
    from harness.report.html import page
    from harness.report.load import load_run

    run = _run_dir(tmp_path)
    html = page(load_run(run))
    assert 'id="trace-order-a"' in html and 'id="trace-order-b"' in html  # violating and slowest drawn
    assert '<a href="#trace-order-a">waterfall</a>' in html  # the counterexample links to it
    assert "<svg class=\"waterfall\"" in html and "latency inventory 400ms" in html  # fault window overlaid
    assert "redelivered" in html and "publish timed out" in html and "1 unreadable line" in html
    assert "<script" not in html and "not terminal &lt;b&gt;" in html


def test_a_report_without_traces_says_how_to_get_them(tmp_path):
    from harness.report.html import page
    from harness.report.load import load_run

    run = _run_dir(tmp_path)
    (run / "traces.jsonl").unlink()
    html = page(load_run(run))
    assert "not recorded: traces.jsonl" in html and "--trace" in html


def test_trace_and_runs_commands(tmp_path, capsys):
    from harness.cli import main

    run = _run_dir(tmp_path, style="choreography")
    (tmp_path / "runs" / "20260101-000001-broken").mkdir()  # no results: not a run, not listed
    unfinished = tmp_path / "runs" / "20260101-000002-mixed"
    unfinished.mkdir()
    (unfinished / "UNFINISHED").write_text("")
    assert main(["trace", "order-a", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "process inventory.reserve" in out and "latency inventory 400ms" in out and "retry" in out
    assert main(["trace", "order-", "--run", str(run)]) == 254  # ambiguous prefix
    assert main(["trace", "nobody", "--run", str(run)]) == 1
    assert main(["trace", "x", "--run", str(tmp_path)]) == 254
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "choreography" in out and "invalid" in out and "unfinished" in out and "broken" not in out
    index = (tmp_path / "runs" / "index.html").read_text()
    assert 'href="20260101-000000-latency/report.html"' not in index  # no report.html written yet
    assert "choreography" in index and "<script" not in index


def test_locust_verdict_rows():
    from load.ui import verdict_rows

    valid = verdict_rows({"valid": True, "invariants": [{"name": "x", "valid": True}]}, 0)
    assert valid == [("consistency: valid", None)]
    rows = dict(verdict_rows({"valid": False, "invariants": [
        {"name": "nobody_charged_twice", "valid": False, "counterexamples": [{"order_id": "o", "problem": "p"}]},
        {"name": "queues_drained", "valid": "not_applicable"}]}, 1))
    assert set(rows) == {"consistency: invalid", "nobody_charged_twice: invalid"}
    assert '"order_id": "o"' in str(rows["nobody_charged_twice: invalid"])
    assert verdict_rows(None, 255)[0][0] == "consistency: unknown"


def test_a_failing_tracing_hook_never_fails_the_saga(caplog):
    tracing = make_tracing(service_config("order", {"SAGA_TRACING": "1", "SAGA_OTLP_ENDPOINT": "http://127.0.0.1:9"}))
    broken = Message("m", "inventory.reserve", None)  # type: ignore[arg-type]  # no order id: hashing fails
    trace = tracing.delivery(broken, {}, False, 1, time.time_ns())
    trace.committed(object(), time.time_ns())
    trace.end(Ack())  # the null trace: nothing raised
    assert "tracing hook delivery failed" in caplog.text
    tracing.shutdown()
