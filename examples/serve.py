"""A SageMaker-style model container on the standard library: ``GET /ping`` and
``POST /invocations`` on port 8080, with every format sm_payloads registers.

    python examples/serve.py            # then, from another shell:
    curl -s localhost:8080/invocations -H 'Content-Type: application/x-npy' --data-binary @x.npy

The HTTP layer only moves bytes and headers; `smp.serving.Handler` does the rest (content
types, ``Accept`` negotiation, decoding, errors as 400/406/413/415/500). The demo model
scores each record with a fixed linear function of its features.

``/endpoints/<name>/invocations`` is answered too, so a real ``boto3`` ``sagemaker-runtime``
client can call this server with ``endpoint_url`` pointing at it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

import sm_payloads as smp
from sm_payloads.serving import Handler, Response

#: What the demo model can answer in (it has two outputs: npy carries one array only).
OFFERED = ["application/json", "application/jsonlines", "text/csv", "application/x-recordio-protobuf"]

_INVOCATIONS = re.compile(r"^(?:/endpoints/[^/]+)?/invocations/?$")


def demo_predict(batch: smp.RecordBatch) -> smp.RecordBatch:
    """score = mean of the features; predicted_label = score > 0.5 (as Linear Learner answers)."""
    X = batch.to_numpy().astype(np.float64)
    score = X.mean(axis=1) if X.shape[1] else np.zeros(len(batch))
    return smp.RecordBatch(label={"score": score, "predicted_label": (score > 0.5).astype(np.int32)})


def make_request_handler(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sm-payloads-example"

        def _send(self, r: Response) -> None:
            self.send_response(r.status)
            self.send_header("Content-Type", r.content_type)
            self.send_header("Content-Length", str(len(r.body)))
            self.end_headers()
            self.wfile.write(r.body)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/ping":
                self._send(handler.ping())
            else:
                self._send(Response(404, b"not found\n", "text/plain; charset=utf-8"))

        def do_POST(self) -> None:
            if not _INVOCATIONS.match(self.path.split("?", 1)[0]):
                self._send(Response(404, b"not found\n", "text/plain; charset=utf-8"))
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                self._send(Response(400, b"bad Content-Length\n", "text/plain; charset=utf-8"))
                return
            limit = handler.max_payload_bytes or smp.serving.DEFAULT_MAX_PAYLOAD_BYTES
            if length > limit:
                # Answer before reading a body we would refuse anyway.
                self.close_connection = True
                message = f"request body of {length} bytes exceeds the limit of {limit} bytes\n"
                self._send(Response(413, message.encode(), "text/plain; charset=utf-8"))
                return
            body = self.rfile.read(length)
            self._send(handler(body, self.headers.get("Content-Type"), self.headers.get("Accept")))

        def log_message(self, format: str, *args: Any) -> None:
            logging.getLogger("sm_payloads.example").info(format, *args)

    return RequestHandler


def make_server(handler: Handler, host: str = "0.0.0.0", port: int = 8080) -> ThreadingHTTPServer:
    """A threading HTTP server around `handler` (port 0 picks a free port)."""
    server = ThreadingHTTPServer((host, port), make_request_handler(handler))
    server.daemon_threads = True
    return server


def serve_in_background(handler: Handler, host: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, str]:
    """Start a server on a free port in a daemon thread; returns (server, base URL)."""
    server = make_server(handler, host, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    server = make_server(Handler(demo_predict, offered=OFFERED), args.host, args.port)
    print(f"serving on {args.host}:{args.port} (GET /ping, POST /invocations)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
