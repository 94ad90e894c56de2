"""A local HTTP server on 127.0.0.1 (ephemeral port) for the scraper tests, able to misbehave.

``Server(app)``: ``app(method, path, query, headers)`` returns ``(status, headers, body)`` or one
of the faults below, which the handler carries out on the socket itself:

- ``RESET``: reset the connection (TCP RST) before sending anything;
- ``ResetMidBody(response)``: headers and half the body, then a reset;
- ``ShortBody(response)``: headers with the full Content-Length, half the body, then a clean close;
- ``Hang(seconds)``: send nothing for that long (a timeout for a client that waits less).

:class:`Schedule` puts faults in front of a clean site: each request that matches a rule takes
the rule's next fault until the list is spent, then the site answers normally.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, dict[str, str], bytes]

RESET = "RESET"


@dataclass(frozen=True)
class ResetMidBody:
    response: Response


@dataclass(frozen=True)
class ShortBody:
    response: Response


@dataclass(frozen=True)
class Hang:
    seconds: float


Fault = Union[str, ResetMidBody, ShortBody, Hang]
App = Callable[[str, str, dict[str, Any], dict[str, str]], Union[Response, Fault]]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a reset we caused is not an error
        pass


class Server:
    """A tiny HTTP server: ``app(method, path, query, headers) -> (status, headers, body) | fault``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def _head(self, status: int, headers: dict[str, str], length: int) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

            def _serve(self, method):
                parts = urlsplit(self.path)
                query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((method, self.path, headers))
                answer = server.app(method, parts.path, query, headers)
                try:
                    if answer == RESET:
                        return self._reset()
                    if isinstance(answer, Hang):
                        time.sleep(answer.seconds)
                        self.close_connection = True
                        return
                    if isinstance(answer, (ResetMidBody, ShortBody)):
                        status, out_headers, body = answer.response
                        self._head(status, out_headers, len(body))
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        if isinstance(answer, ResetMidBody):
                            return self._reset()
                        self.close_connection = True
                        return
                    status, out_headers, body = answer
                    self._head(status, out_headers, len(body))
                    self.wfile.write(body)
                except OSError:  # the client went away (a timeout test): nothing to answer
                    pass

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


Rule = Callable[[str, dict[str, Any]], bool]


class Schedule:
    """``Schedule(site, [(rule, [fault, fault, ...]), ...])``: an app that answers a request
    matching ``rule(path, query)`` with the rule's next fault (a fault may be a Response, or a
    callable ``(method, path, query, headers) -> answer`` given the clean site), then as ``site``."""

    def __init__(self, site: App, rules: list[tuple[Rule, list[Any]]]) -> None:
        self.site = site
        self.rules = [(rule, list(faults)) for rule, faults in rules]
        self.injected = 0

    def __call__(self, method, path, query, headers):
        for rule, faults in self.rules:
            if faults and rule(path, query):
                fault = faults.pop(0)
                self.injected += 1
                return fault(method, path, query, headers) if callable(fault) else fault
        return self.site(method, path, query, headers)

    @property
    def spent(self) -> bool:
        return all(not faults for _, faults in self.rules)
