"""Seed data: the products and their opening stock.

`product_3` is scarce so that the seed's example (100 units of product_3) fails for insufficient
inventory; the other two hold enough for demo and test batches of many hundred small orders.
"""

INITIAL_STOCK: dict[str, int] = {
    "product_1": 100_000,
    "product_2": 100_000,
    "product_3": 50,
}
