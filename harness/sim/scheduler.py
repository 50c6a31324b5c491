"""The one thread of a simulated run: each step, pick one enabled thing to happen.

Enabled things: the client places its next order; a live service handles its next delivery or
runs its outbox relay; a dead service restarts. A seeded random picks among them, so every
interleaving is reachable and each is replayable. Virtual time moves one tick per step (and
jumps ahead to the next delayed arrival when nothing else can happen). After `heal_step` steps
no more faults are injected, as in a chaos run's heal phase, so the run can quiesce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.sim.world import World


@dataclass(frozen=True)
class RunOutcome:
    steps: int
    quiesced: bool  # False: stopped at the step limit with work left


def run_to_quiescence(world: World) -> RunOutcome:
    clock, broker, injector, client = world.clock, world.broker, world.injector, world.client
    services = list(world.services.values())
    order = world.services["order"]
    # (service, its queue, its outbox, its actions): the enabled checks are inlined and the bound
    # methods made once, this loop is the hot path.
    parts = [
        (s, broker.queues[s.name], s.store.outbox, s.handle_next, s.relay, s.finish_pending, s.restart)
        for s in services
    ]
    place_next, pending_orders = client.place_next, client.pending
    delayed = broker.delayed
    rng = world.schedule_rng
    timed = order.timers is not None  # deadlines armed (SimConfig.step_timeout)
    kills = injector.p_kill > 0 or any(f.kind == "kill" for f in injector.schedule)
    limit, heal = world.config.step_limit(), world.config.heal_step()
    steps = 0
    while steps < limit:
        if steps == heal:
            injector.heal()
            world.log.emit("heal")
        clock.tick += 1
        if delayed and delayed[0][0] <= clock.tick:  # broker.release_due, when something is due
            broker.release_due()
        if kills:
            victim = injector.kill_at(clock.tick, [s.name for s in services if s.up])
            if victim is not None:
                world.services[victim].crash("kill")
        actions: list[Callable[[], None]] = []
        if order.up and pending_orders:  # client.has_work
            actions.append(place_next)
        if timed and order.up:
            deadline = order.next_deadline()
            if deadline is not None and deadline <= clock.iso():  # a timer is due: it may fire now
                actions.append(order.fire_timers)
        for service, queue, outbox, handle_next, relay, finish_pending, restart in parts:
            if not service.up:
                actions.append(restart)
                continue
            if queue.ready or len(queue.unacked) > queue.taken:  # broker.has_work
                actions.append(handle_next)
            if outbox.unsent:  # store.backlog()
                actions.append(relay)
            if service.pending:
                actions.append(finish_pending)
        if not actions:
            arrival = broker.next_release()
            deadline = order.next_deadline() if timed else None
            if deadline is not None:  # nothing else to do until then: the clock runs to the deadline
                at = clock.tick_of(deadline)
                arrival = at if arrival is None else min(arrival, at)
            if arrival is None:
                return RunOutcome(steps, True)
            clock.tick = arrival - 1  # nothing to do until the next delayed message arrives
            continue
        steps += 1
        actions[int(rng.random() * len(actions))]()  # a uniform pick, cheaper than randrange
    return RunOutcome(steps, False)
