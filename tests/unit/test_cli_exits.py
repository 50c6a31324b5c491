"""The one top-level handler (harness/cli.py) and the exit codes defined once (harness/exits.py)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from harness import exits
from harness.cli import _ClosedPipeSafe, run_command
from tests.chaos.cli_helpers import saga


def _raising(exc: BaseException):
    def command(args: argparse.Namespace) -> int:
        raise exc

    return command


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (exits.Unreachable("the broker at amqp://guest:***@h:1/"), exits.EXIT_UNKNOWN, "cannot reach the broker"),
        (exits.UsageError("no such experiment"), exits.EXIT_USAGE, "no such experiment"),
        (KeyboardInterrupt(), exits.EXIT_INTERRUPTED, "interrupted"),
        (ZeroDivisionError("oops"), exits.EXIT_CRASHED, "crashed"),
    ],
)
def test_what_a_command_raises_becomes_its_exit_code(capsys, raised, code, said):
    assert run_command(_raising(raised), argparse.Namespace()) == code
    err = capsys.readouterr().err
    assert said in err
    if code != exits.EXIT_CRASHED:  # one line, no traceback: only a crash shows its trace
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_not_applicable_is_never_exit_0():
    assert [exits.exit_code_for(v) for v in (True, False, "unknown", "not_applicable")] == [0, 1, 2, 2]


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError

    def fileno(self) -> int:
        raise ValueError("no descriptor")


def test_stdout_survives_its_reader_going_away():
    out = _ClosedPipeSafe(_ClosedPipe())
    assert out.write("a line\n") == len("a line\n")
    out.flush()
    out.write("and the rest is dropped\n")


def _run_dir(tmp_path, **results):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    base = {"name": "x", "valid": "unknown", "check": {}, "healed_at": None}
    (run_dir / "results.json").write_text(json.dumps({**base, **results}))
    for name in ("history.jsonl", "operations.jsonl", "faults.jsonl"):
        (run_dir / name).write_text("")
    (run_dir / "state.json").write_text("{}")
    return run_dir


def test_analyze_keeps_the_unknown_of_an_interrupted_run(tmp_path, capsys):
    ops = [{"process": 0, "type": t, "f": "place_order", "time": 1.0, "value": {"order_id": "o1"}} for t in ("invoke", "ok")]
    run_dir = _run_dir(tmp_path, interrupted=True, crashed="interrupted (Ctrl-C)",
                       check={"order_ids": ["o1"]})
    (run_dir / "operations.jsonl").write_text("".join(json.dumps(o) + "\n" for o in ops))
    assert saga("analyze", str(run_dir)) == exits.EXIT_UNKNOWN
    out = capsys.readouterr().out
    assert "interrupted" in out and "INVALID" not in out and "lost" not in out


def test_analyze_keeps_the_unknown_of_a_run_that_never_finished_writing(tmp_path, capsys):
    run_dir = _run_dir(tmp_path)
    (run_dir / "UNFINISHED").write_text("")
    assert saga("analyze", str(run_dir)) == exits.EXIT_UNKNOWN
    assert "never finished" in capsys.readouterr().out


def test_analyze_of_a_finished_run_judges_it_again(tmp_path, capsys):
    run_dir = _run_dir(tmp_path, valid=True)
    assert saga("analyze", str(run_dir)) in (exits.EXIT_VALID, exits.EXIT_UNKNOWN)
    assert "overall:" in capsys.readouterr().out
