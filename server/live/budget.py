"""One session's budget for the files it writes of one kind (evidence snapshots, event clips).

The writers (`server/live/evidence.py`, `server/live/clips.py`) ask it on the event loop, before any
encoding: `refusal` says why an event gets no file, `reserve` counts the file as soon as it is decided
(so files still being encoded count against the per-type and per-session limits), `room` is the most
bytes the file may take (the per-file cap, or what the session has left), and `record` adds the bytes
once written. Pure: kinds and sizes in, no clock, no I/O; a skipped or failed file costs only its
reservation, never bytes.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

#: why the budget refuses a file; both writers' skip reasons (`server/protocol/stream.py`) include these
Refusal = Literal["per_type", "per_session", "size"]


@dataclass(frozen=True)
class FileLimits:
    """What one session may keep of one kind of file. Beyond a limit a file is skipped and the skip is
    logged; each kind gives its own defaults (`EvidenceLimits`, `ClipLimits`)."""

    #: files per event type (a recurring `looking_away` must not crowd out a single `phone`)
    per_type: int
    #: files per session
    per_session: int
    #: bytes per file
    max_file_bytes: int
    #: bytes of this kind of file per session on disk
    max_session_bytes: int


class SessionBudget:
    """Files reserved (per session and per event type) and bytes written, against `FileLimits`."""

    def __init__(self, limits: FileLimits) -> None:
        self.limits = limits
        self.reserved = 0
        self.bytes = 0
        self._per_type: Counter[str] = Counter()

    def refusal(self, kind: str) -> Refusal | None:
        """Why a file for an event of type `kind` is refused now, or None when there is room for it."""
        if self.reserved >= self.limits.per_session:
            return "per_session"
        if self._per_type[kind] >= self.limits.per_type:
            return "per_type"
        if self.bytes >= self.limits.max_session_bytes:
            return "size"
        return None

    def reserve(self, kind: str) -> None:
        """Count a file for `kind` decided (whether or not it is written in the end)."""
        self.reserved += 1
        self._per_type[kind] += 1

    def room(self) -> int:
        """The most bytes the next file may take: the per-file cap, or what the session has left."""
        return min(self.limits.max_file_bytes, self.limits.max_session_bytes - self.bytes)

    def record(self, size: int) -> None:
        """A file of `size` bytes was written."""
        self.bytes += size
