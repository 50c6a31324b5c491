"""`saga-harness zoo`: switch each classic saga bug on, show the harness catches it, and that the
same detector passes on the correct system. Prints a table and `caught N/M`; exit 0 only if
every defect was caught and every control passed."""

from __future__ import annotations

import argparse
import sys

from harness.exits import EXIT_FAILED, EXIT_OK
from harness.zoo.catalog import defects_in, experiment_detector, sim_detector
from harness.zoo.verdicts import CaseResult, table
from system.defects import DEFECTS
from system.styles import STYLES, env_style


def register(sub: argparse._SubParsersAction) -> None:
    zoo = sub.add_parser("zoo", help="show the harness catches every opt-in defect (make zoo)")
    zoo.add_argument("--detectors", choices=("sim", "experiments", "all"), default="all",
                     help="sim: deterministic simulations (seconds); experiments: chaos experiments "
                          "against real processes (minutes); all: both (default)")
    zoo.add_argument("--defect", action="append", choices=sorted(DEFECTS), help="only this defect (repeatable)")
    zoo.add_argument("--seed", type=int, default=1, help="seed for every detector (logged; replays the run)")
    zoo.add_argument("--orders", type=int, default=30, help="orders per chaos experiment")
    zoo.add_argument("--style", choices=(*STYLES, "both"), default=None,
                     help="saga style(s) to run the defects in (default: $SAGA_STYLE, else orchestration); "
                          "a defect that makes no sense in a style is left out of it")
    zoo.set_defaults(func=cmd_zoo)


def cmd_zoo(args: argparse.Namespace) -> int:
    chosen = getattr(args, "style", None) or env_style().name
    styles = STYLES if chosen == "both" else (chosen,)
    results: list[CaseResult] = []
    for style in styles:
        defects = [d for d in (args.defect or list(DEFECTS)) if d in defects_in(style)]
        print(f"defect zoo: {len(defects)} defects, detectors={args.detectors}, seed={args.seed}, style={style}",
              flush=True)
        in_style: list[CaseResult] = []
        if args.detectors in ("sim", "all"):
            from harness.zoo.simulated import run_sim_case

            for defect in defects:
                result = run_sim_case(defect, sim_detector(defect, style), args.seed, style)
                print(f"  sim  {defect:<26} {'caught' if result.caught else 'MISSED'}  {result.replay}", flush=True)
                in_style.append(result)
        if args.detectors in ("experiments", "all"):
            from harness.zoo.experimental import run_experiment_case

            for defect in defects:
                result = run_experiment_case(defect, experiment_detector(defect, style), args.seed, args.orders,
                                             style=style)
                print(f"  real {defect:<26} {'caught' if result.caught else 'MISSED'}  {result.replay}", flush=True)
                in_style.append(result)
        print()
        print(f"style {style}:")
        print(table(in_style))
        results += in_style
    return EXIT_OK if all(r.caught for r in results) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(cmd_zoo(argparse.Namespace(detectors="sim", defect=None, seed=1, orders=30)))
