"""The one reach into aiohttp's internals: requests refused before routing get Vigil's JSON error shape.

aiohttp (3.14, pinned in pyproject.toml) answers a request its HTTP parser refuses (a header field or
line over 8190 bytes, a malformed request line, a bad header) from `RequestHandler.handle_error`
(`aiohttp/web_protocol.py`) as plain text, before any route or middleware runs, so
`server.http.errors.error_middleware` never sees it. aiohttp has no documented hook for that answer:
`Application(handler_args=...)` only tunes the parser's limits, and the request's `on_response_prepare`
signal is skipped for such requests (they have no match info). So a `RequestHandler` subclass
overrides `handle_error` to build the same `{"error", "detail"}` body as every other answer
(`server.http.errors.error_response`), keeping aiohttp's status, its logging and its closing of the
connection; and `install()` makes aiohttp's `Server` build that subclass, by replacing the module
global `aiohttp.web_server.RequestHandler` that `Server.__call__` looks up for every connection.

`check()` verifies every name this relies on, with the shape we use; `install()` runs it first, from
`server.app.build_app`, so an aiohttp upgrade that moves one fails at start, naming it. Remove this
module when aiohttp offers a way to shape its own error answers.
"""
from __future__ import annotations

import inspect
from types import CodeType
from typing import Any

import aiohttp.web_protocol
import aiohttp.web_server
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from server.http.errors import error_response

_ORIGINAL = aiohttp.web_protocol.RequestHandler


class AiohttpChanged(RuntimeError):
    """An aiohttp internal this module relies on has moved; the message names it."""


def error_of(status: int, exc: BaseException | None, message: str | None) -> tuple[str, Any]:
    """The `error` and `detail` of a request aiohttp refused before routing."""
    problem = message or (exc.message if isinstance(exc, HttpProcessingError) else None) or None
    if isinstance(exc, LineTooLong):  # a header field, a header line or the request line
        return "request header too large", {"problem": problem}
    if status >= 500:
        return "internal error", None  # never a trace (aiohttp's debug mode would put one here)
    if isinstance(exc, BadHttpMessage):
        return "malformed HTTP request", {"problem": problem}
    return "bad request", {"problem": problem}


class JsonErrorRequestHandler(_ORIGINAL):  # type: ignore[misc,valid-type]
    """aiohttp's connection handler, answering refused requests in Vigil's JSON error shape."""

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if a response was already sent
        error, detail = error_of(status, exc, message)
        response = error_response(status, error, detail)
        response.force_close()  # as aiohttp's: the parser's state is unknown after a refused request
        return response


def _codes(code: CodeType) -> list[CodeType]:
    nested = [c for c in code.co_consts if isinstance(c, CodeType)]
    return [code, *(n for c in nested for n in _codes(c))]


def check() -> None:
    """Every aiohttp internal used here, with the shape used; raises AiohttpChanged naming the first gone."""
    current = aiohttp.web_server.__dict__.get("RequestHandler")
    if not (isinstance(current, type) and issubclass(current, _ORIGINAL)):
        raise AiohttpChanged("aiohttp.web_server.RequestHandler is no longer web_protocol.RequestHandler")
    if "RequestHandler" not in aiohttp.web_server.Server.__call__.__code__.co_names:
        raise AiohttpChanged("aiohttp.web_server.Server.__call__ no longer builds RequestHandler")
    params = list(inspect.signature(_ORIGINAL.handle_error).parameters)
    if params != ["self", "request", "status", "exc", "message"]:
        raise AiohttpChanged(f"RequestHandler.handle_error takes {params}")
    maker = getattr(_ORIGINAL, "_make_error_handler", None)
    if maker is None or not any("handle_error" in c.co_names for c in _codes(maker.__code__)):
        raise AiohttpChanged("RequestHandler._make_error_handler no longer answers through handle_error")


def install() -> None:
    """Check, then make every aiohttp server in this process use `JsonErrorRequestHandler`. Idempotent."""
    check()
    aiohttp.web_server.RequestHandler = JsonErrorRequestHandler  # type: ignore[misc]
