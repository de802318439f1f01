"""The query side of cursor pagination (`?limit=`, `?cursor=`; docs/http-api.md "Pages"): parsing, and
the cursor strings clients pass back. The scan itself is `server.core.paging.scan_page`.
"""
from __future__ import annotations

import math
import re

from aiohttp import web

from server.protocol.errors import ApiError
from server.store.index_pages import Position

#: a stream entry id (`<ms>-<seq>`), the cursor of an event page
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
INDEX_CURSOR = re.compile(r"^(\d{1,12}(?:\.\d{1,20})?)~([A-Za-z0-9_.@:-]{1,128})$")


def query_limit(request: web.Request, default: int, maximum: int) -> int:
    """`?limit=`, clamped to 1..`maximum`; 400 when it is not an integer."""
    try:
        return min(maximum, max(1, int(request.query.get("limit", default))))
    except ValueError:
        raise ApiError(400, "limit must be an integer", {"parameter": "limit"}, code="invalid_parameter") from None


def index_cursor(position: Position | None) -> str | None:
    """The cursor of a newest-first index position: `<score>~<id>`, opaque to clients."""
    return None if position is None else f"{position[0]!r}~{position[1]}"


def parse_index_cursor(request: web.Request) -> Position | None:
    raw = request.query.get("cursor")
    if raw is None:
        return None
    match = INDEX_CURSOR.match(raw)
    if match is None or not math.isfinite(float(match.group(1))):
        raise ApiError(400, "cursor is not one this list gave", {"parameter": "cursor"}, code="invalid_parameter")
    return float(match.group(1)), match.group(2)


def parse_stream_cursor(request: web.Request) -> str | None:
    raw = request.query.get("cursor")
    if raw is not None and STREAM_ID.match(raw) is None:
        raise ApiError(400, "cursor is not one this list gave", {"parameter": "cursor"}, code="invalid_parameter")
    return raw
