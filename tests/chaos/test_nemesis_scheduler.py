"""The scheduler plays a plan: lanes in turn, lanes side by side, windows logged, errors stop it.

The nemesis here is a recording fake: what is under test is the scheduler's timing and logging,
not a real fault (the integration runs do those).
"""

import threading
import time

from harness.nemesis.base import (
    FaultLog,
    FaultScheduler,
    Injection,
    Nemesis,
    NemesisError,
    PlannedFault,
)
from harness.nemesis.duplicates import DuplicateSettings, choose, matches


class Recording(Nemesis):
    name = "fake"
    kinds = ("poke", "dud", "boom")

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()

    def inject(self, fault, stop):
        with self.lock:
            self.calls.append(("inject", fault.id, time.monotonic()))
        if fault.kind == "boom":
            raise NemesisError("the tool failed")
        return Injection(time.time(), {"seen": fault.target}, effective=fault.kind != "dud")

    def heal(self, fault, injection):
        with self.lock:
            self.calls.append(("heal", fault.id, time.monotonic()))
        return {"healed": True}


def fault(id_, lane, at, duration=0.05, kind="poke"):
    return PlannedFault(id_, "fake", kind, f"t{id_}", at, duration, {"p": id_}, lane)


def play(plan, nemesis):
    log = FaultLog()
    scheduler = FaultScheduler(plan, {"fake": nemesis}, log)
    scheduler.start()
    assert scheduler.wait(timeout=10)
    return scheduler, log


def test_every_fault_that_took_effect_is_one_closed_window_with_its_detail():
    nemesis = Recording()
    scheduler, log = play([fault(0, 0, 0.0), fault(1, 1, 0.0)], nemesis)
    events = log.events()
    assert len(events) == 2 and all(e.end is not None and e.end >= e.start for e in events)
    assert {e.target for e in events} == {"t0", "t1"}
    assert all(e.detail["healed"] and e.detail["p"] in (0, 1) for e in events)
    assert sorted(scheduler.done) == [0, 1] and not scheduler.errors


def test_faults_in_one_lane_run_one_after_another():
    nemesis = Recording()
    play([fault(0, 0, 0.0, duration=0.1), fault(1, 0, 0.0)], nemesis)
    order = [(c[0], c[1]) for c in nemesis.calls]
    assert order == [("inject", 0), ("heal", 0), ("inject", 1), ("heal", 1)]


def test_a_fault_without_effect_is_not_a_window():
    nemesis = Recording()
    scheduler, log = play([fault(0, 0, 0.0, kind="dud")], nemesis)
    assert log.events() == [] and scheduler.ineffective[0]["fault_id"] == 0
    assert [c[0] for c in nemesis.calls] == ["inject", "heal"]


def test_a_nemesis_error_stops_the_plan_and_is_kept():
    nemesis = Recording()
    scheduler, log = play([fault(0, 0, 0.0, kind="boom"), fault(1, 0, 0.05), fault(2, 1, 5.0)], nemesis)
    assert len(scheduler.errors) == 1 and "the tool failed" in scheduler.errors[0]
    assert sorted(scheduler.skipped) == [1, 2]
    assert [c[1] for c in nemesis.calls] == [0]


def test_close_open_ends_windows_a_heal_never_reached():
    log = FaultLog()
    log.begin("partition", "payment", 1.0, {})
    assert log.close_open(5.0, {"healed_by": "heal phase"}) == 1
    assert log.events()[0].end == 5.0 and log.open_events() == []


def test_the_duplicator_copies_only_matching_keys_with_its_probability():
    import random

    everything = DuplicateSettings(probability=1.0, keys=("payment.*",), max_delay_ms=0)
    assert choose(everything, "payment.process", random.Random(1)) == 0.0
    assert choose(everything, "inventory.reserve", random.Random(1)) is None
    never = DuplicateSettings(probability=0.0)
    assert choose(never, "payment.process", random.Random(1)) is None
    half = DuplicateSettings(probability=0.5, max_delay_ms=1000)
    rng = random.Random(7)
    delays = [choose(half, "payment.process", rng) for _ in range(2000)]
    copied = [d for d in delays if d is not None]
    assert 800 < len(copied) < 1200 and all(0 <= d <= 1.0 for d in copied)
    assert matches("inventory.reserve", ("inventory.*",)) and not matches("inventory.reserve", ("payment.*",))
