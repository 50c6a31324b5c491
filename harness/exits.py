"""Exit codes of every `saga-harness` command, defined once (Jepsen's convention for verdicts).

0 valid, 1 invalid, 2 unknown (the truth could not be established: a target that cannot be
reached, an interrupted run), 254 bad usage, 130 interrupted by Ctrl-C, 255 the harness crashed.
Commands that act rather than judge use 0 for done and 1 for not done.
The README's table of exit codes is checked against these constants by a test.
"""

from __future__ import annotations

from typing import Any

EXIT_VALID = 0
EXIT_INVALID = 1
# Commands that do something rather than judge (up, fault add, report): 0 done, 1 it did not happen.
EXIT_OK = EXIT_VALID
EXIT_FAILED = EXIT_INVALID
EXIT_UNKNOWN = 2
EXIT_INTERRUPTED = 130
EXIT_USAGE = 254
EXIT_CRASHED = 255

# What a command that judges something returns for an overall validity. "Checked nothing" is not
# evidence of validity, so it exits like "unknown", never 0.
_FOR_VALIDITY: dict[Any, int] = {
    True: EXIT_VALID,
    False: EXIT_INVALID,
    "unknown": EXIT_UNKNOWN,
    "not_applicable": EXIT_UNKNOWN,
}


def exit_code_for(validity: Any) -> int:
    """The exit code of an overall validity (harness.model.Validity)."""
    return _FOR_VALIDITY[validity]


class UsageError(Exception):
    """The command was asked for something it cannot do as asked: exit 254 with the message."""


class Unreachable(Exception):
    """A service, the broker or Toxiproxy could not be reached: the verdict is unknown (exit 2).

    `what` names the thing and where it was looked for, without secrets (see harness.urls)."""

    def __init__(self, what: str, cause: BaseException | None = None) -> None:
        self.what = what
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(f"cannot reach {what}{detail}")
