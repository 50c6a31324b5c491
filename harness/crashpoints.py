"""The one client of a service's token-gated chaos control surface (`/_chaos/...`).

Every resource under it (crash points, handler faults) answers the same way: 404 while the
service runs without SAGA_CHAOS_TOKEN, 403 for a wrong X-Chaos-Token, 200 for GET and POST, 204
for DELETE. This module holds that HTTP and token plumbing once; the crash-point functions below,
harness/nemesis/crashes.py and harness/nemesis/handler_faults.py only say which resource and what
body. The transport is injectable so the nemeses can be tested against an in-process fake
(httpx.MockTransport) instead of a live service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT_S = 5.0
TOKEN_HEADER = "X-Chaos-Token"
CRASHPOINTS = "crashpoints"  # the resources under /_chaos
HANDLER_FAULTS = "handler-faults"


class ChaosSurfaceError(RuntimeError):
    """The control surface refused (off, wrong token, bad request): a set-up problem, not chaos."""


@dataclass(frozen=True)
class ChaosSurface:
    """One service's `/_chaos` surface: `ChaosSurface(base_url, token).arm("crashpoints", {...})`."""

    base_url: str
    token: str | None
    transport: httpx.BaseTransport | None = None

    def _send(self, method: str, resource: str, body: dict[str, Any] | None = None) -> httpx.Response:
        with httpx.Client(transport=self.transport, timeout=TIMEOUT_S) as http:
            return http.request(method, f"{self.base_url}/_chaos/{resource}", json=body,
                                headers={TOKEN_HEADER: self.token or ""})

    def arm(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST; ChaosSurfaceError if the surface is off, the token wrong or the body refused.
        A transport error propagates: a crash point may fire before the answer is written."""
        if not self.token:
            raise ChaosSurfaceError(f"{self.base_url}: {resource} need a chaos token")
        response = self._send("POST", resource, body)
        if response.status_code != 200:
            raise ChaosSurfaceError(
                f"{self.base_url}: {resource} refused ({response.status_code}: {_detail(response)})"
            )
        return dict(response.json())

    def listing(self, resource: str) -> Any:
        """GET what is armed (the parsed JSON body); raises on anything but 200."""
        return self._send("GET", resource).raise_for_status().json()

    def clear(self, resource: str) -> bool:
        """DELETE everything armed; False if the service did not answer (it may be down)."""
        if not self.token:
            return False
        try:
            return self._send("DELETE", resource).status_code == 204
        except httpx.HTTPError:
            return False

    def problem(self, resource: str) -> str | None:
        """None if the resource answers with this token, else why not, in one line."""
        if not self.token:
            return "no chaos token (start the system with `saga-harness up --chaos`, or set SAGA_CHAOS_TOKEN)"
        try:
            response = self._send("GET", resource)
        except httpx.HTTPError as exc:
            return f"{self.base_url} did not answer ({type(exc).__name__})"
        if response.status_code == 404:
            detail = _detail(response)
            if detail == "Not Found":  # FastAPI's answer for a route it does not have
                detail = "this service has no such chaos resource (a build without it)"
            return f"{self.base_url}: /_chaos/{resource} answered 404: {detail}"
        if response.status_code == 403:
            return f"{self.base_url}: the chaos token is wrong (the service was started with another one)"
        return None if response.status_code == 200 else f"{self.base_url}: answered {response.status_code}"


def arm_crash_point(
    base_url: str, token: str, point: str, routing_key: str | None = None, skip: int = 0
) -> dict[str, Any]:
    """Arm `point` (for `routing_key`, after `skip` hits); returns what the service armed."""
    armed: dict[str, Any] = ChaosSurface(base_url, token).arm(
        CRASHPOINTS, {"point": point, "routing_key": routing_key, "skip": skip}
    )["armed"]
    return armed


def disarm_crash_points(base_url: str, token: str) -> bool:
    """Disarm every point on one service; False if it did not answer (dead: nothing is armed)."""
    return ChaosSurface(base_url, token).clear(CRASHPOINTS)


def arm_crash_point_everywhere(
    base_urls: Iterable[str], token: str, point: str, routing_key: str | None = None, skip: int = 0
) -> list[dict[str, Any]]:
    """Arm `point` on every process given (each URL one process: a service's replicas, from
    `Endpoints.process_urls`), so whichever takes the message dies; `skip` counts per process.
    Once one has died, disarm the others (`disarm_crash_points_everywhere`): the message goes
    back to the queue, and a sibling still armed would die on its redelivery too."""
    return [arm_crash_point(url, token, point, routing_key, skip) for url in base_urls]


def disarm_crash_points_everywhere(base_urls: Iterable[str], token: str) -> bool:
    """Disarm every point on every process given; False if one did not answer (dead: nothing armed)."""
    answered = [disarm_crash_points(url, token) for url in base_urls]
    return all(answered)


def crash_surface_problem(base_url: str, token: str | None) -> str | None:
    """None if the service's crash-point surface answers with this token, else why not."""
    return ChaosSurface(base_url, token).problem(CRASHPOINTS)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text
