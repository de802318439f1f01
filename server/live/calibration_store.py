"""One session's gaze calibration documents in Redis: the owner's calibration record, the owner's screen
info and the session hash's `calibration` summary (keys in `server/store/keys.py`; whose documents they
are, `document_owner`, is explained in `server/live/calibration.py`). Redis being away is counted
(`Store.errors`) and logged, never raised: calibration goes on, and the record is written next time.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from server.store.keys import calibration_key, document_owner, screen_key
from server.store.store import Store

log = logging.getLogger(__name__)


class CalibrationDocuments:
    """Reads and writes the calibration documents of session `session_id`; the owner is read once."""

    def __init__(self, store: Store, session_id: str) -> None:
        self.store = store
        self.session_id = session_id
        self._owner: str | None = None

    async def record(self) -> Any:
        """The owner's stored calibration record (JSON data), or None."""
        return await self._safe(self.store.get_json(calibration_key(await self.owner())))

    async def screen_info(self) -> Any:
        """The owner's screen info (`POST /api/screen/info`), or None."""
        return await self._safe(self.store.get_json(screen_key(await self.owner())))

    async def put_record(self, record: Mapping[str, Any]) -> None:
        await self._safe(self.store.put_json(calibration_key(await self.owner()), record))

    async def put_summary(self, summary: Mapping[str, Any]) -> None:
        """The session hash's `calibration` field (what a report says of the calibration)."""
        await self._safe(self.store.update_session(self.session_id, {"calibration": summary}))

    async def owner(self) -> str:
        """Whose documents this session reads and writes (`server/live/calibration.py`). Read once from the
        session hash; while Redis is away the session's own (never another's), not remembered."""
        if self._owner is None:
            sid = self.session_id
            try:
                identity = await self.store.session_field(sid, "identity")
            except Exception as exc:
                self.store.errors += 1
                log.warning("calibration could not read the session's identity: %s", exc)
                return document_owner(sid, None)
            self._owner = document_owner(sid, identity)
        return self._owner

    async def _safe(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except Exception as exc:  # Redis away: calibration goes on, the record is written next time
            self.store.errors += 1
            log.warning("calibration store access failed: %s", exc)
            return None
