"""Build one service's FastAPI app: its routes plus the shared health, readiness and chaos control.

This is the composition root of a service process: config -> SQLite -> messaging -> HTTP.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from system.composition import compose
from system.config import ServiceConfig
from system.deadlines import Timer
from system.defects import Defect
from system.http_input import (
    TOO_LARGE,
    ServiceRoute,
    describe_validation_problem,
    problem,
    service_router,
    unprocessable,
    validation_problem,
)
from system.http_limits import BodyLimit
from system.messaging.crashpoints import CRASH_POINTS, CrashPoints
from system.messaging.handler_faults import HandlerFaults
from system.messaging.ports import StoreUnavailable
from system.messaging.runtime import MessagingRuntime, ServiceHooks
from system.registry import ServiceLogic
from system.stores.select import commit_group_of, describe, open_store
from system.stores.sqlite import SqlStore, utc_now
from system.stores.threads import StoreThreads
from system.tracing import make_tracing

MAX_BODY_BYTES = 64 * 1024

log = logging.getLogger("saga.app")

# Routes are async and hand every store call to the store's threads (`await db.run(...)`): sync
# routes would run on FastAPI's thread pool and share SQLite's one connection across threads.
RouterFactory = Callable[[StoreThreads, ServiceConfig], APIRouter]


class ArmRequest(BaseModel):
    point: str
    routing_key: str | None = None
    skip: int = 0


class HandlerFaultRequest(BaseModel):
    routing_key: str | None = None  # None: any delivery
    count: int = Field(ge=1)


def timer_source(config: ServiceConfig, store: SqlStore) -> Callable[[int], list[Timer]] | None:
    """The order service's armed deadlines (issue #16), when SAGA_STEP_TIMEOUT arms any."""
    if config.service != "order" or not config.decisions.timeouts.enabled:
        return None
    from system.order.store import armed_timers

    def armed(limit: int) -> list[Timer]:
        return armed_timers(store.conn, limit)

    if Defect.DEADLINE_LOST_ON_RESTART in config.defects:
        from system.order.defects import ForgetfulTimers

        return ForgetfulTimers(armed, lambda: config.decisions.timeouts, utc_now)
    return armed


def create_app(config: ServiceConfig, logic: ServiceLogic, routes: RouterFactory) -> FastAPI:
    crash_points = CrashPoints()
    handler_faults = HandlerFaults()
    db = StoreThreads()
    tracing = make_tracing(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = open_store(config, logic.sql)
        db.open(store, config.store_threads, config.service, commit_group_of(store))
        service = compose(
            config.service,
            store,
            ServiceHooks(crash_points, handler_faults),
            defects=config.defects,
            new_id=lambda: str(uuid.uuid4()),
            max_attempts=config.max_attempts,
            style=config.style,
            timers=timer_source(config, store),
        )
        runtime = MessagingRuntime(config, service, crash_points, db, tracing)
        app.state.runtime = runtime
        runtime.start()
        if config.defects:
            log.warning("DEFECTS ENABLED: %s", ", ".join(sorted(config.defects)))
        log.info("%s service on %s:%d, data in %s, saga style %s", config.service, config.host, config.port,
                 describe(config), config.style)
        yield
        await runtime.stop()
        db.close()
        tracing.shutdown()

    app = FastAPI(title=f"{config.service} service", lifespan=lifespan)
    app.router.route_class = ServiceRoute
    describe_validation_problem(app)
    app.state.config = config
    app.state.crash_points = crash_points
    app.state.handler_faults = handler_faults
    app.state.tracing = tracing

    # Counts body bytes as they arrive (chunked or not); never holds a whole oversized body.
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def readable_validation_error(request: Request, exc: RequestValidationError):
        return JSONResponse(validation_problem(exc.errors()), status_code=422)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "alive", "service": config.service, "pid": os.getpid()}

    @app.get("/ready", responses={503: {"description": "Not ready: the body's `reason` says why"}})
    async def ready() -> JSONResponse:
        runtime: MessagingRuntime = app.state.runtime
        ok, reason = runtime.readiness()
        try:
            backlog: int | None = await db.run(db.store.backlog)
        except StoreUnavailable as exc:
            ok, reason, backlog = False, f"store unreachable: {exc}", None
        body = {
            "service": config.service,
            "ready": ok,
            "reason": reason,
            "pid": os.getpid(),  # lets a runner tell its own process from another on the port
            "outbox_backlog": backlog,
            "stats": runtime.stats,
            "tracing": tracing.enabled,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    app.include_router(_chaos_router(config, crash_points, handler_faults))
    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable):
        return JSONResponse({"detail": f"store unreachable: {exc}"}, status_code=503)

    app.include_router(routes(db, config))
    tracing.instrument(app)
    return app


def _chaos_router(config: ServiceConfig, crash_points: CrashPoints, handler_faults: HandlerFaults) -> APIRouter:
    """Arm crash points and handler faults. Off unless SAGA_CHAOS_TOKEN is set; every call must present it."""
    router = service_router(
        prefix="/_chaos",
        tags=["chaos"],
        responses={403: problem("Missing or wrong X-Chaos-Token"), 404: problem("Chaos control is disabled")},
    )

    def check(token: str | None) -> None:
        if not config.chaos_token:
            raise HTTPException(404, "chaos control is disabled (SAGA_CHAOS_TOKEN is not set)")
        if token != config.chaos_token:
            raise HTTPException(403, "missing or wrong X-Chaos-Token header")

    @router.get("/crashpoints")
    async def list_points(x_chaos_token: str | None = Header(default=None)) -> dict:
        check(x_chaos_token)
        return {
            "known": list(CRASH_POINTS),
            "armed": [vars(a) for a in crash_points.armed.values()],
        }

    @router.post("/crashpoints", responses={413: TOO_LARGE})
    async def arm(request: ArmRequest, x_chaos_token: str | None = Header(default=None)) -> dict:
        check(x_chaos_token)
        try:
            armed = crash_points.arm(request.point, request.routing_key, request.skip)
        except ValueError as exc:
            raise unprocessable(("body",), str(exc)) from None
        log.warning("crash point armed: %s", vars(armed))
        return {"armed": vars(armed)}

    @router.delete("/crashpoints", status_code=204)
    async def disarm(x_chaos_token: str | None = Header(default=None)) -> None:
        check(x_chaos_token)
        crash_points.disarm_all()

    @router.get("/handler-faults")
    async def list_handler_faults(x_chaos_token: str | None = Header(default=None)) -> dict:
        check(x_chaos_token)
        return {"armed": [vars(a) for a in handler_faults.armed]}

    @router.post("/handler-faults", responses={413: TOO_LARGE})
    async def arm_handler_faults(
        request: HandlerFaultRequest, x_chaos_token: str | None = Header(default=None)
    ) -> dict:
        check(x_chaos_token)
        try:
            armed = handler_faults.arm(request.routing_key, request.count)
        except ValueError as exc:
            raise unprocessable(("body",), str(exc)) from None
        log.warning("handler faults armed: %s", vars(armed))
        return {"armed": vars(armed)}

    @router.delete("/handler-faults", status_code=204)
    async def clear_handler_faults(x_chaos_token: str | None = Header(default=None)) -> None:
        check(x_chaos_token)
        handler_faults.clear()

    return router

