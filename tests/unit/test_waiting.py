"""wait_until: returns the value that satisfied the condition, or raises with what it last saw."""

from __future__ import annotations

import itertools

import pytest

from harness.waiting import WaitTimeout, wait_until


def test_returns_the_first_value_that_satisfies():
    counter = itertools.count()
    assert wait_until(lambda: next(counter), lambda n: n >= 3, 5, what="three", poll=0) == 3


def test_raises_naming_what_and_the_last_value():
    with pytest.raises(WaitTimeout) as caught:
        wait_until(lambda: {"status": "pending"}, lambda o: o["status"] == "completed", 0.05,
                   what="order o1 to complete", poll=0.01)
    assert caught.value.last == {"status": "pending"}
    assert "order o1 to complete" in str(caught.value) and "pending" in str(caught.value)

