"""One session's counters: written to its hash every second and shown by `GET /api/sessions/{id}`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Counters:
    frames_received: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    analysis_errors: int = 0
    dc_sent: int = 0
    dc_dropped: int = 0
    dc_bad_messages: int = 0
    dc_rate_limited: int = 0
    decode_sheds: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)
