"""The rendered report: self-contained, shaded, complete and escaped."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.model import Verdict
from harness.report import render_report
from tests.report.run_builder import FAULTS, IN_FLIGHT, NASTY, SEED, build_run

REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def remote_references(page: str) -> list[str]:
    """Attributes that would fetch something from elsewhere, plus any script element."""
    found = REMOTE.findall(page)
    found += re.findall(r"<script\b", page, re.IGNORECASE)
    found += re.findall(r"@import|url\(\s*['\"]?(?:https?:)?//", page, re.IGNORECASE)
    return found


@pytest.fixture
def page(tmp_path: Path) -> str:
    out = render_report(build_run(tmp_path))
    assert out == tmp_path / out.parent.name / "report.html"
    return out.read_text(encoding="utf-8")


def test_report_is_written_with_inline_svg_plots(page: str) -> None:
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)
    assert len(svgs) == 4  # timeline, latency, throughput, messages
    for chart in svgs:
        ET.fromstring(chart)  # each plot is well-formed XML


def test_fault_windows_are_shaded_and_labelled_on_every_plot(page: str) -> None:
    assert page.count('<rect class="fault"') == 4 * len(FAULTS)
    assert "partition order" in page and "duplicate payment.process" in page


def test_header_shows_seed_replay_command_and_verdict(page: str) -> None:
    assert f"saga-harness chaos run mixed-small --seed {SEED}" in page
    assert f"<th>seed</th><td>{SEED}</td>" in page
    assert '<span class="badge bad">invalid</span></h1>' in page


def test_every_invariant_appears_with_its_verdict_and_counterexamples(page: str) -> None:
    for name in ("stock_conserved", "nobody_charged_twice", "orders_terminal"):
        assert f'id="inv-{name}"' in page
    assert "Counterexamples (2)" in page
    assert "order-0005" in page and "[&quot;p-1&quot;, &quot;p-2&quot;]" in page
    assert f"{IN_FLIGHT} still in flight" in page


def test_counterexample_html_is_escaped(page: str) -> None:
    assert NASTY not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in page


def test_report_references_nothing_remote_and_runs_no_script(page: str) -> None:
    assert remote_references(page) == []


def test_remote_reference_check_catches_remote_assets() -> None:
    bad = [
        '<img src="https://example.org/x.png">',
        "<link href='http://cdn.example/x.css'>",
        '<a href="//cdn.example/x">',
        '<script src="a.js"></script>',
        "<style>@import url(https://fonts.example/f.css);</style>",
    ]
    for snippet in bad:
        assert remote_references(snippet), snippet


def test_orders_are_coloured_by_outcome_with_the_unfinished_one_outlined(page: str) -> None:
    for label in (
        "completed (8)",
        "failed: payment_failed (1)",
        "not terminal (payment_completed) (1)",
    ):
        assert label in page
    assert f"{IN_FLIGHT}: not terminal (payment_completed)" in page
    assert 'stroke-dasharray="3 2"' in page


def test_fault_log_and_config_are_shown(page: str) -> None:
    assert "<td>partition</td><td>order</td><td>3.0</td><td>6.0</td><td>3.0</td>" in page
    assert "amqp_order" in page
    assert "&quot;target&quot;: {" in page  # config.json, pretty-printed and escaped


def test_large_runs_cap_the_timeline_and_say_so(tmp_path: Path) -> None:
    page = render_report(build_run(tmp_path, orders=400)).read_text(encoding="utf-8")
    timeline = re.search(r'<div id="orders">.*?</div>', page, re.DOTALL).group(0)
    assert "Showing 300 of 401 orders" in timeline
    assert timeline.count("<rect x=") == 300
    assert f"{IN_FLIGHT}: not terminal" in timeline  # unfinished orders are kept first


def test_missing_optional_files_render_as_not_recorded(tmp_path: Path) -> None:
    run_dir = tmp_path / "bare"
    run_dir.mkdir()
    verdict = Verdict("queues_drained", "unknown", note="broker unreachable").to_dict()
    results = {"name": "bare", "seed": 7, "valid": "unknown", "verdicts": [verdict]}
    (run_dir / "results.json").write_text(json.dumps(results))
    page = render_report(run_dir).read_text(encoding="utf-8")
    assert "not recorded: history.jsonl" in page
    assert "not recorded: faults.jsonl" in page
    assert "not recorded: config.json" in page
    assert '<span class="badge unsure">unknown</span>' in page
    assert "saga-harness chaos run bare --seed 7" in page


def test_damaged_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path)
    with (run_dir / "history.jsonl").open("a") as history:
        history.write("{not json\n")
    page = render_report(run_dir).read_text(encoding="utf-8")
    assert "history.jsonl: 1 unreadable line(s) skipped" in page


def test_outcomes_fall_back_to_the_bus_without_state(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path)
    (run_dir / "state.json").unlink()
    page = render_report(run_dir).read_text(encoding="utf-8")
    assert "outcomes guessed from the bus events" in page
    assert "failed: delivery_failed (1)" in page and "not terminal (bus) (1)" in page
