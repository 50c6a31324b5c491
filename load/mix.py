"""The order mix: which kinds of order a load run places, and what each kind must end as.

Pure: a mix is parsed from text ("success=60,payment_failure=10"), a kind is drawn with a
caller's `random.Random`, and the request body and the expected outcomes follow from the kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.stock_boundary import (
    EXACT,
    GIVE_BACK,
    ONE_MORE,
    SCARCE_PRODUCT,
    SMALL_QUANTITIES,
    boundary_quantity,
)
from system.catalog import INITIAL_STOCK

PLENTIFUL_PRODUCTS = ("product_1", "product_2")


@dataclass(frozen=True)
class OrderKind:
    name: str
    description: str
    expected: frozenset[str]  # outcomes ("completed" or a failure_reason) this kind may end in
    force: dict[str, str] | None = None
    scarce: bool = False  # order more than the scarce product's whole stock
    retry_same_key: bool = False  # POST a second time with the same Idempotency-Key and body
    scarce_small: bool = False  # a few units of the scarce product (SMALL_QUANTITIES)
    # At the boundary: the scarce product's available stock, read just before, plus this.
    stock_offset: int | None = None


ANY_OUTCOME = frozenset({"completed", "payment_failed", "delivery_failed"})
# Racing for the scarce product: whether an order fits depends on who got there first, so any
# outcome may be right; the checker's stock replay (outcome_justified) judges each one.
RACING = ANY_OUTCOME | {"insufficient_inventory"}

KINDS: dict[str, OrderKind] = {
    k.name: k
    for k in (
        OrderKind("success", "forced to succeed", frozenset({"completed"}),
                  {"payment": "succeed", "delivery": "succeed"}),
        OrderKind("insufficient_stock", f"more {SCARCE_PRODUCT} than was ever stocked",
                  frozenset({"insufficient_inventory"}), scarce=True),
        OrderKind("payment_failure", "payment forced to fail", frozenset({"payment_failed"}),
                  {"payment": "fail"}),
        OrderKind("delivery_failure", "delivery forced to fail", frozenset({"delivery_failed"}),
                  {"payment": "succeed", "delivery": "fail"}),
        OrderKind("idempotent_retry", "forced to succeed, POSTed twice with one Idempotency-Key",
                  frozenset({"completed"}), {"payment": "succeed", "delivery": "succeed"},
                  retry_same_key=True),
        OrderKind("random", "no forcing: the services' failure dice decide", ANY_OUTCOME),
        OrderKind("scarce_small", f"1-5 units of {SCARCE_PRODUCT}, the dice decide", RACING, scarce_small=True),
        OrderKind("scarce_exact", f"exactly the units of {SCARCE_PRODUCT} left, with the payment "
                  "declined, so the units come back", frozenset({"payment_failed", "insufficient_inventory"}),
                  GIVE_BACK, stock_offset=EXACT),
        OrderKind("scarce_over", f"one unit of {SCARCE_PRODUCT} more than is left, the dice decide", RACING,
                  stock_offset=ONE_MORE),
    )
}

DEFAULT_MIX = "success=60,insufficient_stock=10,payment_failure=10,delivery_failure=10,idempotent_retry=10"
SCARCE_STOCK = "scarce-stock"  # a preset: the shipped scarce-stock experiment's own mix


def preset(name: str) -> str | None:
    """A named mix as `kind=weight` text; the experiment's `dice` is this mix's `random`."""
    if name != SCARCE_STOCK:
        return None
    from harness.experiments import load_experiment  # only when asked: it reads the YAML

    weights = load_experiment(SCARCE_STOCK).load.mix
    return ",".join(f"{'random' if k == 'dice' else k}={int(w)}" for k, w in weights.items())


class MixError(ValueError):
    """A mix that names an unknown kind or has no positive weight."""


@dataclass(frozen=True)
class Mix:
    weights: dict[str, int]

    @classmethod
    def parse(cls, text: str) -> Mix:
        weights: dict[str, int] = {}
        text = preset(text.strip()) or text
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            name, sep, raw = part.partition("=")
            name = name.strip()
            if name not in KINDS:
                raise MixError(f"unknown order kind {name!r} in mix {text!r}; known: {', '.join(KINDS)}")
            try:
                weight = int(raw) if sep else 1
            except ValueError:
                raise MixError(f"weight of {name!r} must be an integer, not {raw.strip()!r}") from None
            if weight < 0:
                raise MixError(f"weight of {name!r} must not be negative")
            weights[name] = weights.get(name, 0) + weight
        if sum(weights.values()) <= 0:
            raise MixError(f"mix {text!r} has no positive weight; e.g. {DEFAULT_MIX}")
        return cls({k: w for k, w in weights.items() if w > 0})

    def draw(self, rng: random.Random) -> OrderKind:
        names = list(self.weights)
        return KINDS[rng.choices(names, weights=[self.weights[n] for n in names])[0]]

    def __str__(self) -> str:
        return ",".join(f"{k}={w}" for k, w in self.weights.items())


def order_body(kind: OrderKind, user_id: str, rng: random.Random, available: int | None = None) -> dict[str, Any]:
    """The POST /orders body for one order of this kind. `available`: the scarce product's stock
    just read, for a boundary kind (None: unknown, sized as if nothing were left)."""
    if kind.scarce:
        product, quantity = SCARCE_PRODUCT, INITIAL_STOCK[SCARCE_PRODUCT] + 1
    elif kind.scarce_small:
        product, quantity = SCARCE_PRODUCT, rng.randint(*SMALL_QUANTITIES)
    elif kind.stock_offset is not None:
        product, quantity = SCARCE_PRODUCT, boundary_quantity(available or 0, kind.stock_offset)
    else:
        product, quantity = rng.choice(PLENTIFUL_PRODUCTS), 1
    body: dict[str, Any] = {
        "user_id": user_id,
        "product_id": product,
        "quantity": quantity,
        "amount": round(rng.uniform(1.0, 100.0), 2),
    }
    if kind.force:
        body["force"] = dict(kind.force)
    return body


def outcome_of(order: dict[str, Any]) -> str | None:
    """'completed', the failure_reason of a failed order, or None while the saga runs."""
    status = order.get("status")
    if status == "completed":
        return "completed"
    if status == "failed":
        return str(order.get("failure_reason") or "failed")
    return None
