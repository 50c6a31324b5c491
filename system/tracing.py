"""Tracing a service (issue #18): one OpenTelemetry trace per saga, off unless SAGA_TRACING=1.

Off, `make_tracing` returns `NO_TRACING`, whose methods do nothing and which imports no
OpenTelemetry module at all: the services pay a few no-op calls per message. On, it builds an
SDK TracerProvider exporting OTLP/HTTP to SAGA_OTLP_ENDPOINT, instruments the FastAPI app with
the official instrumentation, and the runtime (system/messaging/runtime.py) reports each
delivery, commit and publish here.

The spans of one saga and how their ids come about (system/trace_ids.py derives them from the
envelope, so the outbox stores nothing more and a crash re-run or a redelivery lands in the
same place):

    POST /orders           SERVER   trace = trace_id_of(order_id) (the id is chosen before the
                                    span starts: `pre_order_ids` wraps the ASGI app); with a
                                    client's traceparent it stays in the client's trace and the
                                    place span links to it
      place <order_id>     INTERNAL span id place_span_id(order_id)
        publish <key>      PRODUCER span id publish_span_id(message_id, attempt); its parent
                                    is the commit of its cause (cause_span_id); carries
                                    `traceparent` in the AMQP headers
          process <key>    CONSUMER one per delivery (redeliveries, duplicates, retries each get
                                    one); parent: the message's traceparent, else the derived
                                    publish span
            commit <key>   INTERNAL span id commit_span_id(message_id): the one transaction
                                    that handled it; the order service marks the terminal state
              publish ...  the messages it caused, and so on to the terminal state

Spans a SIGKILLed process had not exported yet are lost (the batch lives in its memory): a
waterfall then shows a child whose parent is missing, which is what happened.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from system.config import ServiceConfig
from system.contracts import Message
from system.trace_ids import (
    TRACEPARENT,
    cause_span_id,
    commit_span_id,
    parse_traceparent,
    place_span_id,
    publish_span_id,
    trace_id_of,
    traceparent,
)

log = logging.getLogger("saga.tracing")

# The ASGI scope key under which `pre_order_ids` leaves the order id chosen for a POST /orders.
ORDER_ID_SCOPE_KEY = "saga.order_id"

# While set, the next root span gets this trace id (the POST's server span), and the next span
# this span id (our own spans with derived ids): read by the SDK's id generator, below.
_NEXT_TRACE_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("saga_next_trace_id", default=None)
_NEXT_SPAN_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("saga_next_span_id", default=None)


class DeliveryTrace:
    """One delivery's span. The null one (tracing off) does nothing."""

    def committed(self, outcome: Any, started_ns: int) -> None:
        """The handler's transaction ended: `outcome` None means the inbox found a duplicate."""

    def failed(self, exc: BaseException) -> None:
        """The handler raised (the transaction rolled back)."""

    def headers(self) -> dict[str, str]:
        """A traceparent naming this delivery's span, for a message it publishes (dead letter)."""
        return {}

    def end(self, decision: object) -> None:
        """Settled as the consumer policy decided (Ack, Requeue, DeadLetter)."""


class PublishTrace:
    def ok(self) -> None:
        """Confirmed by the broker."""

    def failed(self, exc: BaseException) -> None:
        """Not confirmed: the row stays unsent and goes out again."""


_NULL_DELIVERY = DeliveryTrace()
_NULL_PUBLISH = PublishTrace()


class Tracing:
    """The no-op tracing: what every service runs unless SAGA_TRACING=1."""

    enabled = False

    def instrument(self, app: Any) -> None:
        """Instrument the FastAPI app (official instrumentation)."""

    def delivery(
        self, msg: Message, headers: MutableMapping[str, Any] | None, redelivered: bool, attempt: int, started_ns: int
    ) -> DeliveryTrace:
        return _NULL_DELIVERY

    def publish(self, msg: Message, headers: dict[str, Any]) -> PublishTrace:
        """Adds `traceparent` to `headers` (the AMQP message's) when tracing."""
        return _NULL_PUBLISH

    def placed(self, order_id: str, started_ns: int) -> None:
        """POST /orders placed `order_id` and its first command (one transaction)."""

    def replayed(self, order_id: str) -> None:
        """POST /orders answered a retry with the existing `order_id`."""

    def shutdown(self) -> None:
        """Export what is buffered (a graceful stop)."""


NO_TRACING = Tracing()


def make_tracing(config: ServiceConfig) -> Tracing:
    if not config.tracing:
        return NO_TRACING
    return OtelTracing(config)


def new_order_id(scope: MutableMapping[str, Any]) -> str:
    """The id chosen for this POST /orders before its span started (tracing), else a fresh one."""
    chosen = scope.get(ORDER_ID_SCOPE_KEY)
    return chosen if isinstance(chosen, str) else str(uuid.uuid4())


ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def pre_order_ids(app: ASGIApp) -> ASGIApp:
    """Choose a POST /orders' order id before anything else, so that its server span, which the
    FastAPI instrumentation starts, is already in the saga's trace (trace_id_of(order_id))."""

    async def wrapped(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("method") == "POST" and scope.get("path") == "/orders":
            order_id = str(uuid.uuid4())
            scope[ORDER_ID_SCOPE_KEY] = order_id
            token = _NEXT_TRACE_ID.set(trace_id_of(order_id))
            try:
                await app(scope, receive, send)
            finally:
                _NEXT_TRACE_ID.reset(token)
            return
        await app(scope, receive, send)

    return wrapped


def _guarded(fallback: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A tracing hook that fails logs why and returns `fallback`: a saga never fails for its spans."""

    def wrap(hook: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return hook(*args, **kwargs)
            except Exception:  # noqa: BLE001 - see above
                log.exception("tracing hook %s failed; the saga goes on without that span", hook.__name__)
                return fallback

        guarded.__name__ = hook.__name__
        return guarded

    return wrap


def _decision_name(decision: object) -> str:
    return type(decision).__name__.lower()


class OtelTracing(Tracing):
    """The OpenTelemetry SDK behind the hooks (imported only when tracing is on)."""

    enabled = True

    def __init__(self, config: ServiceConfig) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
        from opentelemetry.sdk.trace.sampling import (
            Decision,
            ParentBased,
            Sampler,
            SamplingResult,
        )
        from opentelemetry.trace import (
            Link,
            NonRecordingSpan,
            SpanContext,
            SpanKind,
            Status,
            StatusCode,
            TraceFlags,
        )

        self._trace, self._Link, self._SpanKind = trace, Link, SpanKind
        self._SpanContext, self._NonRecordingSpan, self._TraceFlags = SpanContext, NonRecordingSpan, TraceFlags
        self._Status, self._StatusCode = Status, StatusCode
        self.service = config.service

        class DerivedIds(RandomIdGenerator):
            """Random ids, unless the code about to start a span set the one it must have."""

            def generate_trace_id(self) -> int:
                chosen = _NEXT_TRACE_ID.get()
                return chosen if chosen is not None else super().generate_trace_id()

            def generate_span_id(self) -> int:
                chosen = _NEXT_SPAN_ID.get()
                return chosen if chosen is not None else super().generate_span_id()

        class SagaRoots(Sampler):
            """A root span is kept unless it is an HTTP read (GET /orders/..., /inventory): reads
            are no part of a saga, and the harness polls them all the time."""

            def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None,
                              links=None, trace_state=None) -> SamplingResult:
                if kind == SpanKind.SERVER:
                    attrs = attributes or {}
                    method = attrs.get("http.request.method", attrs.get("http.method"))
                    if method != "POST":
                        return SamplingResult(Decision.DROP)
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

            def get_description(self) -> str:
                return "SagaRoots"

        resource = Resource.create({"service.name": config.service, "service.namespace": "saga"})
        self.provider = TracerProvider(resource=resource, id_generator=DerivedIds(), sampler=ParentBased(SagaRoots()))
        exporter = OTLPSpanExporter(endpoint=f"{config.otlp_endpoint}/v1/traces", timeout=5)
        # Batches of up to a second: few exports (each is an HTTP request); a chaos run waits for
        # the last ones (harness/tracing/receiver.py settle).
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=16384, schedule_delay_millis=1000, max_export_batch_size=2048)
        )
        self.tracer = self.provider.get_tracer("saga.system")
        self._publish_attempts: dict[str, int] = {}
        log.info("tracing on: OTLP/HTTP to %s/v1/traces", config.otlp_endpoint)

    # -- helpers --------------------------------------------------------------------------
    def _remote(self, trace_id: int, span_id: int) -> Any:
        span = self._NonRecordingSpan(
            self._SpanContext(trace_id, span_id, is_remote=True, trace_flags=self._TraceFlags(self._TraceFlags.SAMPLED))
        )
        return self._trace.set_span_in_context(span)

    def _start(self, name: str, context: Any, kind: Any, attributes: dict[str, Any], start_ns: int | None,
               span_id: int | None = None, links: Any = None, trace_id: int | None = None) -> Any:
        token = _NEXT_SPAN_ID.set(span_id)
        root = _NEXT_TRACE_ID.set(trace_id) if trace_id is not None else None
        try:
            return self.tracer.start_span(name, context=context, kind=kind, attributes=attributes,
                                          start_time=start_ns, links=links)
        finally:
            if root is not None:
                _NEXT_TRACE_ID.reset(root)
            _NEXT_SPAN_ID.reset(token)

    @staticmethod
    def _message_attributes(msg: Message) -> dict[str, Any]:
        """What the issue asks every span to carry: the order, the routing key, the message id
        (semantic-convention names where they exist). Few on purpose: every attribute is
        validated when the span starts and encoded when it is exported."""
        attributes: dict[str, Any] = {
            "saga.order_id": msg.order_id,
            "messaging.rabbitmq.destination.routing_key": msg.type,
            "messaging.message.id": msg.message_id,
        }
        if msg.causation_id:
            attributes["saga.causation_id"] = msg.causation_id
        return attributes

    # -- the hooks ------------------------------------------------------------------------
    def instrument(self, app: Any) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls="/_chaos,/ready,/health",
            exclude_spans=["receive", "send"],
        )

    @_guarded(_NULL_DELIVERY)
    def delivery(
        self, msg: Message, headers: MutableMapping[str, Any] | None, redelivered: bool, attempt: int, started_ns: int
    ) -> DeliveryTrace:
        saga = trace_id_of(msg.order_id)
        parent = parse_traceparent((headers or {}).get(TRACEPARENT))
        if parent is None or parent[0] != saga:  # missing or foreign: the derived publish span
            parent = (saga, publish_span_id(msg.message_id), True)
        attributes = self._message_attributes(msg)
        attributes.update({
            "saga.redelivered": bool(redelivered),
            "saga.attempt": attempt,
            # A copy the harness's duplicator put on the bus (its header, harness/recorder.py).
            "saga.injected_copy": bool((headers or {}).get("x-chaos-duplicate")),
        })
        span = self._start(f"process {msg.type}", self._remote(parent[0], parent[1]), self._SpanKind.CONSUMER,
                           attributes, started_ns)
        return _OtelDelivery(self, span, msg)

    @_guarded(_NULL_PUBLISH)
    def publish(self, msg: Message, headers: dict[str, Any]) -> PublishTrace:
        attempt = self._publish_attempts.get(msg.message_id, 0) + 1
        self._publish_attempts[msg.message_id] = attempt
        saga = trace_id_of(msg.order_id)
        span_id = publish_span_id(msg.message_id, attempt)
        attributes = self._message_attributes(msg)
        attributes["saga.publish_attempt"] = attempt
        parent = self._remote(saga, cause_span_id(msg.order_id, msg.causation_id))
        span = self._start(f"publish {msg.type}", parent, self._SpanKind.PRODUCER, attributes, None, span_id)
        headers[TRACEPARENT] = traceparent(saga, span_id)
        return _OtelPublish(self, span, msg.message_id)

    @_guarded(None)
    def placed(self, order_id: str, started_ns: int) -> None:
        saga = trace_id_of(order_id)
        current = self._trace.get_current_span()
        current_ctx = current.get_span_context()
        current.set_attribute("saga.order_id", order_id)
        if current_ctx.is_valid and current_ctx.trace_id == saga:
            context, links = None, None  # the POST's server span is in the saga's trace: a child
        else:  # a client's traceparent put the POST in its own trace: the saga's root, linked
            from opentelemetry.context import Context

            context = Context()
            links = [self._Link(current_ctx)] if current_ctx.is_valid else None
        span = self._start("place order", context, self._SpanKind.INTERNAL,
                           {"saga.order_id": order_id}, started_ns,
                           place_span_id(order_id), links, saga)
        span.end()

    @_guarded(None)
    def replayed(self, order_id: str) -> None:
        current = self._trace.get_current_span()
        current.set_attribute("saga.replay_of", order_id)
        current.add_event("idempotent replay", {"saga.replay_of": order_id})

    def shutdown(self) -> None:
        try:
            self.provider.shutdown()
        except Exception:  # noqa: BLE001 - the stop goes on without its last spans
            log.exception("tracing shutdown failed")


class _OtelDelivery(DeliveryTrace):
    def __init__(self, tracing: OtelTracing, span: Any, msg: Message) -> None:
        self.tracing, self.span, self.msg = tracing, span, msg

    @_guarded(None)
    def committed(self, outcome: Any, started_ns: int) -> None:
        if outcome is None:
            self.span.set_attribute("saga.duplicate", True)
            self.span.add_event("duplicate: the inbox had it")
            return
        self.span.set_attribute("saga.duplicate", False)
        t = self.tracing
        attributes: dict[str, Any] = {
            "saga.order_id": self.msg.order_id,
            "saga.note": str(getattr(outcome, "note", ""))[:200],
        }
        status = getattr(getattr(outcome, "state", None), "status", None)
        if t.service == "order" and isinstance(status, str):  # the saga's own status
            attributes["saga.status"] = status
            attributes["saga.terminal"] = status in ("completed", "failed")
        context = t._trace.set_span_in_context(self.span)
        span = t._start(f"commit {self.msg.type}", context, t._SpanKind.INTERNAL, attributes, started_ns,
                        commit_span_id(self.msg.message_id))
        span.end()

    def failed(self, exc: BaseException) -> None:
        self.span.record_exception(exc)
        self.span.set_status(self.tracing._Status(self.tracing._StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))

    def headers(self) -> dict[str, str]:
        ctx = self.span.get_span_context()
        return {TRACEPARENT: traceparent(ctx.trace_id, ctx.span_id)}

    @_guarded(None)
    def end(self, decision: object) -> None:
        self.span.set_attribute("saga.outcome", _decision_name(decision))
        self.span.end()


class _OtelPublish(PublishTrace):
    def __init__(self, tracing: OtelTracing, span: Any, message_id: str) -> None:
        self.tracing, self.span, self.message_id = tracing, span, message_id

    @_guarded(None)
    def ok(self) -> None:
        self.tracing._publish_attempts.pop(self.message_id, None)
        self.span.end()

    def failed(self, exc: BaseException) -> None:
        self.span.record_exception(exc)
        self.span.set_status(self.tracing._Status(self.tracing._StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
        self.span.end()


def now_ns() -> int:
    return time.time_ns()
