"""A minimal HTTP/1.1 server on asyncio streams: enough for every Toxiproxy client.

Keep-alive, Content-Length and chunked request bodies, `Expect: 100-continue`. No TLS, no
pipelining tricks, no compression: the API is a few small JSON documents on the loopback.

Every wait on a client is bounded, as upstream's `http.Server{ReadTimeout: 15s, WriteTimeout:
30s}`: a connection that is idle, or has sent part of a request, is closed once READ_TIMEOUT has
passed since the server began waiting for that request. The server keeps its clients, so that
closing it closes them: `asyncio.Server.wait_closed()` waits for every connection from 3.12 on,
and an idle keep-alive client would otherwise hold up shutdown for as long as it stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

log = logging.getLogger("harness.toxiproxy")

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
READ_TIMEOUT = 15.0  # upstream's read_timeout; also between keep-alive requests (upstream: 60 s)
WRITE_TIMEOUT = 30.0  # upstream's wait_timeout


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, query string removed
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    pass


class HttpServer:
    """The listening socket and the connections it accepted; `close()` ends both."""

    def __init__(self, handler: Handler, read_timeout: float = READ_TIMEOUT) -> None:
        self.handler = handler
        self.read_timeout = read_timeout
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._on_client, host, port, limit=MAX_HEAD)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._clients):
            writer.transport.abort()  # a request in progress loses its reply, as on a crash
        await self._server.wait_closed()
        self._server = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            await _serve_client(self.handler, reader, writer, self.read_timeout)
        except asyncio.CancelledError:
            pass  # shutdown; on 3.11 a cancelled client task makes asyncio log a bogus error
        finally:
            self._clients.discard(writer)


async def _serve_client(
    handler: Handler,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    read_timeout: float,
) -> None:
    try:
        while True:
            try:
                async with asyncio.timeout(read_timeout):
                    request, keep_alive = await _read_request(reader, writer)
            except BadRequest as exc:
                writer.write(
                    _render(
                        Response(
                            400, b"400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")]
                        ),
                        False,
                    )
                )
                log.debug("bad HTTP request: %s", exc)
                break
            except TimeoutError:
                log.debug("API client idle or too slow for %.0f s: closing", read_timeout)
                break
            if request is None:
                break
            try:
                response = await handler(request)
            except Exception:  # the API must survive any bug in one handler
                log.exception("API handler failed for %s %s", request.method, request.path)
                response = Response(
                    500, b"internal error\n", [("Content-Type", "text/plain; charset=utf-8")]
                )
            writer.write(_render(response, keep_alive))
            async with asyncio.timeout(WRITE_TIMEOUT):
                await writer.drain()
            if not keep_alive:
                break
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[Request | None, bool]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("truncated request head") from None
        return None, False
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(f"bad request line {lines[0]!r}") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest(f"unsupported version {version!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    path = unquote(urlsplit(target).path)
    return Request(method, path, headers, body), keep_alive


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise BadRequest("body too large")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest("bad content-length") from None
    if not 0 <= length <= MAX_BODY:
        raise BadRequest("bad content-length")
    return await reader.readexactly(length) if length else b""


def _render(response: Response, keep_alive: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    lines.append(f"Date: {formatdate(usegmt=True)}")
    if response.status != 204 and response.status >= 200:
        lines.append(f"Content-Length: {len(response.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (response.body if response.status != 204 else b"")
