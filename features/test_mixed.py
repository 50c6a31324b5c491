"""Bindings for mixed.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("mixed.feature")
