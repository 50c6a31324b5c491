"""Issue #18's acceptance on real processes and the real RabbitMQ: a traced chaos run keeps its
spans in traces.jsonl, most orders are exactly one trace covering every service their saga
touched, the report draws the slowest order's waterfall and `saga-harness trace` prints it."""

from __future__ import annotations

import json
import os

import pytest

from harness.cli import main
from harness.experiments import load_experiment
from harness.experiments.runner import run_experiment
from harness.tracing.otlp import TRACES, by_order, read_traces
from harness.tracing.waterfall import summarize
from tests.chaos.instances import fresh_local_target

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT_OFFSET = 800  # this instance's services; its OTLP receiver listens at +318


def test_a_traced_chaos_run_keeps_one_trace_per_saga(tmp_path, capsys):
    receiver_port = int(os.environ.get("SAGA_TEST_PORT_BASE", "18000")) + PORT_OFFSET + 318
    env = {"SAGA_TRACING": "1", "SAGA_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver_port}"}
    with fresh_local_target("traced", PORT_OFFSET, env) as target:
        experiment = load_experiment("latency").with_load(30, 6.0)
        outcome = run_experiment(experiment, target, seed=18, runs_dir=tmp_path, trace=True)
    assert outcome.exit_code == 0, outcome.results["verdicts"]
    traces = outcome.results["phases"]["traces"]
    assert traces["collected"] and traces["spans"] > 0 and traces["rejected"] == 0, traces
    assert all(traces["services_tracing"].values()), traces
    coverage = traces["coverage"]
    assert coverage["orders"] >= 15 and coverage["one_trace_covering"] >= 0.9 * coverage["orders"], coverage
    first = json.loads((outcome.run_dir / TRACES).read_text().splitlines()[0])
    assert "resourceSpans" in first
    spans = read_traces(outcome.run_dir / TRACES)
    assert spans is not None
    slowest = max((summarize(o, s) for o, s in by_order(spans.spans).items()), key=lambda s: s.duration_ms)
    assert {"order", "inventory"} <= set(slowest.services)
    report = (outcome.run_dir / "report.html").read_text()
    assert f'id="trace-{slowest.order_id}"' in report and 'class="waterfall"' in report
    capsys.readouterr()
    assert main(["trace", slowest.order_id, "--run", str(outcome.run_dir)]) == 0
    printed = capsys.readouterr().out
    assert "POST /orders" in printed and "process inventory.reserve" in printed and "commit" in printed
