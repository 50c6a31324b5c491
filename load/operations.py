"""How a customer's POST becomes a Jepsen operation, and how long a saga took. Pure.

An answer that proves nothing happened (a refused connection, a 4xx) is `fail`; an answer that
proves the order exists (201, or 200 for a repeated key) is `ok`; anything else (a timeout, a
reset, a 5xx) is `info`: the order may exist, and the checker finds it by its Idempotency-Key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Ending = Literal["ok", "fail", "info"]


@dataclass(frozen=True)
class PostAnswer:
    op_type: Ending
    value: dict[str, Any]
    error: str | None = None
    complaint: str | None = None  # why Locust should count the request as failed despite a 2xx

    @property
    def retry(self) -> bool:
        """Worth another try with the same key: nothing definite came back."""
        return self.op_type == "info" or (self.op_type == "fail" and "http_status" not in self.value)


def classify_post(
    status: int,
    body: Any,
    error: BaseException | None,
    value: dict[str, Any],
    expect_order: str | None = None,
) -> PostAnswer:
    """`status` 0 means no HTTP answer (then `error` says why); `body` is the parsed JSON or None."""
    if status in (200, 201):
        order_id = body.get("order_id") if isinstance(body, dict) else None
        if not order_id:
            return PostAnswer("info", value, f"HTTP {status} without an order_id", "2xx without an order_id")
        complaint = None
        if expect_order and order_id != expect_order:
            complaint = f"the same Idempotency-Key answered another order (first answer {expect_order})"
        return PostAnswer("ok", {**value, "order_id": order_id, "http_status": status}, None, complaint)
    if status == 0:
        # Refused: nothing reached the service. Anything else (timeout, reset): unknown.
        definite = isinstance(error, ConnectionRefusedError)
        return PostAnswer("fail" if definite else "info", value, f"{type(error).__name__}: {error}")
    detail = body.get("detail") if isinstance(body, dict) else None
    ending: Ending = "fail" if status < 500 else "info"
    return PostAnswer(ending, {**value, "http_status": status}, f"HTTP {status}: {detail or ''}".strip())


def saga_latency(sent: float, seen: float, order: dict[str, Any]) -> float:
    """Seconds from the POST to the terminal status.

    The order service's timestamp of the saga's last step, when it falls between the POST and
    the poll that saw it (same clock); else when the poll saw it, which overstates by up to one
    poll interval.
    """
    try:
        ended = datetime.fromisoformat(str(order["history"][-1]["at"])).timestamp()
    except (KeyError, IndexError, TypeError, ValueError):
        return seen - sent
    return ended - sent if sent <= ended <= seen else seen - sent
