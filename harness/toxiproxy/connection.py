"""One accepted client: its socket, the upstream socket, and the two links between them.

Each socket gets a `Side` protocol. Its `data_received` is the hot path: with an empty chain it
writes the bytes straight into the other socket's transport, with no task, queue or copy; the
only flow control is asyncio's own (pause reading here while the other side's buffer is full).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import TYPE_CHECKING

from harness.toxiproxy.link import Link

if TYPE_CHECKING:
    from harness.toxiproxy.proxy import Proxy

log = logging.getLogger("harness.toxiproxy")

# Let a fast sender run ahead of a slow receiver by this much before reading pauses. asyncio's
# 64 KiB default makes the proxy ping-pong between pause and resume on bulk transfers.
WRITE_BUFFER_HIGH = 1024 * 1024
_LINGER_ZERO = struct.pack("ii", 1, 0)


class Side(asyncio.Protocol):
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.inbound: Link | None = None  # the link this socket feeds
        self.outbound: Link | None = None  # the link that writes into this socket
        self.peer: Side | None = None
        self._holds: set[str] = set()
        self.lost = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self.conn.side_made(self)

    def data_received(self, data: bytes) -> None:
        link = self.inbound
        if link is None:
            return
        if link.stages:
            link.feed(data)
        elif not link.closed:
            self.peer.transport.write(data)  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        if self.inbound is not None:
            self.inbound.feed_eof()
        return True  # keep our write side open until the other link finishes

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.inbound is not None:
            self.inbound.feed_eof()
        self.conn.side_lost()

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.hold("writer")

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.release("writer")

    # Used by links and the connection.
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def hold(self, reason: str) -> None:
        if not self._holds and self.transport is not None:
            self.transport.pause_reading()
        self._holds.add(reason)

    def release(self, reason: str) -> None:
        if reason in self._holds:
            self._holds.discard(reason)
            if not self._holds and self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self, reset: bool = False) -> None:
        if self.transport is None:
            return
        if reset:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                try:
                    # SO_LINGER 0: close() sends a RST instead of a FIN, like upstream's SetLinger(0).
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
                except OSError:
                    pass
        self.transport.abort()


class Connection:
    def __init__(self, proxy: Proxy, number: int) -> None:
        self.proxy = proxy
        self.number = number  # accept order on this proxy: part of every roll's identity
        self.client = Side(self)
        self.upstream = Side(self)
        self.client.peer, self.upstream.peer = self.upstream, self.client
        self.links: dict[str, Link] = {}
        self._connect_task: asyncio.Task[None] | None = None
        self.done = False

    def side_made(self, side: Side) -> None:
        if side is self.client:
            # Nothing is read from the client until the upstream socket exists.
            side.hold("connecting")
            self._connect_task = asyncio.get_running_loop().create_task(self._connect())
        else:
            self._wire()

    async def _connect(self) -> None:
        host, port = self.proxy.upstream_address()
        try:
            await asyncio.get_running_loop().create_connection(lambda: self.upstream, host, port)
        except (OSError, ValueError) as exc:
            # Upstream down: the client was accepted, now it is closed (upstream's behaviour).
            log.info(
                "proxy %s: cannot reach upstream %s: %s",
                self.proxy.name,
                self.proxy.spec.upstream,
                exc,
            )
            self.client.close()
            return
        if self.client.lost:
            self.upstream.close()
            return
        self.client.release("connecting")

    def _wire(self) -> None:
        # Runs inside create_connection, before either socket can deliver a byte.
        up = Link(self, "upstream", source=self.client, dest=self.upstream)
        down = Link(self, "downstream", source=self.upstream, dest=self.client)
        self.client.inbound = self.upstream.outbound = up
        self.upstream.inbound = self.client.outbound = down
        self.links = {"upstream": up, "downstream": down}
        for direction, link in self.links.items():
            for spec in self.proxy.chain(direction):
                link.add_stage(spec)

    def link_closed(self, link: Link, reset: bool) -> None:
        """The chain delivered its end of stream: close the destination, or reset both ends."""
        if reset:
            self.abort(reset=True)
        else:
            link.dest.close()  # flushes what is buffered, then FIN

    def side_lost(self) -> None:
        # Done once both sockets are gone (or the upstream one never came to be).
        if self.client.lost and (self.upstream.lost or self.upstream.transport is None):
            self._finish()

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        for link in self.links.values():
            link.cancel_stages()
        if self._connect_task is not None:
            self._connect_task.cancel()
        self.proxy.forget(self)

    def abort(self, reset: bool = False) -> None:
        """Drop both sockets now (proxy disabled or deleted, or a reset_peer fired)."""
        for link in self.links.values():
            link.cancel_stages()
        if self._connect_task is not None:
            self._connect_task.cancel()
        self.client.abort(reset)
        self.upstream.abort(reset)
        if self.upstream.transport is None:
            self._finish()
