"""Decode and encode JSON the way Go's encoding/json does, as far as clients can observe it.

Go's `json.Decoder.Decode` reads the first value and ignores whatever follows, matches struct
fields case-insensitively, leaves a field untouched on `null`, and refuses a value of the wrong
type. Replies are compact (no spaces), in struct field order.
"""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
MISSING: Any = object()


class DecodeError(ValueError):
    """The body is not what the Go struct would accept; str() is the Go-like reason."""


def decode_first(body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    if not text:
        raise DecodeError("EOF")
    try:
        value, _end = _DECODER.raw_decode(text)
    except RecursionError:
        # Go refuses nesting deeper than 10,000 the same way; Python's limit is lower (about
        # 1,000 from the stack), which no Toxiproxy document comes near.
        raise DecodeError(f"invalid character {text[0]!r} exceeded max depth") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text):
            raise DecodeError("unexpected EOF") from None
        raise DecodeError(f"invalid character {text[exc.pos]!r} ({exc.msg.lower()})") from None
    return value


def json_kind(value: Any) -> str:
    """The JSON type name Go's error messages use."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}" if isinstance(value, float) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def type_error(value: Any, where: str, go_type: str) -> DecodeError:
    return DecodeError(f"json: cannot unmarshal {json_kind(value)} into {where} of type {go_type}")


def get_field(obj: dict[str, Any], name: str) -> Any:
    """Go matches an exact key first, then any case-insensitive one; null counts as absent."""
    if name in obj:
        value = obj[name]
    else:
        value = next((v for k, v in obj.items() if k.lower() == name), MISSING)
    return MISSING if value is None else value


def expect_object(value: Any, go_type: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(
            f"json: cannot unmarshal {json_kind(value).split()[0]} into Go value of type {go_type}"
        )
    return value


def string_field(obj: dict[str, Any], name: str, struct: str, default: str = "") -> str:
    value = get_field(obj, name)
    if value is MISSING:
        return default
    if not isinstance(value, str):
        raise type_error(value, f"Go struct field {struct}.{name}", "string")
    return value


def bool_field(obj: dict[str, Any], name: str, struct: str, default: bool) -> bool:
    value = get_field(obj, name)
    if value is MISSING:
        return default
    if not isinstance(value, bool):
        raise type_error(value, f"Go struct field {struct}.{name}", "bool")
    return value


def float_field(obj: dict[str, Any], name: str, struct: str, default: float) -> float:
    value = get_field(obj, name)
    if value is MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise type_error(value, f"Go struct field {struct}.{name}", "float32")
    return float(value)


def int_field(obj: dict[str, Any], name: str, struct: str, default: int) -> int:
    value = get_field(obj, name)
    if value is MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(value, f"Go struct field {struct}.{name}", "int64")
    if not -(2**63) <= value < 2**63:
        raise type_error(float(value), f"Go struct field {struct}.{name}", "int64")
    return value


def go_number(value: float) -> int | float:
    """Go prints a float32 1.0 as `1`, so do we."""
    return int(value) if value.is_integer() and abs(value) < 1e21 else value


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
