"""A fault-injecting HTTP proxy on loopback, in front of a real OpenAI-compatible server.

Each incoming request takes the next scripted fault (if any) and otherwise is forwarded to the
upstream server. Faults: ("status", code, headers) answers with that HTTP error; ("delay", s)
waits before forwarding (a slow server); "drop" closes the connection without an answer;
"strip_logprobs" forwards and removes logprobs from the answer; "echo_auth" forwards and appends
the request's Authorization header and path (query included) to the answer's text, and
("echo_auth_status", code) answers that HTTP error with them in its message: a server that
echoes credentials, for the secret-scrubbing tests. `latency_s` delays every
forwarded request (a latency-bound endpoint, for the benchmark). With `memo` set to a dict, the
proxy stores the upstream's answer per request body and answers a repeated body from it (after
`latency_s`) without the upstream: an endpoint whose cost is all latency, like a hosted API with
many replicas, for measuring the client alone. When the upstream is down the proxy drops the
client's connection, as a dead server would.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Fault = str | tuple


class FaultProxy:
    def __init__(self, upstream_port: int, *, latency_s: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.latency_s = latency_s
        self.faults: deque[Fault] = deque()
        self.received = 0  # requests that reached the proxy
        self.forwarded = 0  # requests the upstream answered
        self.in_flight = 0
        self.max_in_flight = 0
        self.events: list[tuple[float, str]] = []  # (monotonic time, what happened)
        self.authorization: set[str] = set()  # Authorization headers seen (key-leak test)
        self.paths: list[str] = []  # request paths with their query strings
        self.after_forward: Callable[[int], None] | None = None  # called with `forwarded`
        self.memo: dict[bytes, tuple[int, bytes]] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset_counts(self) -> None:
        with self._lock:
            self.received = self.forwarded = self.max_in_flight = 0
            self.events.clear()

    def _note(self, what: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), what))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # the client hung up (timeout, Ctrl-C): expected here

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _serve(self, body: bytes) -> None:
                with proxy._lock:
                    proxy.received += 1
                    fault = proxy.faults.popleft() if proxy.faults else None
                    if self.headers.get("Authorization"):
                        proxy.authorization.add(self.headers["Authorization"])
                    proxy.paths.append(self.path)
                echoed = f" Authorization: {self.headers.get('Authorization')} path: {self.path}"
                proxy._note(f"request {fault!r}")
                if fault == "drop":
                    self.close_connection = True
                    return
                if isinstance(fault, tuple) and fault[0] == "status":
                    code, headers = fault[1], (fault[2] if len(fault) > 2 else {})
                    self._reply(code, json.dumps({"error": {
                        "message": f"injected {code}", "type": "injected"}}).encode(),
                        headers)
                    return
                if isinstance(fault, tuple) and fault[0] == "echo_auth_status":
                    self._reply(fault[1], json.dumps({"error": {
                        "message": f"injected {fault[1]};{echoed}", "type": "injected"}}).encode(),
                        {})
                    return
                if isinstance(fault, tuple) and fault[0] == "delay":
                    time.sleep(fault[1])
                with proxy._lock:
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    if proxy.latency_s:
                        time.sleep(proxy.latency_s)
                    memo = proxy.memo
                    if memo is not None and body in memo:
                        status, data = memo[body]
                    else:
                        status, data = self._forward(body)
                        if memo is not None and status == 200:
                            memo[body] = (status, data)
                except (OSError, http.client.HTTPException):
                    proxy._note("upstream down")
                    self.close_connection = True  # like a dead server: no answer at all
                    return
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1
                if fault == "strip_logprobs" and status == 200:
                    answer = json.loads(data)
                    for choice in answer.get("choices", []):
                        choice["logprobs"] = None
                    data = json.dumps(answer).encode()
                if fault == "echo_auth" and status == 200:
                    answer = json.loads(data)
                    for choice in answer.get("choices", []):
                        message = choice.get("message") or {}
                        message["content"] = (message.get("content") or "") + echoed
                    data = json.dumps(answer).encode()
                try:
                    self._reply(status, data, {})
                except OSError:  # the client gave up (timeout) meanwhile
                    return
                with proxy._lock:
                    proxy.forwarded += 1
                    count = proxy.forwarded
                proxy._note("forwarded")
                if proxy.after_forward is not None:
                    proxy.after_forward(count)

            def _forward(self, body: bytes) -> tuple[int, bytes]:
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port,
                                                      timeout=300)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection", "content-length")}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    return response.status, response.read()
                finally:
                    upstream.close()

            def _reply(self, status: int, data: bytes, headers: dict) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
