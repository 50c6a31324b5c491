"""An OTLP/HTTP trace receiver of our own: the local default needs no extra server.

    with Receiver(run_dir / "traces.jsonl", port=4318) as receiver:
        ...                      # services export to http://127.0.0.1:4318/v1/traces
        receiver.settle()        # until no span arrived for a while (bounded)

It answers POST /v1/traces in both OTLP/HTTP encodings (protobuf, what the Python exporter
sends; JSON), gzip or not, and appends each request as one OTLP/JSON line, the Collector file
exporter's shape. Bytes ids become hex, as OTLP/JSON wants them.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.tracing.otlp import count_spans

log = logging.getLogger("saga.harness.traces")

PATH = "/v1/traces"
MAX_BODY = 64 * 1024 * 1024


def _hexify(node: Any) -> Any:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants trace and span ids hex."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                try:
                    value = base64.b64decode(value).hex()
                except ValueError:
                    pass
            out[key] = _hexify(value)
        return out
    if isinstance(node, list):
        return [_hexify(v) for v in node]
    return node


def protobuf_to_json(body: bytes) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return _hexify(MessageToDict(request, use_integers_for_enums=True))


class Receiver:
    def __init__(self, out: Path, *, host: str = "127.0.0.1", port: int = 4318) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.spans = 0
        self.requests = 0
        self.rejected = 0
        self.last_received = time.monotonic()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
                return

            def do_POST(self) -> None:  # noqa: N802 - the base's name
                status, content_type, answer = receiver.handle(
                    self.path, self.headers.get("Content-Type", ""), self.headers.get("Content-Encoding", ""),
                    self._body(),
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.out.open("a", encoding="utf-8")

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle(self, path: str, content_type: str, encoding: str, body: bytes) -> tuple[int, str, bytes]:
        if path.split("?")[0] != PATH:
            return 404, "text/plain", b"only POST /v1/traces\n"
        try:
            if encoding.strip().lower() == "gzip":
                body = gzip.decompress(body)
            if "json" in content_type:
                request = json.loads(body)
                if not isinstance(request, dict):
                    raise ValueError("not an ExportTraceServiceRequest")
                request = _hexify(request)
                answer, answer_type = b"{}", "application/json"
            else:
                request = protobuf_to_json(body)
                answer, answer_type = b"", "application/x-protobuf"  # an empty ExportTraceServiceResponse
        except Exception as exc:  # noqa: BLE001 - a bad request is the sender's problem: 400
            with self.lock:
                self.rejected += 1
            log.warning("OTLP request refused: %s: %s", type(exc).__name__, exc)
            return 400, "text/plain", f"bad OTLP request: {type(exc).__name__}\n".encode()
        line = json.dumps(request, separators=(",", ":")) + "\n"
        with self.lock:
            self._file.write(line)
            self._file.flush()
            self.spans += count_spans(request)
            self.requests += 1
            self.last_received = time.monotonic()
        return 200, answer_type, answer

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def settle(self, quiet_s: float = 1.5, limit_s: float = 15.0) -> float:
        """Wait until no span arrived for `quiet_s` (the services' batches are out), at most
        `limit_s`; the seconds waited."""
        began = time.monotonic()
        while time.monotonic() - began < limit_s:
            with self.lock:
                idle = time.monotonic() - self.last_received
            if idle >= quiet_s:
                break
            time.sleep(min(0.2, quiet_s - idle + 0.01))
        return time.monotonic() - began

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            self._file.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"file": self.out.name, "spans": self.spans, "requests": self.requests,
                    "rejected": self.rejected, "endpoint": self.endpoint}
