"""How every service reads a request body and answers a bad one.

- Bodies are JSON in UTF-8 (RFC 8259): a body that is not UTF-8, or nests too deeply for the
  parser, is a JSON decode error like any other (422 naming the problem), not FastAPI's generic
  400 "There was an error parsing the body".
- The 422 body is built from the validation errors' locations, messages and types only, never
  from the input: echoing the input made a body with NaN or 1e400 in it unencodable (a 500).
- The OpenAPI document describes that 422 body (`ValidationProblem`).

Every router of a service uses `ServiceRoute` (through `service_router`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel


class ValidationItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(BaseModel):
    """The body of every 422: `detail` names each field and its problem, `errors` itemises them."""

    detail: str
    errors: list[ValidationItem]


class Problem(BaseModel):
    """The body of every other 4xx (FastAPI's HTTPException): what is wrong, in words."""

    detail: str


def problem(description: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry for a 4xx answered with a Problem body."""
    return {"model": Problem, "description": description}


TOO_LARGE = problem("The body is over 64 KiB")


def decode_json_body(body: bytes) -> Any:
    """The body as JSON, or json.JSONDecodeError (which FastAPI turns into a 422) naming why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"body is not UTF-8 ({exc.reason} at byte {exc.start})", "", 0) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("body nests too deeply", "", 0) from None


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json_body(await self.body())
        return self._json


class ServiceRoute(APIRoute):
    """An APIRoute whose handler reads the body with decode_json_body (FastAPI's documented way
    to customise request parsing: a custom route class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict


def service_router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=ServiceRoute, **kwargs)


def validation_problem(errors: Sequence[Any]) -> dict[str, Any]:
    """The 422 body for pydantic/FastAPI validation errors; always JSON-encodable (no input echoed)."""
    problems, items = [], []
    for err in errors:
        loc = [p if isinstance(p, int) and not isinstance(p, bool) else str(p) for p in err.get("loc", ())]
        kind = str(err.get("type", ""))
        msg = str(err.get("msg", "invalid"))
        reason = (err.get("ctx") or {}).get("error")
        if kind == "json_invalid":
            where = "body"
            msg = f"{msg}: {reason}" if reason else msg
        else:
            where = ".".join(str(p) for p in loc if p != "body") or "body"
        problems.append(f"{where}: {msg}")
        items.append({"loc": loc, "msg": msg, "type": kind})
    return {"detail": "; ".join(problems), "errors": items}


def unprocessable(loc: tuple[str, ...], msg: str) -> RequestValidationError:
    """A 422 a route decides itself (an unknown status, a bad cursor, a point the service does not
    have), raised as a validation error so it gets the one 422 body every other refusal has."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error"}])


def describe_validation_problem(app: FastAPI) -> None:
    """Make the app's OpenAPI document give every 422 the body validation_problem really sends."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            problem = ValidationProblem.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(problem.pop("$defs", {}))
            components.pop("ValidationError", None)
            components["HTTPValidationError"] = problem  # the name FastAPI's 422 responses refer to
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
