"""Bindings for duplicates.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("duplicates.feature")
