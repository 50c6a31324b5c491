"""Work several invariants share (indexes of the state and the bus), done once per check_all.

Inside `sharing()` (check_all opens it) a result is computed the first time it is asked for and
reused by the other invariants; outside it (an invariant called alone, as the unit tests do)
every call computes afresh, so a test that edits its world between checks never sees a stale
index. Keys hold the ids of the inputs, which live as long as the check_all call; shared
results are read-only by convention.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_cache: ContextVar[dict[Hashable, Any] | None] = ContextVar("shared_checker_work", default=None)


@contextmanager
def sharing() -> Iterator[None]:
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


def memo(key: Hashable, compute: Callable[[], T]) -> T:
    cache = _cache.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    result: T = cache[key]
    return result
