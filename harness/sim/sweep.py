"""Many seeds, varied fault mixes: the configs of a `--runs K` sweep."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from harness.sim.config import SimConfig
from harness.sim.faults import FaultSpec

# A seed picks its mix (seed % len), so a failing seed's replay names the mix it ran with.
# Half of them carry copies under new ids (dupnew, recorded in History.injected), handler errors
# or unconfirmed publishes: faults the correct system must absorb as well as the classic ones.
SWEEP_MIXES = (
    "all",
    "dup,reorder,dupnew",
    "crash",
    "dup,delay,dupnew",
    "kill,retry,reorder,handler_error",
    "crash,dup,delay,publish_fail",
    "crash_after_publish=0.05,reorder,dupnew",
    "dup=0.2,crash=0.03,kill,handler_error,publish_fail",
)


def sweep_configs(base: SimConfig, runs: int, fixed_faults: bool) -> Iterator[SimConfig]:
    """seed, seed+1, ...; each with the base's faults if given, else a mix from the seed."""
    for seed in range(base.seed, base.seed + runs):
        faults = base.faults if fixed_faults else FaultSpec.parse(SWEEP_MIXES[seed % len(SWEEP_MIXES)])
        yield replace(base, seed=seed, faults=faults)
