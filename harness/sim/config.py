"""What one simulated run is: everything that, with the seed, fixes it to the byte."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from harness.sim.faults import FaultSpec, ScheduledFault, format_schedule
from system.deadlines import NO_TIMEOUTS, StepTimeouts
from system.defects import Defect
from system.styles import DEFAULT_STYLE

DEFAULT_PREFETCH = 32  # ServiceConfig.prefetch
DEFAULT_MAX_ATTEMPTS = 5  # ServiceConfig.max_attempts


@dataclass(frozen=True)
class SimConfig:
    seed: int = 0
    orders: int = 10
    faults: FaultSpec = FaultSpec()
    schedule: tuple[ScheduledFault, ...] = ()
    defects: frozenset[Defect] = frozenset()
    mix: tuple[str, ...] = ()  # order kinds, cycled; empty: drawn from the seed
    prefetch: int = DEFAULT_PREFETCH
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    payment_failure_rate: float = 0.2
    delivery_failure_rate: float = 0.1
    heal_after: int = 0  # faults stop after this many steps; 0: a bound from the number of orders
    max_steps: int = 0  # the run stops here even if not quiescent; 0: a bound from the above
    style: str = DEFAULT_STYLE  # orchestration | choreography (system/styles.py)
    step_timeout: float = 0.0  # SAGA_STEP_TIMEOUT in virtual seconds (1 step = 1 ms); 0: no deadlines
    payment_transient_failure_rate: float = 0.0  # PAYMENT_TRANSIENT_FAILURE_RATE (issue #16)
    max_retries: int = 3  # SAGA_MAX_RETRIES

    def timeouts(self) -> StepTimeouts:
        return StepTimeouts(self.step_timeout) if self.step_timeout > 0 else NO_TIMEOUTS

    def heal_step(self) -> int:
        # A saga takes about a dozen steps, so only extreme fault rates (a crash loop) get here.
        return self.heal_after or 1_000 + 100 * self.orders

    def step_limit(self) -> int:
        return self.max_steps or 2 * self.heal_step() + 10_000

    def replay_command(self) -> str:
        """The `saga-harness simulate` command line that runs exactly this again."""
        args = ["saga-harness", "simulate", "--seed", str(self.seed), "--orders", str(self.orders)]
        if self.faults.rates:
            args += ["--faults", self.faults.to_text()]
        if self.schedule:
            args += ["--schedule", format_schedule(self.schedule)]
        if self.defects:
            args += ["--defects", ",".join(sorted(self.defects))]
        if self.mix:
            args += ["--mix", ",".join(self.mix)]
        if self.prefetch != DEFAULT_PREFETCH:
            args += ["--prefetch", str(self.prefetch)]
        if self.payment_failure_rate != 0.2:
            args += ["--payment-failure-rate", f"{self.payment_failure_rate:g}"]
        if self.delivery_failure_rate != 0.1:
            args += ["--delivery-failure-rate", f"{self.delivery_failure_rate:g}"]
        if self.max_attempts != DEFAULT_MAX_ATTEMPTS:
            args += ["--max-attempts", str(self.max_attempts)]
        if self.heal_after:
            args += ["--heal-after", str(self.heal_after)]
        if self.max_steps:
            args += ["--max-steps", str(self.max_steps)]
        # Always: the command's default is SAGA_STYLE, which the replaying shell may set otherwise.
        args += ["--style", self.style]
        if self.step_timeout > 0:
            args += ["--step-timeout", f"{self.step_timeout:g}"]
        if self.payment_transient_failure_rate > 0:
            args += ["--payment-transient-failure-rate", f"{self.payment_transient_failure_rate:g}"]
        if self.max_retries != 3:
            args += ["--max-retries", str(self.max_retries)]
        return shlex.join(args)
