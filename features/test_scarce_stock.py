"""Bindings for scarce_stock.feature (the steps live in harness.bdd)."""

from pytest_bdd import scenarios

scenarios("scarce_stock.feature")
