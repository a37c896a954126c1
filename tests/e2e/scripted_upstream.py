"""A scripted OpenAI-compatible upstream for the gateway tests: the faults a real llama.cpp server
cannot be made to produce on demand. It answers by the model id the gateway forwards:

- `boom`: HTTP 500 with an OpenAI-style error body, as a box whose server crashed mid-request;
- `busy`: HTTP 429 with `Retry-After: 1`, as a box (or a provider behind the gateway) that
  rate-limits.

It runs in a thread of the test process, on a free 127.0.0.1 port, and counts what it answered.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOOM = "boom"
BUSY = "busy"
BOOM_MESSAGE = "the upstream box crashed while generating"
BUSY_MESSAGE = "the upstream box is rate-limiting: too many requests"


class ScriptedUpstream:
    def __init__(self) -> None:
        self.answered: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - the base class's name
                pass

            def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    models = [{"id": m, "object": "model", "owned_by": "scripted"} for m in (BOOM, BUSY)]
                    self._send(200, {"object": "list", "data": models})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    model = json.loads(self.rfile.read(length) or b"{}").get("model", "")
                except json.JSONDecodeError:
                    model = ""
                owner.answered[model] += 1
                if model == BOOM:
                    self._send(500, {"error": {"message": BOOM_MESSAGE, "type": "server_error", "code": 500}})
                elif model == BUSY:
                    self._send(
                        429,
                        {"error": {"message": BUSY_MESSAGE, "type": "rate_limit_error", "code": 429}},
                        {"Retry-After": "1"},
                    )
                else:
                    self._send(404, {"error": {"message": f"the model {model} does not exist"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedUpstream":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
