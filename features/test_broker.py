"""Bindings for broker.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("broker.feature")
