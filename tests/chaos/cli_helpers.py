"""Run `saga-harness` in-process, with the chaos commands registered even before harness/cli.py
lists them."""

from __future__ import annotations

from unittest import mock

import harness.cli

CHAOS_MODULE = "harness.experiments.cli"


def saga(*argv: str) -> int:
    modules = list(harness.cli.COMMAND_MODULES)
    if CHAOS_MODULE not in modules:
        modules.append(CHAOS_MODULE)
    with mock.patch.object(harness.cli, "COMMAND_MODULES", modules):
        try:
            return harness.cli.main(list(argv))
        except SystemExit as exit_:  # argparse's usage errors exit through _Parser.error
            return int(exit_.code or 0)
