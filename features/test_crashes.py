"""Bindings for crashes.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("crashes.feature")
