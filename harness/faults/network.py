"""Network faults on the services' links, through Toxiproxy.

Every service reaches RabbitMQ through its own proxy (`amqp_<service>`) and the order API is
behind `http_order`; the runner creates them and writes `$SAGA_HOME/proxies.json`. A target is a
service name (its AMQP link), `order_api`, `all` (every AMQP link) or a proxy name.

    faults = NetworkFaults.from_saga_home()
    with faults.latency("payment", ms=300, jitter=50):
        ...                                   # healed on the way out, even on an exception
    fault = faults.add("black_hole", "all")   # or by hand
    faults.heal(fault)
    faults.heal_all()                         # every chaos_* toxic removed, every proxy enabled

Toxics we add are named `chaos_<kind>_<stream>` so `heal_all` can find them without removing
anybody else's.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.faults.plan import (  # noqa: F401  (re-exported: the fault API's public names)
    CHAOS_PREFIX,
    FAULT_KINDS,
    STREAMS,
    FaultKind,
    FaultUsageError,
    ToxicPlan,
    plan,
    proxy_names,
)
from harness.runner.layout import Layout
from harness.toxiproxy.client import (
    DEFAULT_URL,
    AlreadyExists,
    NotFound,
    Toxiproxy,
    ToxiproxyClient,
)

log = logging.getLogger("harness.faults")


# --- the proxy map the runner writes ---------------------------------------------------------
@dataclass(frozen=True)
class ProxyMap:
    toxiproxy_url: str
    proxies: dict[str, dict[str, str]] = field(default_factory=dict)


def load_proxy_map(path: str | Path | None = None) -> ProxyMap:
    """`$SAGA_HOME/proxies.json`, or the default server URL when the runner has not written it."""
    path = Path(path) if path is not None else Layout.from_env().proxy_map_file
    fallback = os.environ.get("TOXIPROXY_URL", DEFAULT_URL)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return ProxyMap(fallback)
    # An explicit TOXIPROXY_URL (say, the compose demo's real Toxiproxy) wins over a local run's map.
    url = os.environ.get("TOXIPROXY_URL") or data.get("toxiproxy_url") or fallback
    return ProxyMap(str(url), dict(data.get("proxies") or {}))


# --- the shell ---------------------------------------------------------------------------------
@dataclass
class Fault:
    """What one injection changed, so that exactly that can be undone."""

    description: str
    toxics: list[tuple[str, str]] = field(default_factory=list)  # (proxy, toxic name)
    disabled: list[str] = field(default_factory=list)  # proxies we turned off


@dataclass
class HealReport:
    removed: list[tuple[str, str]] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)


class NetworkFaults:
    def __init__(self, client: Toxiproxy) -> None:
        self.client = client

    @classmethod
    def from_saga_home(cls, path: str | Path | None = None) -> NetworkFaults:
        return cls(ToxiproxyClient(load_proxy_map(path).toxiproxy_url))

    def close(self) -> None:
        self.client.close()

    # Plain functions.
    def add(
        self,
        kind: str,
        target: str,
        stream: str | None = None,
        toxicity: float = 1.0,
        **attributes: int,
    ) -> Fault:
        """Add the toxics now; all or nothing (a failure removes what was already added)."""
        plans = plan(kind, target, attributes, stream, toxicity)
        fault = Fault(f"{kind} on {target}")
        try:
            for p in plans:
                fault.toxics.append((p.proxy, self._add_unique(p)))
        except BaseException as exc:
            self._roll_back(fault, exc)
            raise
        log.info("fault injected: %s %s", fault.description, attributes)
        return fault

    def partition_now(self, target: str) -> Fault:
        """Disable the target's proxies: open connections drop, new ones are refused."""
        fault = Fault(f"partition of {target}")
        try:
            for name in proxy_names(target):
                if self.client.get_proxy(name).enabled:
                    self.client.disable(name)
                    fault.disabled.append(name)
        except BaseException as exc:
            self._roll_back(fault, exc)
            raise
        log.info("fault injected: %s", fault.description)
        return fault

    def heal(self, fault: Fault) -> None:
        """Undo one fault. Tries every step; raises the first failure after trying them all."""
        errors: list[Exception] = []
        for proxy, toxic in reversed(fault.toxics):
            try:
                self.client.remove_toxic(proxy, toxic)
            except NotFound:
                pass  # already gone (a reset, a heal_all, the proxy deleted): healed anyway
            except Exception as exc:
                errors.append(exc)
        for proxy in fault.disabled:
            try:
                self.client.enable(proxy)
            except NotFound:
                pass
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        log.info("fault healed: %s", fault.description)

    def heal_all(self) -> HealReport:
        """Remove every chaos_* toxic and enable every proxy, on the whole server."""
        report = HealReport()
        for name, proxy in self.client.proxies().items():
            for toxic in proxy.toxics:
                if toxic.name.startswith(CHAOS_PREFIX):
                    try:
                        self.client.remove_toxic(name, toxic.name)
                    except NotFound:
                        continue
                    report.removed.append((name, toxic.name))
            if not proxy.enabled:
                self.client.enable(name)
                report.enabled.append(name)
        return report

    def _roll_back(self, fault: Fault, cause: BaseException) -> None:
        try:
            self.heal(fault)
        except Exception as exc:  # the original failure is the one to report
            cause.add_note(f"and undoing the part already applied failed: {exc}")

    def _add_unique(self, p: ToxicPlan) -> str:
        # The same fault twice on one link (nested context managers) needs distinct names.
        for n in range(1, 100):
            name = p.name if n == 1 else f"{p.name}_{n}"
            try:
                self.client.add_toxic(
                    p.proxy, p.type, p.attributes, stream=p.stream, toxicity=p.toxicity, name=name
                )
            except AlreadyExists:
                continue
            return name
        raise AlreadyExists(f"too many {p.name} toxics on {p.proxy}")

    # Context managers: the fault lasts exactly as long as the block.
    @contextmanager
    def inject(
        self,
        kind: str,
        target: str = "all",
        stream: str | None = None,
        toxicity: float = 1.0,
        **attributes: int,
    ) -> Iterator[Fault]:
        fault = self.add(kind, target, stream, toxicity, **attributes)
        with _healing(self, fault):
            yield fault

    @contextmanager
    def partition(self, target: str = "all") -> Iterator[Fault]:
        fault = self.partition_now(target)
        with _healing(self, fault):
            yield fault

    def latency(
        self, target: str = "all", ms: int = 100, jitter: int = 0, **options: Any
    ) -> AbstractContextManager[Fault]:
        return self.inject("latency", target, latency=ms, jitter=jitter, **options)

    def bandwidth(
        self, target: str = "all", rate_kb: int = 10, **options: Any
    ) -> AbstractContextManager[Fault]:
        return self.inject("bandwidth", target, rate=rate_kb, **options)

    def black_hole(
        self, target: str = "all", timeout_ms: int = 0, **options: Any
    ) -> AbstractContextManager[Fault]:
        return self.inject("black_hole", target, timeout=timeout_ms, **options)

    def reset_peer(
        self, target: str = "all", timeout_ms: int = 0, **options: Any
    ) -> AbstractContextManager[Fault]:
        return self.inject("reset_peer", target, timeout=timeout_ms, **options)

    def slicer(
        self,
        target: str = "all",
        average_size: int = 64,
        size_variation: int = 0,
        delay_us: int = 0,
        **options: Any,
    ) -> AbstractContextManager[Fault]:
        return self.inject(
            "slicer",
            target,
            average_size=average_size,
            size_variation=size_variation,
            delay=delay_us,
            **options,
        )

    def limit_data(
        self, target: str = "all", nbytes: int = 0, **options: Any
    ) -> AbstractContextManager[Fault]:
        return self.inject("limit_data", target, bytes=nbytes, **options)

    def slow_close(
        self, target: str = "all", delay_ms: int = 1000, **options: Any
    ) -> AbstractContextManager[Fault]:
        return self.inject("slow_close", target, delay=delay_ms, **options)


@contextmanager
def _healing(faults: NetworkFaults, fault: Fault) -> Iterator[None]:
    try:
        yield
    except BaseException as body_error:
        try:
            faults.heal(fault)
        except Exception as heal_error:  # never hide why the block failed
            log.error("could not heal %s: %s", fault.description, heal_error)
            body_error.add_note(f"and healing {fault.description} failed too: {heal_error}")
        raise
    else:
        faults.heal(fault)


# Module-level shortcuts over $SAGA_HOME/proxies.json, for scripts and BDD steps; each opens
# and closes its own client.
def add(
    kind: str, target: str, stream: str | None = None, toxicity: float = 1.0, **attributes: int
) -> Fault:
    faults = NetworkFaults.from_saga_home()
    try:
        return faults.add(kind, target, stream, toxicity, **attributes)
    finally:
        faults.close()


def heal(fault: Fault) -> None:
    faults = NetworkFaults.from_saga_home()
    try:
        faults.heal(fault)
    finally:
        faults.close()


def heal_all() -> HealReport:
    faults = NetworkFaults.from_saga_home()
    try:
        return faults.heal_all()
    finally:
        faults.close()


@contextmanager
def inject(
    kind: str,
    target: str = "all",
    stream: str | None = None,
    toxicity: float = 1.0,
    **attributes: int,
) -> Iterator[Fault]:
    faults = NetworkFaults.from_saga_home()
    try:
        with faults.inject(kind, target, stream, toxicity, **attributes) as fault:
            yield fault
    finally:
        faults.close()


@contextmanager
def partition(target: str = "all") -> Iterator[Fault]:
    faults = NetworkFaults.from_saga_home()
    try:
        with faults.partition(target) as fault:
            yield fault
    finally:
        faults.close()
