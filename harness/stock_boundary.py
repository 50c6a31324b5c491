"""Orders at the stock boundary: exactly the units left of the scarce product, or one unit more.

The scarce product opens with few units (system.catalog) and a run never restocks it: a completed
order keeps its reservation. A quantity fixed up front drifts away from the boundary as the run
consumes stock, so a boundary order takes its quantity from the stock read just before it is
sent: `available + offset` (offset 0: exactly what is left; 1: one unit more), never below one
unit (the API refuses 0). Concurrent orders race between that read and their reservation; that
race is the point: whether each one fits is then up to the inventory's reserve rule alone, and
the checker replays stock along the bus to judge it (outcome_justified).

Pure; the experiments' load generator, the BDD steps and the Locust mix all use it.
"""

from __future__ import annotations

from typing import Any

SCARCE_PRODUCT = "product_3"
EXACT = 0  # exactly the units left: must be served unless another order got there first
ONE_MORE = 1  # one unit more than is left: must be refused unless units came back meanwhile
SMALL_QUANTITIES = (1, 5)  # ordinary orders of the scarce product, drawn uniformly
# Exact-boundary orders have their payment declined: each takes every unit left, holds them while
# the racing orders are refused, then releases them, so the stock climbs back and the next one
# meets the boundary at another level. (One that completed would keep every unit for good and
# the rest of a run would only ever meet the boundary at zero.) Small orders drain the stock.
GIVE_BACK = {"payment": "fail"}


def boundary_quantity(available: int, offset: int) -> int:
    """The quantity of a boundary order, given the units available just before it is sent."""
    return max(1, available + offset)


def available_of(inventory: list[dict[str, Any]], product_id: str) -> int:
    """Units available of one product in a GET /inventory answer (0 if it is not listed)."""
    for row in inventory:
        if row.get("product_id") == product_id:
            return int(row.get("available") or 0)
    return 0
