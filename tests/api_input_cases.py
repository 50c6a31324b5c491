"""The order API's bad-input cases, shared by the in-process tests (tests/unit) and the same
checks against the real processes (tests/integration/test_api_input.py)."""

GOOD = {"product_id": "product_1", "quantity": 1, "amount": 10.0}

# (change to a good body, words the 422's detail must contain)
INVALID_FIELDS = [
    ({"quantity": 0}, ["quantity", "greater than 0"]),
    ({"quantity": -3}, ["quantity"]),
    ({"quantity": "2"}, ["quantity", "integer"]),
    ({"amount": -1}, ["amount", "greater than or equal to 0"]),
    ({"amount": "lots"}, ["amount"]),
    ({"product_id": "product_404"}, ["unknown product", "product_404"]),
    ({"user_id": ""}, ["user_id"]),
    ({"colour": "red"}, ["colour"]),
    ({"force": {"payment": "maybe"}}, ["force.payment"]),
]

REQUIRED = ["user_id", "product_id", "quantity", "amount"]
MALFORMED_JSON = b'{"user_id": "x", "quantity": '
OVERSIZED = b'{"user_id": "' + b"x" * 100_000 + b'"}'


def post_order(client, body=None, raw=None, headers=None):
    """POST /orders straight to the order service, with a JSON body or raw bytes."""
    url = client.endpoints.services["order"] + "/orders"
    if raw is not None:
        return client.http.post(url, content=raw, headers={"Content-Type": "application/json", **(headers or {})})
    return client.http.post(url, json=body, headers=headers or {})
