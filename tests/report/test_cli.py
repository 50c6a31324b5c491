"""`saga-harness report RUN_DIR`: re-renders, or refuses a directory that is not a run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.report import cli
from tests.report.run_builder import build_run


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saga-harness")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_report_rerenders_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = build_run(tmp_path)
    assert run(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").is_file()
    assert str(run_dir / "report.html") in capsys.readouterr().out


def test_directory_without_results_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", str(tmp_path)]) == 254
    assert "has no results.json" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_missing_directory_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", str(tmp_path / "nope")]) == 254
    assert "is not a directory" in capsys.readouterr().err
