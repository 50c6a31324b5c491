"""Network faults as nemesis events: harness.faults.network does the Toxiproxy work, this only
turns a PlannedFault into a call of it and back."""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.faults.network import FAULT_KINDS, NetworkFaults, proxy_names
from harness.nemesis.base import Injection, Nemesis, PlannedFault
from harness.toxiproxy.client import ToxiproxyClient

PARTITION = "partition"
KINDS = (PARTITION, *FAULT_KINDS)
# Options of a toxic that are not among its attributes.
TOXIC_OPTIONS = ("stream", "toxicity")


def split_params(params: dict[str, Any]) -> tuple[str | None, float, dict[str, int]]:
    """(stream, toxicity, toxic attributes as ints) from a planned fault's params."""
    stream = params.get("stream")
    toxicity = float(params.get("toxicity", 1.0))
    attributes = {k: int(v) for k, v in params.items() if k not in TOXIC_OPTIONS}
    return stream, toxicity, attributes


class NetworkNemesis(Nemesis):
    name = "network"
    kinds = KINDS

    def __init__(self, toxiproxy_url: str) -> None:
        self.faults = NetworkFaults(ToxiproxyClient(toxiproxy_url))

    def inject(self, fault: PlannedFault, stop: threading.Event) -> Injection:
        if fault.kind == PARTITION:
            done = self.faults.partition_now(fault.target)
        else:
            stream, toxicity, attributes = split_params(fault.params)
            done = self.faults.add(fault.kind, fault.target, stream, toxicity, **attributes)
        return Injection(time.time(), {"proxies": proxy_names(fault.target)}, handle=done)

    def heal(self, fault: PlannedFault, injection: Injection) -> dict[str, Any]:
        self.faults.heal(injection.handle)
        return {}

    def heal_all(self) -> None:
        self.faults.heal_all()

    def close(self) -> None:
        self.faults.close()
