"""Bindings for seed_flows.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("seed_flows.feature")
