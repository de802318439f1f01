"""One session's `vigil` data channel: client messages in, analyses and notices out.

In: every message passes a token bucket (a flood is dropped and counted), a size limit and the
typed `ClientMessage` union; what fails is counted and ignored, never fatal. Valid messages go to
the session's `dispatch`.
Out: `send` gives every message to the listeners (proctors watching, as JSON text) and to the
candidate, unless the candidate's channel holds more than `MAX_CHANNEL_BUFFER_BYTES` unread: then the
message is dropped for the candidate (counted), so a client that does not read cannot grow our memory.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from server.core import metrics
from server.core.rate_limit import TokenBucket
from server.core.strict_json import dumps
from server.live.counters import Counters
from server.protocol.datachannel import MAX_CLIENT_MESSAGE_BYTES, ClientMessage, client_message

log = logging.getLogger(__name__)

#: client messages a session may send: a scripted client's clock messages (15/s) plus browser
#: signals and calibration samples fit well inside; a flood beyond is dropped and counted.
DC_MESSAGES_PER_S = 60.0
DC_MESSAGE_BURST = 120.0
#: a client that does not read its data channel gets analyses dropped past this backlog.
MAX_CHANNEL_BUFFER_BYTES = 1 << 20

Listener = Callable[[str], None]


class SessionChannel:
    def __init__(self, counters: Counters, dispatch: Callable[[ClientMessage], None]) -> None:
        self.counters = counters
        self.dispatch = dispatch
        #: the candidate's aiortc RTCDataChannel (None before it opens and after the peer closed)
        self.dc: Any = None
        #: callables that get every message sent to the candidate (proctors watching, as JSON text)
        self.listeners: set[Listener] = set()
        self.last_message: dict[str, Any] | None = None
        self._bucket = TokenBucket(rate=DC_MESSAGES_PER_S, burst=DC_MESSAGE_BURST)

    def bind(self, dc: Any) -> None:
        self.dc = dc
        dc.on("message", self.receive)

    # -- in -------------------------------------------------------------------------------------
    def receive(self, raw: Any) -> None:
        """Unknown or malformed messages are counted and ignored; they never close the session."""
        if not self._bucket.allow(time.monotonic()):
            self.counters.dc_rate_limited += 1
            metrics.REJECTED.labels("datachannel_rate").inc()
            return
        if isinstance(raw, bytes) or len(raw) > MAX_CLIENT_MESSAGE_BYTES:
            self.counters.dc_bad_messages += 1
            return
        try:
            msg = client_message.validate_json(raw)
        except ValidationError:
            self.counters.dc_bad_messages += 1
            metrics.DC_BAD.inc()
            return
        self.dispatch(msg)

    # -- out ------------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> bool:
        """True when the candidate's channel took the message."""
        try:
            text = dumps(message)
        except ValueError as exc:  # a non-finite number: a bug upstream; never send broken JSON
            log.error("message is not strict JSON, not sent: %s", exc, extra={"type": str(message.get("type"))})
            return self._dropped()
        self.last_message = message
        self._tell_listeners(text)
        dc = self.dc
        if dc is None or dc.readyState != "open":
            return False
        if dc.bufferedAmount > MAX_CHANNEL_BUFFER_BYTES:
            return self._dropped()
        try:
            dc.send(text)
        except Exception:  # a channel closing under us: count it, the session goes on
            return self._dropped()
        self.counters.dc_sent += 1
        return True

    def _tell_listeners(self, text: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(text)
            except Exception:  # a watcher's failure never disturbs the candidate
                self.listeners.discard(listener)

    def _dropped(self) -> bool:
        self.counters.dc_dropped += 1
        metrics.DC_DROPPED.inc()
        return False
