"""Duplicate deliveries: copy chosen messages back onto `saga_events` under the SAME message_id.

This is what at-least-once delivery does to a consumer (a redelivery after a lost ack, an outbox
relay that re-publishes after a crash), on demand: with a probability, only for routing keys that
match a filter, and optionally after a delay, so the copy arrives after later messages of the same
saga (out of order). The duplicator watches the bus through its own tap queue and marks its copies
with a header so it never copies a copy. Its choices come from a seeded generator.

With `new_id`, a copy gets a NEW message_id instead: a producer that retried without an
idempotent id. No inbox can absorb that; only handlers that are idempotent by state survive it.
Every such copy the duplicator published is listed in `injected()` (copy's id -> original's id),
which the run hands the checker as `History.injected`: the copies are the fault, not the
system's own effects, so `one_effect_per_cause` discounts them and stays in every experiment.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from harness.broker import with_message_id
from harness.nemesis.base import Injection, Nemesis, PlannedFault
from harness.recorder import DUPLICATE_HEADER, Tap
from system.contracts import EXCHANGE
from system.styles import ORCHESTRATED, Style, bus_keys, style_named


@dataclass(frozen=True)
class DuplicateSettings:
    probability: float = 1.0
    keys: tuple[str, ...] = ("*",)  # fnmatch patterns on the routing key ("payment.*")
    max_delay_ms: int = 0  # each copy waits a uniform delay in [0, max_delay_ms]
    new_id: bool = False  # a sender retry under a fresh message_id instead of a redelivery


def matches(routing_key: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(routing_key, p) for p in patterns)


def choose(settings: DuplicateSettings, routing_key: str, rng: random.Random) -> float | None:
    """Pure: the delay (seconds) before copying this message, or None to leave it alone."""
    if not matches(routing_key, settings.keys):
        return None
    if rng.random() >= settings.probability:
        return None
    return rng.uniform(0, settings.max_delay_ms) / 1000.0 if settings.max_delay_ms > 0 else 0.0


class Duplicator(Tap):
    prefix = "harness.duplicator"

    def __init__(self, amqp_url: str, *, durable: bool = False) -> None:
        super().__init__(amqp_url, durable=durable)
        self._windows: dict[int, tuple[DuplicateSettings, random.Random]] = {}  # open windows by fault id
        self._lock = threading.Lock()
        self._exchange: Any = None
        self._pending: set[asyncio.Task] = set()
        self._injected: dict[str, str] = {}  # new-id copies published: copy's id -> original's id
        self.published = 0
        self.failed = 0

    async def on_open(self) -> None:
        # Its own confirmed channel: a copy counts only once the broker took it.
        channel = await self._connection.channel(publisher_confirms=True)  # type: ignore[union-attr]
        self._exchange = await channel.get_exchange(EXCHANGE)

    # -- control (any thread) ------------------------------------------------------------------
    def activate(self, window: int, settings: DuplicateSettings, rng: random.Random) -> None:
        """Open a duplication window. Windows overlap freely: each copies on its own dice."""
        with self._lock:
            self._windows[window] = (settings, rng)

    def deactivate(self, window: int | None = None) -> None:
        """Close one window (None: all of them)."""
        with self._lock:
            if window is None:
                self._windows.clear()
            else:
                self._windows.pop(window, None)

    def pending(self) -> int:
        return len(self._pending)

    def injected(self) -> dict[str, str]:
        """Every copy published under a NEW message_id: copy's message_id -> the original's."""
        with self._lock:
            return dict(self._injected)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every delayed copy was published."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._pending

    # -- on the tap's loop ------------------------------------------------------------------------
    async def on_message(self, incoming: AbstractIncomingMessage) -> None:
        if (incoming.headers or {}).get(DUPLICATE_HEADER):
            return
        with self._lock:
            chosen = [
                (choose(settings, incoming.routing_key or "", rng), settings.new_id)
                for _, (settings, rng) in sorted(self._windows.items())
            ]
        for n, (delay, new_id) in enumerate(chosen):
            if delay is not None:
                self._copy(incoming, delay, f"retry-{n}" if new_id else None)

    def _copy(self, incoming: AbstractIncomingMessage, delay: float, retry: str | None = None) -> None:
        body, message_id = incoming.body, incoming.message_id
        if retry is not None:
            message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{message_id}|{retry}"))
            body = with_message_id(body, message_id)
            with self._lock:  # listed before the publish: an unconfirmed copy may still reach the bus
                self._injected[message_id] = str(incoming.message_id)
        copy = aio_pika.Message(
            body=body,
            message_id=message_id,
            correlation_id=incoming.correlation_id,
            content_type=incoming.content_type or "application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={**(incoming.headers or {}), DUPLICATE_HEADER: 1},
            app_id=getattr(incoming, "app_id", None),  # a copy of a service's message, as a re-sending service makes it
        )
        task = asyncio.create_task(self._publish_later(copy, incoming.routing_key or "", delay))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish_later(self, copy: aio_pika.Message, routing_key: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        for attempt in range(5):  # the broker may be restarting under us: retry a little
            try:
                await self._exchange.publish(copy, routing_key=routing_key, timeout=5)
                self.published += 1
                return
            except Exception:  # noqa: BLE001
                await asyncio.sleep(0.5 * (attempt + 1))
        self.failed += 1


class DuplicatesNemesis(Nemesis):
    """Each planned `duplicate` fault is a window during which the duplicator copies messages."""

    name = "duplicates"
    kinds = ("duplicate",)

    def __init__(self, duplicator: Duplicator, seed: int, style: str | None = None) -> None:
        self.duplicator = duplicator
        self.seed = seed
        self.style = style_named(style)

    def inject(self, fault: PlannedFault, stop: threading.Event) -> Injection:
        settings = settings_from(fault, self.style)
        before = self.duplicator.published
        self.duplicator.activate(fault.id, settings, random.Random(f"{self.seed}:duplicates:{fault.id}"))
        return Injection(time.time(), {"keys": list(settings.keys)}, handle=before)

    def heal(self, fault: PlannedFault, injection: Injection) -> dict[str, Any]:
        self.duplicator.deactivate(fault.id)
        # Copies still waiting out their delay are published later; they count in the run total.
        return {"copies_published_during_window": self.duplicator.published - injection.handle}

    def heal_all(self) -> None:
        self.duplicator.deactivate()
        self.duplicator.flush()


def settings_from(fault: PlannedFault, style: Style = ORCHESTRATED) -> DuplicateSettings:
    """A command named in an experiment is, in a choreography, the events that trigger it."""
    named = tuple(k.strip() for k in fault.target.split(",") if k.strip()) or ("*",)
    keys = tuple(dict.fromkeys(k for pattern in named for k in bus_keys(style, pattern)))
    return DuplicateSettings(
        probability=float(fault.params.get("probability", 1.0)),
        keys=keys,
        max_delay_ms=int(fault.params.get("max_delay_ms", 0)),
        new_id=bool(fault.params.get("new_id", False)),
    )
