"""A session's status, as stored in its hash (`status`), returned by `GET /api/sessions/{id}` and
published in the fan-out's `status` messages.

created -> connecting (an offer was answered) -> live (the peer connected) -> disconnected (the peer
went away; `resume` brings it back to connecting) -> ended (final; the verdict is stored).
"""
from __future__ import annotations

from typing import Final, Literal, get_args

SessionStatus = Literal["created", "connecting", "live", "disconnected", "ended"]
SESSION_STATUSES: Final[tuple[SessionStatus, ...]] = get_args(SessionStatus)
