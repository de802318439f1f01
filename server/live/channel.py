"""One session's `vigil` data channel: client messages in, analyses and notices out.

In: every message passes a token bucket (a flood is dropped and counted), a size limit and the
typed `ClientMessage` union; what fails is counted and ignored, never fatal. Valid messages go to
the session's `dispatch`. A message counts once per `MAX_CLIENT_MESSAGE_BYTES` it carries, so big
messages spend the budget as fast as many small ones.
Flood: dropping is not enough, because every message still costs the event loop (aiortc parses each
SCTP packet, acknowledges it, reassembles the message, then calls us), and that loop serves every
other session too. So each refused message also spends a second bucket, the tolerance: a client may
overrun its budget in a short burst, or by a little forever, but one that keeps sending far past it
empties the tolerance and is cut off: its messages are no longer looked at and `on_flood` is called
once with the reason (the session warns and disconnects the candidate, which closes the peer and so
stops the cost at the socket). At a 10k messages/s flood that is within a second; a client at twice
its budget is never cut off.
Out: `send` gives every message to the listeners (proctors watching, as JSON text) and to the
candidate, unless the candidate's channel holds more than `MAX_CHANNEL_BUFFER_BYTES` unsent: then the
message is dropped for the candidate (counted), so a client that does not read cannot grow our memory.
Every message leaves with `v`, the protocol version (`server.protocol.versions`).
Hello: the client's `hello` is answered here, on the candidate's channel only (a watcher did not ask):
`welcome` with the version chosen, or `error` when the client speaks none of ours. A client that sends
no hello gets the same messages (old pages keep working).
An `analysis` is dropped for the candidate sooner, past `MAX_ANALYSIS_BACKLOG_BYTES` (a few analyses):
when the loop or the link cannot keep up, queued analyses would reach the candidate ever later (the
newest one wins, as it does for frames); the listeners still get every one.
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
from server.core.version import vigil_version
from server.live.counters import Counters
from server.protocol.datachannel import (
    FEATURES,
    MAX_CLIENT_MESSAGE_BYTES,
    ClientMessage,
    HelloMessage,
    client_message,
)
from server.protocol.versions import SUPPORTED_VERSIONS, chosen_version, versioned

log = logging.getLogger(__name__)

#: client messages a session may send: a scripted client's clock messages (15/s) plus browser
#: signals and calibration samples fit well inside; a flood beyond is dropped and counted.
DC_MESSAGES_PER_S = 60.0
DC_MESSAGE_BURST = 120.0
#: refused messages a session may send beyond its budget before it is cut off (refilled at the
#: budget's rate): ten seconds of budget, far above what a page or a scripted client could overrun.
DC_FLOOD_TOLERANCE = 10 * DC_MESSAGES_PER_S
FLOOD_REASON = "data channel flood: too many messages, disconnected"
#: a client that does not read its data channel gets analyses dropped past this backlog.
MAX_CHANNEL_BUFFER_BYTES = 1 << 20
#: unsent bytes past which an analysis is dropped for the candidate: about four analyses (~2 kB
#: each), under a second at 5 analysed fps.
MAX_ANALYSIS_BACKLOG_BYTES = 8 * 1024

Listener = Callable[[str], None]


def message_cost(raw: str | bytes) -> float:
    """Tokens one message spends: one per started `MAX_CLIENT_MESSAGE_BYTES` (one for any valid message)."""
    return float(max(1, -(-len(raw) // MAX_CLIENT_MESSAGE_BYTES)))


def hello_answer(hello: HelloMessage, session_id: str) -> dict[str, Any]:
    """`welcome` in the highest version both speak, or `error` naming ours."""
    ours = list(SUPPORTED_VERSIONS)
    chosen = chosen_version(hello.offered())
    if chosen is None:
        return versioned({"type": "error", "code": "unsupported_version", "versions": ours,
                          "message": f"this server speaks data-channel version {', '.join(map(str, ours))}, "
                                     f"not {', '.join(map(str, hello.offered()))}"})
    return {"type": "welcome", "v": chosen, "session_id": session_id, "server_version": vigil_version(),
            "versions": ours, "features": list(FEATURES)}


class SessionChannel:
    def __init__(self, session_id: str, counters: Counters, dispatch: Callable[[ClientMessage], None],
                 on_flood: Callable[[str], None]) -> None:
        self.session_id = session_id
        self.counters = counters
        self.dispatch = dispatch
        #: called once, with the reason, when the client floods past its tolerance
        self.on_flood = on_flood
        #: True once cut off for a flood: every later message is ignored unread
        self.flooded = False
        #: the candidate's aiortc RTCDataChannel (None before it opens and after the peer closed)
        self.dc: Any = None
        #: callables that get every message sent to the candidate (proctors watching, as JSON text)
        self.listeners: set[Listener] = set()
        self.last_message: dict[str, Any] | None = None
        self._bucket = TokenBucket(rate=DC_MESSAGES_PER_S, burst=DC_MESSAGE_BURST)
        self._tolerance = TokenBucket(rate=DC_MESSAGES_PER_S, burst=DC_FLOOD_TOLERANCE)

    def bind(self, dc: Any) -> None:
        """A new channel (first connect or a resume) is read again; the buckets keep their state, so a
        flooder who comes back is cut off again sooner."""
        self.dc = dc
        self.flooded = False
        dc.on("message", self.receive)

    # -- in -------------------------------------------------------------------------------------
    def receive(self, raw: Any) -> None:
        """Unknown or malformed messages are counted and ignored; only a flood closes the session."""
        if self.flooded:
            return
        now, cost = time.monotonic(), message_cost(raw)
        if not self._bucket.allow(now, cost):
            self.counters.dc_rate_limited += 1
            metrics.REJECTED.labels("datachannel_rate").inc()
            if not self._tolerance.allow(now, cost):
                self._cut_off()
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
        if isinstance(msg, HelloMessage):
            self._answer(msg)
            return
        self.dispatch(msg)

    def _answer(self, hello: HelloMessage) -> None:
        answer = hello_answer(hello, self.session_id)
        log.info("data channel hello from %s: %s", hello.client or "a client", answer["type"],
                 extra={"versions": hello.offered(), "features": hello.features})
        self._to_candidate(dumps(answer))

    def _cut_off(self) -> None:
        self.flooded = True
        metrics.REJECTED.labels("datachannel_flood").inc()
        log.warning("data channel flood: cut off after %d refused messages", self.counters.dc_rate_limited)
        self.on_flood(FLOOD_REASON)

    # -- out ------------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> bool:
        """True when the candidate's channel took the message."""
        message = versioned(message)
        try:
            text = dumps(message)
        except ValueError as exc:  # a non-finite number: a bug upstream; never send broken JSON
            log.error("message is not strict JSON, not sent: %s", exc, extra={"type": str(message.get("type"))})
            return self._dropped()
        self.last_message = message
        self._tell_listeners(text)
        return self._to_candidate(text, backlog=MAX_ANALYSIS_BACKLOG_BYTES if message.get("type") == "analysis"
                                  else MAX_CHANNEL_BUFFER_BYTES)

    def _to_candidate(self, text: str, backlog: int = MAX_CHANNEL_BUFFER_BYTES) -> bool:
        """Send unless more than `backlog` bytes already wait in the channel (then count it dropped)."""
        dc = self.dc
        if dc is None or dc.readyState != "open":
            return False
        limit = backlog
        if dc.bufferedAmount > limit:
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
