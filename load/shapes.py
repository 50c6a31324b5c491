"""Opt-in load shape that stages faults. Add it to the locustfile list to use it:

    locust -f load/locustfile.py,load/shapes.py --headless -u 20 -r 10 -t 60s --saga-seed 7

Constant load (-u users, spawn rate -r) for the run time (-t, default 60 s) in four equal
stages: clean warm-up, latency on every AMQP link, SIGKILL of one service, then heal (restart
and remove every toxic) with the load still on. The seed (--saga-seed, logged) picks the victim
and the latency. Needs a local system started by `saga-harness up` with this shell's SAGA_HOME.
The locustfile heals again when the test stops (abort included), before its consistency check.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from locust import LoadTestShape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `load` from any working directory

from harness.exits import EXIT_USAGE  # noqa: E402
from harness.runner.local import LocalSystem  # noqa: E402
from load.chaos import ChaosUsageError, Nemesis, make_plan  # noqa: E402

DEFAULT_DURATION_S = 60.0
USAGE_EXIT_CODE = EXIT_USAGE


class ChaosShape(LoadTestShape):
    use_common_options = True  # -u, -r and -t keep their meaning

    def tick(self) -> tuple[int, float] | None:
        env = self.runner.environment
        options = env.parsed_options
        nemesis: Nemesis | None = getattr(env, "saga_nemesis", None)
        if nemesis is None or nemesis.finished:
            try:
                nemesis = self._start_nemesis(env)
            except ChaosUsageError as exc:
                print(f"chaos shape: {exc}", flush=True)
                env.process_exit_code = USAGE_EXIT_CODE
                return None
        if not nemesis.advance(self.get_run_time()):
            return None  # the plan is over: the test stops, and test_stop heals and checks
        return options.num_users or 1, options.spawn_rate or 1

    def _start_nemesis(self, env) -> Nemesis:  # noqa: ANN001 - locust's Environment
        options = env.parsed_options
        seed = getattr(env, "saga_seed", None)
        if seed is None:
            raise ChaosUsageError("no seed: the locustfile resolves --saga-seed; add load/locustfile.py to -f")
        plan = make_plan(
            int(seed),
            float(options.run_time or DEFAULT_DURATION_S),
            victim=options.chaos_victim or None,
            latency_ms=options.chaos_latency_ms or None,
        )
        system = LocalSystem(env=dict(os.environ), say=lambda line: print(f"chaos: {line}", flush=True))
        nemesis = Nemesis.for_local_system(plan, system, say=lambda line: print(line, flush=True))
        print(f"chaos plan (seed {plan.seed}, replay with --saga-seed {plan.seed}):", flush=True)
        for stage in plan.describe():
            print(f"  {stage['from_s']:6.1f}s-{stage['to_s']:6.1f}s {stage['stage']:8} {stage['faults']}", flush=True)
        env.saga_nemesis = nemesis
        # The locustfile heals at test stop; a second Ctrl-C can skip that, the interpreter's exit cannot.
        atexit.register(heal_at_exit, nemesis)
        return nemesis


def heal_at_exit(nemesis: Nemesis) -> None:
    if nemesis.finished:
        return
    try:
        nemesis.heal()
        print("chaos: healed at exit", flush=True)
    except Exception as exc:  # noqa: BLE001 - last resort: say how to heal by hand
        print(f"chaos: HEALING FAILED at exit ({type(exc).__name__}: {exc}); heal by hand with "
              "`saga-harness fault heal` and `saga-harness up` (same SAGA_HOME)", flush=True)
