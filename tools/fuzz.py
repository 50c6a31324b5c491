"""`make fuzz`: schemathesis against every service's OpenAPI on a fresh local instance of its own.

Bounded (`--max-examples` per operation, a time budget per service) and seeded (the seed is printed;
`SAGA_FUZZ_SEED` replays a run). Fails on any 5xx, a response that does not match its documented
schema or content type, or a hang (a response slower than `REQUEST_TIMEOUT`). The instance has its
own SAGA_HOME, ports and vhost (harness.runner.instance), and is stopped afterwards. It runs
without a chaos token: the crash-point endpoints are fuzzed as an attacker sees them, and no
generated request can kill a service.

Environment: SAGA_FUZZ_SEED (default: random, printed), SAGA_FUZZ_EXAMPLES (default 50),
SAGA_FUZZ_PORT_BASE (default 25000), SAGA_FUZZ_INSTANCE (default "fuzz").
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The checks that decide pass/fail: no 5xx, and every response's status, body and content type
# as the service's OpenAPI document says.
CHECKS = ("not_a_server_error", "response_schema_conformance", "content_type_conformance", "status_code_conformance")
REQUEST_TIMEOUT = 10.0  # s; slower counts as a hang
PHASES = "examples,coverage,fuzzing"
DEFAULT_EXAMPLES = 50
DEFAULT_PORT_BASE = 25000
CONFIG_FILE = Path(__file__).with_name("fuzz.toml")  # per-operation exceptions (GET /ready's 503)


@dataclass(frozen=True)
class Plan:
    seed: int
    max_examples: int
    reports: Path

    def command(self, service: str, base_url: str) -> list[str]:
        """The schemathesis CLI call for one service."""
        return [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file", str(CONFIG_FILE),
            "run", f"{base_url}/openapi.json",
            "--url", base_url,
            "--checks", ",".join(CHECKS),
            "--phases", PHASES,
            "--max-examples", str(self.max_examples),
            "--seed", str(self.seed),
            "--workers", "1",  # the machine is shared; the point is coverage, not load
            "--request-timeout", str(REQUEST_TIMEOUT),
            "--max-response-time", str(REQUEST_TIMEOUT),
            "--generation-database", "none",  # same seed, same run: no examples carried over
            "--suppress-health-check", "all",
            "--report", "ndjson",
            "--report-ndjson-path", str(self.reports / f"fuzz-{service}.ndjson"),
            "--no-color",
        ]


def plan_from_env(env: dict[str, str] | os._Environ[str], reports: Path) -> Plan:
    raw_seed = env.get("SAGA_FUZZ_SEED")
    seed = int(raw_seed) if raw_seed else random.SystemRandom().randrange(2**31)
    return Plan(seed=seed, max_examples=int(env.get("SAGA_FUZZ_EXAMPLES") or DEFAULT_EXAMPLES), reports=reports)


@dataclass
class Figures:
    operations: int = 0
    requests: int = 0
    failures: int = 0  # distinct (operation, check, code)
    server_errors: int = 0  # responses with a 5xx status

    def add(self, other: Figures) -> None:
        self.operations += other.operations
        self.requests += other.requests
        self.failures += other.failures
        self.server_errors += other.server_errors


def figures_from_ndjson(lines: list[str]) -> Figures:
    """Operations, requests and failures from a schemathesis NDJSON report (its ScenarioFinished events)."""
    figures = Figures()
    operations: set[str] = set()
    failed: set[tuple[str, str, str]] = set()
    for line in lines:
        event = json.loads(line)
        recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
        interactions = recorder.get("interactions") or {}
        if not interactions:
            continue
        label = recorder.get("label", "?")
        operations.add(label)
        figures.requests += len(interactions)
        figures.server_errors += sum(1 for i in interactions.values()
                                     if ((i or {}).get("response") or {}).get("status_code", 0) >= 500)
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                if check.get("status") == "failure":
                    code = ((check.get("failure_info") or {}).get("failure") or {}).get("code", "")
                    failed.add((label, check.get("name", ""), code))
    figures.operations = len(operations)
    figures.failures = len(failed)
    return figures


def describe(f: Figures) -> str:
    return f"{f.operations} operations, {f.requests} requests, {f.server_errors} 5xx, {f.failures} distinct failures"


def main() -> int:
    from harness.runner.instance import fresh_isolated_env
    from harness.runner.local import LocalSystem
    from system.contracts import SERVICES

    reports = Path("reports")
    reports.mkdir(exist_ok=True)
    plan = plan_from_env(os.environ, reports)
    print(f"fuzz: seed {plan.seed} (replay with SAGA_FUZZ_SEED={plan.seed}), {plan.max_examples} examples per operation")
    name = os.environ.get("SAGA_FUZZ_INSTANCE", "fuzz")
    port_base = int(os.environ.get("SAGA_FUZZ_PORT_BASE", DEFAULT_PORT_BASE))
    system = LocalSystem(env=fresh_isolated_env(name, port_base), say=lambda line: None)
    system.up(timeout=90)
    failed_services = []
    total = Figures()
    try:
        urls = system.endpoints().services
        for service in SERVICES:
            print(f"== {service}: {urls[service]}", flush=True)
            done = subprocess.run(plan.command(service, urls[service]), check=False)
            report = reports / f"fuzz-{service}.ndjson"
            figures = figures_from_ndjson(report.read_text().splitlines() if report.exists() else [])
            print(f"== {service}: {describe(figures)} (exit {done.returncode})", flush=True)
            total.add(figures)
            if done.returncode != 0:
                failed_services.append(service)
    finally:
        system.down()
    print(f"fuzz: seed {plan.seed}: {describe(total)}; failing: {', '.join(failed_services) or 'none'}")
    return 1 if failed_services else 0


if __name__ == "__main__":
    sys.exit(main())
