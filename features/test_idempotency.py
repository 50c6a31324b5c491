"""Bindings for idempotency.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("idempotency.feature")
