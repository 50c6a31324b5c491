"""Addresses as Go's net package reads and prints them, and listening sockets.

Upstream answers a bind failure with Go's error text (`listen tcp 127.0.0.1:3310: bind: address
already in use`) as a 500, and reports a proxy's `listen` resolved (`localhost:0` comes back as
`127.0.0.1:<port>`); clients compare those strings, so we produce the same ones.
"""

from __future__ import annotations

import errno
import os
import socket

from harness.toxiproxy.model import ApiError


def split_host_port(address: str) -> tuple[str, str]:
    if address == "":
        return "", "0"  # Go accepts an empty address: every interface, a free port
    if address.startswith("["):
        host, sep, rest = address[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"address {address}: missing port in address")
        return host, rest[1:]
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    return host, port


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolve(address: str) -> tuple[socket.AddressFamily, str, int]:
    """(family, ip, port) for a listen address; IPv4 first, as Go resolves `localhost`."""
    host, port_text = split_host_port(address)
    try:
        port = int(port_text) if port_text else 0
    except ValueError:
        raise ValueError(f"lookup tcp/{port_text}: unknown port") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"address {port_text}: invalid port")
    if host == "":
        return (
            (socket.AF_INET6, "::", port) if socket.has_ipv6 else (socket.AF_INET, "0.0.0.0", port)
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ValueError(f"lookup {host}: no such host") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, str(sockaddr[0]), port


def canonical(address: str) -> str:
    """The string Go's ResolveTCPAddr(...).String() gives, used to compare listen addresses."""
    _family, ip, port = resolve(address)
    return join_host_port(ip, port)


def listen(address: str) -> socket.socket:
    """A bound, listening, non-blocking socket, or ApiError 500 with Go's wording."""
    try:
        family, ip, port = resolve(address)
    except ValueError as exc:
        raise ApiError(f"listen tcp: {exc}", 500) from None
    sock: socket.socket | None = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # Go sets it on listeners too
        if family == socket.AF_INET6 and ip == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack, as Go
        sock.bind((ip, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError as exc:
        if sock is not None:
            sock.close()
        if ip == "::" and exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
            return listen(f"0.0.0.0:{port}")  # a host without IPv6: every IPv4 interface
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        reason = reason[:1].lower() + reason[1:]
        raise ApiError(f"listen tcp {join_host_port(ip, port)}: bind: {reason}", 500) from None
    return sock


def bound_address(sock: socket.socket) -> str:
    ip, port = sock.getsockname()[:2]
    return join_host_port(ip, port)


def dial_address(address: str) -> tuple[str, int]:
    host, port = split_host_port(address)
    return host, int(port)
