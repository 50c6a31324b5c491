"""Bindings for network.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("network.feature")
