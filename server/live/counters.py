"""One session's counters: written to its hash every second and at the end, and shown by
`GET /api/sessions/{id}`. `frames_dropped` is derived: every received frame not analysed (replaced
in the one-frame mailbox, skipped for a newer one, or lost to an analysis error)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Counters:
    frames_received: int = 0
    frames_analysed: int = 0
    analysis_errors: int = 0
    dc_sent: int = 0
    dc_dropped: int = 0
    dc_bad_messages: int = 0
    dc_rate_limited: int = 0
    decode_sheds: int = 0

    @property
    def frames_dropped(self) -> int:
        return max(0, self.frames_received - self.frames_analysed)

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "frames_dropped": self.frames_dropped}
