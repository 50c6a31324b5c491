"""`saga-harness simulate`: deterministic in-memory runs of the saga's real domain code.

One run prints a verdict per invariant and `fingerprint=<hex>` (same seed, same fingerprint);
`--runs K` sweeps seeds with varied fault mixes and prints the command that replays each
failing one. Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad usage, 255 crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from dataclasses import asdict
from typing import Any

from harness.exits import EXIT_CRASHED, EXIT_INVALID, EXIT_UNKNOWN, EXIT_USAGE, EXIT_VALID
from harness.model import Verdict, overall
from harness.sim.config import DEFAULT_MAX_ATTEMPTS, DEFAULT_PREFETCH, SimConfig
from harness.sim.faults import (
    FAULT_KINDS,
    FaultSpec,
    FaultSpecError,
    ScheduledFault,
    parse_schedule,
)
from harness.sim.orders import ORDER_KINDS
from harness.sim.run import SimResult, simulate
from harness.sim.sweep import sweep_configs
from system.defects import DEFECTS, parse_defects
from system.styles import STYLES, env_style

_LABEL = {True: "valid", False: "INVALID", "unknown": "unknown"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="deterministic in-memory simulation of the saga (real domain code) under faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_epilog(),
    )
    p.add_argument("--seed", type=int, default=0, help="drives orders, interleaving and faults (default 0)")
    p.add_argument("--orders", type=int, default=20, help="orders to place (default 20)")
    p.add_argument("--faults", help="random faults, KIND[=RATE],...; aliases all, crash, none (default none)")
    p.add_argument("--schedule", help="exact faults, e.g. crash:payment:before_commit:payment.process:0,dup:payment.refund:0")
    p.add_argument("--defects", help="opt-in defects to switch on, comma-separated")
    p.add_argument("--mix", help="order kinds cycled over the orders (default: drawn from the seed)")
    p.add_argument("--runs", type=int, default=1, help="sweep K seeds from --seed with varied fault mixes")
    p.add_argument("--prefetch", type=int, default=DEFAULT_PREFETCH, help="consumer prefetch window")
    p.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS, help="handler failures before a dead letter")
    p.add_argument("--payment-failure-rate", type=float, default=0.2)
    p.add_argument("--delivery-failure-rate", type=float, default=0.1)
    p.add_argument("--step-timeout", type=float, default=0.0,
                   help="SAGA_STEP_TIMEOUT in virtual seconds (1 step = 1 ms); 0: no deadlines (default)")
    p.add_argument("--payment-transient-failure-rate", type=float, default=0.0,
                   help="PAYMENT_TRANSIENT_FAILURE_RATE: a charge attempt fails transiently (retried)")
    p.add_argument("--max-retries", type=int, default=3, help="SAGA_MAX_RETRIES (default 3)")
    p.add_argument("--heal-after", type=int, default=0, help="stop injecting faults after this many steps")
    p.add_argument("--max-steps", type=int, default=0, help="give up (verdict unknown) after this many steps")
    p.add_argument("--style", choices=STYLES, default=None,
                   help="saga style: orchestration | choreography (default: $SAGA_STYLE, else orchestration)")
    p.add_argument("--trace", metavar="FILE", help="write every event of the run to FILE ('-': stdout)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (single run)")
    p.add_argument("-q", "--quiet", action="store_true", help="sweep: print only failing seeds and the total")
    p.set_defaults(func=cmd_simulate)


def _epilog() -> str:
    faults = "\n".join(f"  {k:<20} {rate:<6g} {what}" for k, (rate, what) in FAULT_KINDS.items())
    kinds = "\n".join(f"  {k:<20} {what}" for k, what in ORDER_KINDS.items())
    forms = "\n".join("  " + line.strip() for line in (ScheduledFault.__doc__ or "").splitlines()[2:] if line.strip())
    return (
        f"fault kinds (default rate, per what):\n{faults}\n\nschedule forms (--schedule, comma-separated):\n{forms}"
        f"\n\norder kinds (--mix):\n{kinds}\n\ndefects: {', '.join(DEFECTS)}"
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except (FaultSpecError, ValueError) as exc:
        print(f"saga-harness simulate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.runs > 1:
            return _sweep(config, args.runs, fixed_faults=args.faults is not None, quiet=args.quiet)
        return _single(config, args)
    except Exception:  # noqa: BLE001 - a crash of the simulator itself is 255, never "invalid"
        traceback.print_exc()
        print(f"saga-harness simulate: crashed; replay: {config.replay_command()}", file=sys.stderr)
        return EXIT_CRASHED


def config_from_args(args: argparse.Namespace) -> SimConfig:
    if args.orders < 0:
        raise ValueError("--orders must be at least 0")
    if args.runs < 1:
        raise ValueError("--runs must be at least 1")
    if args.prefetch < 1 or args.max_attempts < 1:
        raise ValueError("--prefetch and --max-attempts must be at least 1")
    for name in ("payment_failure_rate", "delivery_failure_rate", "payment_transient_failure_rate"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1")
    mix = tuple(k.strip() for k in (args.mix or "").split(",") if k.strip())
    unknown = [k for k in mix if k not in ORDER_KINDS]
    if unknown:
        raise ValueError(f"unknown order kind(s) {', '.join(unknown)}; known: {', '.join(ORDER_KINDS)}")
    return SimConfig(
        seed=args.seed,
        orders=args.orders,
        faults=FaultSpec.parse(args.faults),
        schedule=parse_schedule(args.schedule),
        defects=parse_defects(args.defects, source="--defects"),
        mix=mix,
        prefetch=args.prefetch,
        max_attempts=args.max_attempts,
        payment_failure_rate=args.payment_failure_rate,
        delivery_failure_rate=args.delivery_failure_rate,
        heal_after=max(0, args.heal_after),
        max_steps=max(0, args.max_steps),
        style=args.style or env_style().name,
        step_timeout=max(0.0, args.step_timeout),
        payment_transient_failure_rate=args.payment_transient_failure_rate,
        max_retries=args.max_retries,
    )


def exit_code(verdicts: list[Verdict]) -> int:
    return {True: EXIT_VALID, False: EXIT_INVALID, "unknown": EXIT_UNKNOWN}[overall(verdicts)]


def _single(config: SimConfig, args: argparse.Namespace) -> int:
    result = simulate(config, keep_events=bool(args.trace))
    if args.trace:
        _write_trace(result, args.trace)
    if args.json:
        print(json.dumps(result_to_dict(result), indent=2, sort_keys=True))
    else:
        print(render(result))
    return exit_code(result.verdicts)


def render(result: SimResult) -> str:
    from harness.invariants import summary  # the checker's own terminal format

    c, s = result.config, result.stats
    lines = [
        f"simulate seed={c.seed} orders={c.orders} faults={c.faults.to_text()}"
        + (f" schedule={len(c.schedule)}" if c.schedule else "")
        + f" defects={','.join(sorted(c.defects)) or 'none'} style={c.style}",
        f"  steps={result.steps} events={result.events} published={s['published']} quiesced={result.quiesced}",
        "  orders: " + (" ".join(f"{k}={v}" for k, v in sorted(s["orders"].items())) or "none"),
        "  faults: " + (" ".join(f"{k}={v}" for k, v in sorted(s["faults"].items())) or "none"),
        summary(result.verdicts),
        f"fingerprint={result.fingerprint}",
    ]
    if result.valid is not True:
        lines.append(f"replay: {c.replay_command()}")
    return "\n".join(lines)


def result_to_dict(result: SimResult) -> dict[str, Any]:
    return {
        "replay": result.config.replay_command(),
        "seed": result.config.seed,
        "valid": result.valid,
        "fingerprint": result.fingerprint,
        "steps": result.steps,
        "events": result.events,
        "quiesced": result.quiesced,
        "stats": result.stats,
        "invariants": [asdict(v) for v in result.verdicts],
    }


def _write_trace(result: SimResult, target: str) -> None:
    text = "\n".join(result.trace or []) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        with open(target, "w", encoding="utf-8") as out:
            out.write(text)


def _sweep(base: SimConfig, runs: int, fixed_faults: bool, quiet: bool) -> int:
    failing: list[SimResult] = []
    counts = {True: 0, False: 0, "unknown": 0}
    for config in sweep_configs(base, runs, fixed_faults):
        result = simulate(config)
        counts[result.valid] += 1
        if result.valid is not True:
            failing.append(result)
        if not quiet or result.valid is not True:
            bad = ",".join(v.name for v in result.failing())
            print(
                f"seed={config.seed} faults={config.faults.to_text()} {_LABEL[result.valid]}"
                + (f" ({bad})" if bad else "")
                + f" steps={result.steps} fingerprint={result.fingerprint[:16]}",
                flush=True,
            )
    print(f"{runs} runs: {counts[True]} valid, {counts[False]} invalid, {counts['unknown']} unknown")
    for result in failing:
        names = ", ".join(f"{v.name}={_LABEL[v.valid]}" for v in result.failing())
        print(f"FAILING seed={result.config.seed}: {names}")
        print(f"  replay: {result.config.replay_command()}")
    if counts[False]:
        return EXIT_INVALID
    return EXIT_UNKNOWN if counts["unknown"] else EXIT_VALID
