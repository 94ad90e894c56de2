"""What went wrong below HTTP: a transport failure of requests/urllib3 named for the retry layer
and for the user.

requests wraps the real cause several layers deep (``ConnectionError(MaxRetryError(
NewConnectionError(...)))``, ``ChunkedEncodingError(ProtocolError(IncompleteRead))``);
:func:`transport_failure` walks that chain once and returns a :class:`TransportFailure`:
a short ``reason`` (the ``retry/reason_count/<reason>`` key), whether the host was
``unreachable`` (nothing answered: DNS failure, connection refused, no route, which waiting
rarely mends) and a phrase for the one-line error.
"""
from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import IncompleteRead, RemoteDisconnected

import requests
from urllib3.exceptions import (
    NameResolutionError, NewConnectionError, ProtocolError, ReadTimeoutError, ConnectTimeoutError,
)

#: What requests raises for a failure below HTTP (while connecting, or while reading the body).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class IncompleteBody(Exception):
    """The body ended before the length its Content-Length header declared."""

    def __init__(self, got: int, declared: int) -> None:
        super().__init__(f"{got} of {declared} bytes")
        self.got, self.declared = got, declared


@dataclass(frozen=True)
class TransportFailure:
    reason: str        # dns, refused, unreachable, timeout, reset, incomplete_body, connection_error
    unreachable: bool  # nothing answered at that address
    what: str          # for "gave up on URL: {what} (N attempts)"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        todo.extend(x for x in (getattr(e, "reason", None), e.__cause__, e.__context__) if isinstance(x, BaseException))


def transport_failure(exc: BaseException, host: str, timeout: float) -> TransportFailure:
    """Name a transport exception (anything in :data:`TRANSPORT_ERRORS`, or :class:`IncompleteBody`)."""
    chain = list(_chain(exc))

    def has(*kinds: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kinds)), None)

    if has(NameResolutionError, socket.gaierror):
        return TransportFailure("dns", True, f"cannot resolve the host name {host} (offline, or a mistyped address?)")
    if has(ConnectionRefusedError):
        return TransportFailure("refused", True, f"{host} refused the connection (nothing listens there: "
                                                 "a wrong port, or the site is down)")
    # urllib3 2 makes NewConnectionError a ConnectTimeoutError subclass: a timeout is any other one
    timed_out = any(isinstance(e, (requests.Timeout, ReadTimeoutError, ConnectTimeoutError, TimeoutError))
                    and not isinstance(e, NewConnectionError) for e in chain)
    if has(NewConnectionError) and not timed_out:
        return TransportFailure("unreachable", True, f"cannot reach {host} (no route to it: offline?)")
    if timed_out:
        return TransportFailure("timeout", False, f"timed out after {timeout:g} s")
    if has(ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return TransportFailure("reset", False, f"{host} reset the connection")
    short = has(IncompleteBody, IncompleteRead)
    if short is not None or has(requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        detail = f" ({short})" if isinstance(short, IncompleteBody) else ""
        return TransportFailure("incomplete_body", False, f"the response body was cut short{detail}")
    if has(RemoteDisconnected, ProtocolError):
        return TransportFailure("reset", False, f"{host} closed the connection without an answer")
    return TransportFailure("connection_error", False, "could not connect")
