"""The body limit counts bytes as they arrive; the HTTP limits are settings (in-process, no server)."""

from __future__ import annotations

import asyncio
import json

import pytest

from system.app import MAX_BODY_BYTES, create_app
from system.config import ConfigError, HttpLimits, service_config
from system.http_limits import BodyLimit, uvicorn_settings
from system.order.api import routes
from system.registry import SERVICE_LOGIC

CHUNK = 8 * 1024


def call(app, chunks: int, content_length: int | None = None, path: str = "/orders"):
    """Drive one ASGI request whose body comes in `chunks` chunks; count how many the app pulled."""
    pulled = 0
    sent: list[dict] = []
    headers = [(b"content-type", b"application/json")]
    if content_length is None:
        headers.append((b"transfer-encoding", b"chunked"))
    else:
        headers.append((b"content-length", str(content_length).encode()))

    async def receive():
        nonlocal pulled
        pulled += 1
        more = pulled < chunks
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "http_version": "1.1", "scheme": "http", "root_path": "",
             "server": ("test", 80), "client": ("test", 1)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


@pytest.fixture
def order_app(tmp_path):
    config = service_config("order", {"SAGA_DATA_DIR": str(tmp_path), "SAGA_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"})
    return create_app(config, SERVICE_LOGIC["order"], routes)


# Before: the limit read only Content-Length, so a chunked body was read whole (all 40,000 chunks).
def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(order_app):
    status, body, pulled = call(order_app, chunks=40_000)
    assert status == 413 and str(MAX_BODY_BYTES) in body["detail"]
    assert pulled == MAX_BODY_BYTES // CHUNK + 1  # stopped at the first chunk past the limit


def test_a_lying_content_length_is_counted_too(order_app):
    status, _, pulled = call(order_app, chunks=1000, content_length=100)
    assert status == 413 and pulled == MAX_BODY_BYTES // CHUNK + 1


def test_a_declared_oversized_body_is_refused_before_any_byte(order_app):
    status, body, pulled = call(order_app, chunks=1000, content_length=2_000_000)
    assert status == 413 and pulled == 0 and "2000000" in body["detail"] and str(MAX_BODY_BYTES) in body["detail"]


def test_a_body_at_the_limit_is_read(order_app):
    status, _, pulled = call(order_app, chunks=MAX_BODY_BYTES // CHUNK)
    assert status == 422 and pulled == MAX_BODY_BYTES // CHUNK  # not JSON, but read: the limit is not the answer


def test_the_middleware_answers_itself_when_the_app_does_not():
    async def reads_everything(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    status, body, pulled = call(BodyLimit(reads_everything, max_bytes=3 * CHUNK), chunks=100)
    assert status == 413 and "limit of 24576 bytes" in body["detail"] and pulled == 4


def test_http_limits_come_from_the_environment():
    env = {"SAGA_HTTP_KEEP_ALIVE": "1.5", "SAGA_HTTP_REQUEST_TIMEOUT": "2", "SAGA_HTTP_MAX_CONNECTIONS": "7"}
    assert service_config("order", env).http == HttpLimits(keep_alive=1.5, request_timeout=2.0, max_connections=7)
    assert service_config("order", {}).http == HttpLimits(keep_alive=5, request_timeout=30, max_connections=1000)


@pytest.mark.parametrize(("name", "value"), [("SAGA_HTTP_KEEP_ALIVE", "0"), ("SAGA_HTTP_REQUEST_TIMEOUT", "nan"),
                                             ("SAGA_HTTP_REQUEST_TIMEOUT", "inf"), ("SAGA_HTTP_MAX_CONNECTIONS", "0"),
                                             ("SAGA_HTTP_KEEP_ALIVE", "soon")])
def test_bad_http_limits_are_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        service_config("order", {name: value})


def test_uvicorn_gets_our_protocol_and_timers():
    settings = uvicorn_settings(HttpLimits(keep_alive=3, request_timeout=9, max_connections=4))
    assert settings["timeout_keep_alive"] == 3 and settings["http"].limits.max_connections == 4
