"""The one error of the HTTP API: a status, a message and an optional detail.

Raised anywhere below the HTTP layer (sessions, accounts, calibration); `server.http.errors` turns it
into the JSON body `{"error": "...", "detail": ...}` at the edge.
"""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
