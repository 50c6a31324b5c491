"""The pure part of the API: request validation, error values and reply shapes.

Nothing here does I/O. The checks run in the order upstream's Go code runs them, because clients
(and our conformance tests) see the first failure only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.toxiproxy import jsonio
from harness.toxiproxy.jsonio import DecodeError

STREAMS = ("upstream", "downstream")  # chain order in listings: upstream toxics first

# Every toxic attribute is an integer that defaults to 0, exactly as in toxics/*.go.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "noop": (),
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}


class ApiError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_body(reason: DecodeError | str) -> ApiError:
    return ApiError(f"bad request body: {reason}", 400)


def missing_field(what: str) -> ApiError:
    return ApiError(f"missing required field: {what}", 400)


def proxy_not_found() -> ApiError:
    return ApiError("proxy not found", 404)


def proxy_exists() -> ApiError:
    return ApiError("proxy already exists", 409)


def invalid_stream() -> ApiError:
    return ApiError("stream was invalid, can be either upstream or downstream", 400)


def invalid_toxic_type() -> ApiError:
    return ApiError("invalid toxic type", 400)


def toxic_exists() -> ApiError:
    return ApiError("toxic already exists", 409)


def toxic_not_found() -> ApiError:
    return ApiError("toxic not found", 404)


@dataclass(frozen=True)
class ProxyInput:
    name: str
    listen: str
    upstream: str
    enabled: bool


@dataclass(frozen=True)
class ToxicSpec:
    name: str
    type: str
    stream: str  # as the client spelled it; `direction` is the parsed value
    direction: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)


def _decode(body: bytes) -> Any:
    try:
        return jsonio.decode_first(body)
    except DecodeError as exc:
        raise bad_body(exc) from None


def parse_proxy_create(body: bytes) -> ProxyInput:
    try:
        obj = jsonio.expect_object(_decode(body), "toxiproxy.Proxy")
        proxy = _proxy_fields(obj, ProxyInput("", "", "", True), "Proxy")
    except DecodeError as exc:
        raise bad_body(exc) from None
    if not proxy.name:
        raise missing_field("name")
    if not proxy.upstream:
        raise missing_field("upstream")
    return proxy


def parse_proxy_update(body: bytes, current: ProxyInput) -> ProxyInput:
    try:
        obj = jsonio.expect_object(_decode(body), "toxiproxy.Proxy")
        return _proxy_fields(obj, current, "Proxy")
    except DecodeError as exc:
        raise bad_body(exc) from None


def parse_populate(body: bytes) -> list[ProxyInput]:
    """All entries are validated before the caller creates any of them."""
    value = _decode(body)
    go_type = '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
    if value is None:
        return []
    try:
        if not isinstance(value, list):
            raise DecodeError(
                f"json: cannot unmarshal {jsonio.json_kind(value).split()[0]} into Go value of type {go_type}"
            )
        entries = [
            _proxy_fields(
                jsonio.expect_object(item, "toxiproxy.Proxy"), ProxyInput("", "", "", True), "Proxy"
            )
            for item in value
        ]
    except DecodeError as exc:
        raise bad_body(exc) from None
    for number, entry in enumerate(entries, start=1):
        if not entry.name:
            raise missing_field(f"name at proxy {number}")
        if not entry.upstream:
            raise missing_field(f"upstream at proxy {number}")
    return entries


def _proxy_fields(obj: dict[str, Any], base: ProxyInput, struct: str) -> ProxyInput:
    return ProxyInput(
        name=jsonio.string_field(obj, "name", struct, base.name),
        listen=jsonio.string_field(obj, "listen", struct, base.listen),
        upstream=jsonio.string_field(obj, "upstream", struct, base.upstream),
        enabled=jsonio.bool_field(obj, "enabled", struct, base.enabled),
    )


def parse_new_toxic(body: bytes, existing_names: set[str]) -> ToxicSpec:
    """Upstream's order: body, stream, default name, type, duplicate, attributes."""
    struct = "ToxicWrapper"
    try:
        obj = jsonio.expect_object(_decode(body), "toxics.ToxicWrapper")
        name = jsonio.string_field(obj, "name", struct)
        toxic_type = jsonio.string_field(obj, "type", struct)
        stream = jsonio.string_field(obj, "stream", struct, "downstream")
        toxicity = jsonio.float_field(obj, "toxicity", struct, 1.0)
    except DecodeError as exc:
        raise bad_body(exc) from None
    direction = stream.lower()
    if direction not in STREAMS:
        raise invalid_stream()
    name = name or f"{toxic_type}_{stream}"
    if toxic_type not in TOXIC_ATTRIBUTES:
        raise invalid_toxic_type()
    if name in existing_names:
        raise toxic_exists()
    defaults = dict.fromkeys(TOXIC_ATTRIBUTES[toxic_type], 0)
    attributes = _merge_attributes(obj, toxic_type, defaults)
    return ToxicSpec(name, toxic_type, stream, direction, toxicity, attributes)


def parse_toxic_update(body: bytes, current: ToxicSpec) -> ToxicSpec:
    """Only attributes (merged into the current ones) and toxicity can change."""
    try:
        obj = jsonio.expect_object(
            _decode(body), "struct { Attributes interface {}; Toxicity float32 }"
        )
        toxicity = jsonio.float_field(obj, "toxicity", "", current.toxicity)
    except DecodeError as exc:
        raise bad_body(exc) from None
    attributes = _merge_attributes(obj, current.type, current.attributes)
    return replace(current, toxicity=toxicity, attributes=attributes)


def _merge_attributes(obj: dict[str, Any], toxic_type: str, base: dict[str, int]) -> dict[str, int]:
    struct = f"{_go_toxic_struct(toxic_type)}.attributes"
    try:
        given = jsonio.get_field(obj, "attributes")
        if given is jsonio.MISSING:
            return dict(base)
        if not isinstance(given, dict):
            raise jsonio.type_error(
                given, f"Go struct field {struct}", f"toxics.{_go_toxic_struct(toxic_type)}"
            )
        # Unknown attribute keys are ignored, as Go ignores unknown struct fields.
        return {key: jsonio.int_field(given, key, struct, value) for key, value in base.items()}
    except DecodeError as exc:
        raise bad_body(exc) from None


def _go_toxic_struct(toxic_type: str) -> str:
    special = {
        "reset_peer": "ResetToxic",
        "limit_data": "LimitDataToxic",
        "slow_close": "SlowCloseToxic",
    }
    return special.get(toxic_type, toxic_type.capitalize() + "Toxic")


def toxic_json(spec: ToxicSpec) -> dict[str, Any]:
    # Field order follows Go's ToxicWrapper: the embedded attributes come first.
    return {
        "attributes": dict(spec.attributes),
        "name": spec.name,
        "type": spec.type,
        "stream": spec.stream,
        "toxicity": jsonio.go_number(spec.toxicity),
    }


def proxy_json(proxy: ProxyInput, toxics: list[ToxicSpec]) -> dict[str, Any]:
    return {
        "name": proxy.name,
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": proxy.enabled,
        "toxics": [toxic_json(t) for t in toxics],
    }
