"""The one client of a service's crash-point control surface (/_chaos/crashpoints).

Arming a point makes the service SIGKILL itself when a message reaches that line. The surface is
off unless the service was started with SAGA_CHAOS_TOKEN, and every call must present the token
(404: off, 403: wrong token). The chaos nemesis, the BDD steps, the steady-state phase and the
tests all arm and disarm through these functions.
"""

from __future__ import annotations

from typing import Any

import httpx

PATH = "/_chaos/crashpoints"
TOKEN_HEADER = "X-Chaos-Token"
TIMEOUT_S = 5.0


class ChaosSurfaceError(RuntimeError):
    """The crash-point surface refused (off, wrong token, bad point): a set-up problem, not chaos."""


def arm_crash_point(
    base_url: str, token: str, point: str, routing_key: str | None = None, skip: int = 0
) -> dict[str, Any]:
    """Arm `point` (for `routing_key`, after `skip` hits); returns what the service armed.
    A transport error propagates: the point may fire before the answer is written."""
    response = httpx.post(
        f"{base_url}{PATH}",
        json={"point": point, "routing_key": routing_key, "skip": skip},
        headers={TOKEN_HEADER: token},
        timeout=TIMEOUT_S,
    )
    if response.status_code != 200:
        raise ChaosSurfaceError(f"arming {point} at {base_url} refused ({response.status_code}: {_detail(response)})")
    armed: dict[str, Any] = response.json()["armed"]
    return armed


def disarm_crash_points(base_url: str, token: str) -> bool:
    """Disarm every point on one service; False if it did not answer (dead: nothing is armed)."""
    try:
        response = httpx.delete(f"{base_url}{PATH}", headers={TOKEN_HEADER: token}, timeout=TIMEOUT_S)
    except httpx.HTTPError:
        return False
    return response.status_code == 204


def crash_surface_problem(base_url: str, token: str | None) -> str | None:
    """None if the service's crash-point surface answers with this token, else why not."""
    if not token:
        return "no chaos token (start the system with `saga-harness up --chaos`, or set SAGA_CHAOS_TOKEN)"
    try:
        response = httpx.get(f"{base_url}{PATH}", headers={TOKEN_HEADER: token}, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"{base_url} did not answer ({type(exc).__name__})"
    if response.status_code == 404:
        return f"{base_url}: chaos control is off (the service was started without SAGA_CHAOS_TOKEN)"
    if response.status_code == 403:
        return f"{base_url}: the chaos token is wrong (the service was started with another one)"
    return None if response.status_code == 200 else f"{base_url}: answered {response.status_code}"


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text
