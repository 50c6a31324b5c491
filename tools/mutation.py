"""Mutation check of the checker: disable each violation site of every invariant in turn and run
the invariant unit tests; a site is killed when some test fails. A site that survives is a check
no test can see fail, so the checker could lose it silently.

    python tools/mutation.py [--tests PATH ...]     (make mutation)

A site is one `found.violation(...)` call in harness/invariants. Mutants run in-process: one
pytest session collects the tests once, and Findings.violation is patched to drop the findings
of one call site (file, line range) at a time. Per mutant the tests run in an order that puts
the ones named after the site's invariant first and stops at the first failure.
Exit 0 when every site is killed, 1 when some survive, 254 on bad usage.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INVARIANTS_DIR = ROOT / "harness" / "invariants"
DEFAULT_TESTS = ("tests/unit/test_invariants.py", "tests/unit/test_invariants_verdicts.py")


@dataclass(frozen=True)
class Site:
    path: str  # absolute, as frames name it
    first: int  # the call's line range: a frame reports one line of it
    last: int
    function: str
    problem: str

    def __str__(self) -> str:
        where = f"{Path(self.path).relative_to(ROOT)}:{self.first}"
        return f"{where} in {self.function}: {self.problem}"


def violation_sites(directory: Path = INVARIANTS_DIR) -> list[Site]:
    """Every `<something>.violation(...)` call in the checker's modules, in file order."""
    sites = []
    for path in sorted(directory.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "violation"):
                    sites.append(Site(str(path), node.lineno, node.end_lineno or node.lineno,
                                      function.name, _problem(node)))
    return sorted(set(sites), key=lambda s: (s.path, s.first))


def _problem(call: ast.Call) -> str:
    for keyword in call.keywords:
        if keyword.arg == "problem":
            return ast.unparse(keyword.value)
    return "(problem given by the caller)"


class Disabler:
    """Patches Findings.violation so that the findings of one call site vanish."""

    def __init__(self) -> None:
        from harness.invariants.common import Findings

        self.findings = Findings
        self.original = Findings.violation
        self.site: Site | None = None

    def __enter__(self) -> Disabler:
        original, disabler = self.original, self

        def violation(findings: Any, **example: Any) -> None:
            site = disabler.site
            if site is not None:
                frame = sys._getframe(1)
                if frame.f_code.co_filename == site.path and site.first <= frame.f_lineno <= site.last:
                    return
            original(findings, **example)

        self.findings.violation = violation  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        self.findings.violation = self.original  # type: ignore[method-assign]


def _ordered(items: list[Any], site: Site, last_killer: Any) -> Iterator[Any]:
    """Likely killers first: the last test that killed a mutant, then tests naming the site."""
    words = {site.function, Path(site.path).stem}
    first = [last_killer] if last_killer is not None else []
    named = [i for i in items if i is not last_killer and any(w in i.nodeid for w in words)]
    rest = [i for i in items if i is not last_killer and i not in named]
    yield from first + named + rest


class MutationPlugin:
    def __init__(self, sites: list[Site]) -> None:
        self.sites = sites
        self.survivors: list[Site] = []
        self.baseline_failures: list[str] = []
        self.tests = 0  # how many tests each mutant could fail (0: the session never ran them)

    def pytest_runtestloop(self, session: Any) -> bool:
        from _pytest.runner import runtestprotocol

        def fails(item: Any) -> bool:
            return any(report.failed for report in runtestprotocol(item, log=False, nextitem=None))

        items = list(session.items)
        self.tests = len(items)
        self.baseline_failures = [i.nodeid for i in items if fails(i)]
        if self.baseline_failures:
            return True  # mutants of a checker whose tests already fail say nothing
        last_killer = None
        with Disabler() as disabler:
            for site in self.sites:
                disabler.site = site
                killer = next((i for i in _ordered(items, site, last_killer) if fails(i)), None)
                if killer is None:
                    self.survivors.append(site)
                else:
                    last_killer = killer
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="test files to run per mutant")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 254 if exc.code == 2 else int(exc.code or 0)
    import pytest

    started = time.perf_counter()
    sites = violation_sites()
    plugin = MutationPlugin(sites)
    code = pytest.main(["-p", "no:cacheprovider", "-p", "no:terminal", "-o", "addopts=", *args.tests],
                       plugins=[plugin])
    if not plugin.tests:
        print(f"no invariant tests ran (pytest exit {code}): nothing was mutation-checked", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    if plugin.baseline_failures:
        print(f"the unmutated checker fails {len(plugin.baseline_failures)} tests; fix them first:")
        print("\n".join(f"  {n}" for n in plugin.baseline_failures))
        return 1
    killed = len(sites) - len(plugin.survivors)
    print(f"killed {killed}/{len(sites)} violation sites ({plugin.tests} tests per mutant at most) in {elapsed:.1f} s")
    for site in plugin.survivors:
        print(f"  SURVIVED {site}")
    return 1 if plugin.survivors else 0


if __name__ == "__main__":
    sys.exit(main())
