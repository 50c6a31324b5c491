"""The order API's bad-input cases, shared by the in-process tests (tests/unit) and the same
checks against the real processes (tests/integration/test_api_input.py)."""

GOOD = {"product_id": "product_1", "quantity": 1, "amount": 10.0}

# (change to a good body, words the 422's detail must contain)
INVALID_FIELDS = [
    ({"quantity": 0}, ["quantity", "greater than 0"]),
    ({"quantity": -3}, ["quantity"]),
    ({"quantity": "2"}, ["quantity", "integer"]),
    ({"amount": -1}, ["amount", "greater than 0"]),
    ({"amount": "lots"}, ["amount"]),
    # Amounts are strict numbers > 0 once rounded to cents (system/validation.py): issue #14 item 3.
    ({"amount": 0}, ["amount", "greater than 0"]),
    ({"amount": 0.004}, ["amount", "greater than 0", "cents"]),
    ({"amount": False}, ["amount", "must be a number"]),
    ({"amount": "12.5"}, ["amount", "must be a number"]),
    ({"amount": 2e9}, ["amount", "at most"]),
    ({"quantity": True}, ["quantity", "integer"]),
    ({"product_id": "product_404"}, ["unknown product", "product_404"]),
    ({"user_id": ""}, ["user_id"]),
    ({"colour": "red"}, ["colour"]),
    ({"force": {"payment": "maybe"}}, ["force.payment"]),
]

# Bodies JSON cannot round-trip: non-finite numbers (Python's json reads NaN, Infinity and 1e400
# as floats), a non-UTF-8 body, nesting deeper than the parser goes. (raw body, words of the 422)
NON_FINITE = [
    (b'{"user_id": "u", "product_id": "product_1", "quantity": 1, "amount": 1e400}', ["amount", "finite"]),
    (b'{"user_id": "u", "product_id": "product_1", "quantity": 1, "amount": NaN}', ["amount", "finite"]),
    (b'{"user_id": "u", "product_id": "product_1", "quantity": -Infinity, "amount": 1}', ["quantity", "integer"]),
    (b'{"user_id": NaN, "product_id": "product_1", "quantity": 1, "amount": 1}', ["user_id", "string"]),
    (b'{"user_id": "u", "product_id": "product_1", "quantity": 1, "amount": 1, "force": [1e999]}', ["force"]),
]
NOT_UTF8 = b'{"user_id": "' + bytes([0xFF, 0xFE]) + b'", "product_id": "product_1", "quantity": 1, "amount": 1}'
TOO_DEEP = b"[" * 60_000  # under the 64 KiB limit

REQUIRED = ["user_id", "product_id", "quantity", "amount"]
MALFORMED_JSON = b'{"user_id": "x", "quantity": '
OVERSIZED = b'{"user_id": "' + b"x" * 100_000 + b'"}'


def post_order(client, body=None, raw=None, headers=None):
    """POST /orders straight to the order service, with a JSON body or raw bytes."""
    url = client.endpoints.services["order"] + "/orders"
    if raw is not None:
        return client.http.post(url, content=raw, headers={"Content-Type": "application/json", **(headers or {})})
    return client.http.post(url, json=body, headers=headers or {})
