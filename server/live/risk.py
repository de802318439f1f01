"""A session's risk engine at the edge: feeds it, logs its events, keeps its state restorable.

Every event start and end, every browser signal and the final verdict are appended, in order, to
the session's Redis stream through the `EventOutbox` (lossless while Redis is away). The engine's
JSON snapshot is written to the session hash every second (`risk_state`), so a resumed session on
another worker continues with its score, open events and baseline.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.analysis import CalibratedGaze, FrameAnalysis
from pipeline.observe import observation_from_analysis
from pipeline.risk import RiskEngine
from pipeline.risk.messages import BrowserSignal, Event, Observation, RiskUpdate
from pipeline.risk.policy import Policy
from pipeline.risk.policy_io import load_policy, policy_from_dict
from server.core import metrics
from server.core.config import Settings
from server.core.strict_json import dumps
from server.live.tasks import TaskSet
from server.store.outbox import EventOutbox
from server.store.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveUpdate:
    risk_score: float
    attention: float | None
    changed: list[dict[str, Any]]


def _event_change(event: Event, state: str) -> dict[str, Any]:
    d = event.to_dict()
    d["state"] = state
    d["at"] = event.start if state == "started" else event.end
    return d


@cache
def _policy_file(path: Path) -> Policy:
    try:
        return load_policy(path)
    except OSError as exc:
        raise ValueError(f"cannot read VIGIL_POLICY {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a PolicyError names the key
        raise ValueError(f"VIGIL_POLICY {path}: {exc}") from None


def default_policy(settings: Settings) -> Policy:
    """The file in VIGIL_POLICY, else the built-in defaults.

    The file is read once per process: `vigil serve` calls this at start, so a missing or invalid file
    stops it there (a `ValueError` naming VIGIL_POLICY) instead of failing every offer later; the
    sessions then share the loaded policy.
    """
    return Policy() if settings.policy_path is None else _policy_file(settings.policy_path)


async def policy_for(store: Store, exam_id: str, settings: Settings) -> Policy:
    """The exam's stored policy, else the file in VIGIL_POLICY, else the built-in defaults."""
    raw = await store.exam_field(exam_id, "policy")
    if raw:
        return policy_from_dict(json.loads(raw))
    return default_policy(settings)


class RiskSession:
    def __init__(self, engine: RiskEngine, sid: str) -> None:
        self.engine = engine
        self.sid = sid
        self.outbox: EventOutbox | None = None
        self.risk_score = 0.0
        self.attention: float | None = None
        self._own_outbox = False
        #: live fan-out publishes in flight (best effort; awaited on close)
        self._publishes = TaskSet(log, sid)
        self._open: dict[str, Event] = {}

    @classmethod
    async def restore_or_new(cls, store: Store, sid: str, policy: Policy, t0: float) -> RiskSession:
        raw = await store.session_field(sid, "risk_state")
        engine = RiskEngine(policy, start=t0)  # time before a first connection counts as unobserved
        if raw:
            try:
                engine = RiskEngine.restore(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("could not restore risk state of %s: %s", sid, exc)
        session = cls(engine, sid)
        session.risk_score = engine.risk_score
        session._open = {e.id: e for e in engine.events if e.end is None}
        return session

    @property
    def last_frame_id(self) -> int:
        return int(self.engine.snapshot().get("last_frame_id") or 0)

    def attach(self, outbox: EventOutbox) -> None:
        self.outbox = outbox
        outbox.state = self.state_fields

    def attach_store_only(self, store: Store, sid: str) -> None:
        self.outbox = EventOutbox(store, sid, self.state_fields)
        self.outbox.start()
        self._own_outbox = True

    # -- inputs --------------------------------------------------------------------------------
    def _apply(self, update: RiskUpdate) -> LiveUpdate:
        self.risk_score = update.risk_score
        if update.attention is not None:
            self.attention = update.attention
        for e in update.started:
            self._open[e.id] = e
            metrics.EVENTS.labels(e.type).inc()
        for e in update.ended:
            self._open.pop(e.id, None)
        changed = [_event_change(e, "started") for e in update.started] + \
                  [_event_change(e, "ended") for e in update.ended]
        for change in changed:
            self._log({"kind": f"event_{change['state']}", "t": change["at"], "event": change})
        if changed:
            self._publish({"type": "events", "session_id": self.sid, "events": changed,
                           "risk_score": round(update.risk_score, 1)})
        return LiveUpdate(update.risk_score, update.attention, changed)

    def _apply_closed(self, events: list[Event]) -> None:
        for e in events:
            self._open.pop(e.id, None)
            change = _event_change(e, "ended")
            self._log({"kind": "event_ended", "t": change["at"], "event": change})

    def observe_frame(self, analysis: FrameAnalysis, gaze: CalibratedGaze | None) -> LiveUpdate:
        return self._apply(self.engine.observe(observation_from_analysis(analysis, gaze)))

    def observe(self, observation: Observation) -> LiveUpdate:
        return self._apply(self.engine.observe(observation))

    def browser(self, t: float, event: str) -> LiveUpdate:
        self._log({"kind": "browser", "t": t, "event": event})
        return self._apply(self.engine.browser(BrowserSignal(t=t, event=event)))  # type: ignore[arg-type]

    def tick(self, t: float, *, video_at: float | None = None) -> LiveUpdate:
        """Time passes; `video_at`: when the newest decoded video frame arrived (coverage, video_lost)."""
        return self._apply(self.engine.advance(t, video_at=video_at))

    def connection(self, t: float, connected: bool) -> LiveUpdate:
        """The candidate's peer connected or went away."""
        return self._apply(self.engine.connection(t, connected))

    # -- outputs -------------------------------------------------------------------------------
    def _log(self, item: dict[str, Any]) -> None:
        if self.outbox is not None:
            self.outbox.put(item)

    def _publish(self, message: dict[str, Any]) -> None:
        if self.outbox is None:
            return
        self._publishes.spawn(self._publish_quietly(message), "publish")

    async def _publish_quietly(self, message: dict[str, Any]) -> None:
        try:
            assert self.outbox is not None
            await self.outbox.store.publish(message)
        except Exception as exc:  # live fan-out is best effort; the stream has the truth
            log.debug("publish failed: %s", exc)

    def active_types(self) -> list[str]:
        return sorted({e.type for e in self._open.values()})

    def state_fields(self) -> dict[str, Any]:
        coverage = self.engine.coverage.coverage()
        return {"risk_score": round(self.risk_score, 2),
                "attention": None if self.attention is None else round(self.attention, 1),
                "observed_seconds": round(self.engine.coverage.observed_seconds, 1),
                "coverage": None if coverage is None else round(coverage, 3),
                "risk_state": dumps(self.engine.snapshot())}

    def finish(self, now: float, *, session_id: str, started_at: float) -> dict[str, Any]:
        verdict = self.engine.finish(now)
        closed = [e for e in verdict.events if e.id in self._open]
        if closed:  # events still open at the end close now: log their end like any other
            self._apply_closed(closed)
        summary = {
            "session_id": session_id,
            "final_risk_score": round(verdict.final_risk_score, 1),
            "verdict": verdict.verdict,
            "total_violations": verdict.total_violations,
            "duration_seconds": round(max(0.0, now - started_at), 1),
            "reasons": list(verdict.reasons),
            "peak_risk": round(verdict.peak_risk, 1),
            "mean_risk": round(verdict.mean_risk, 1),
            "counts": {k: v for k, v in verdict.counts.items() if v},
            # what was watched: seconds of usable analysed video, its share, and why the rest was not
            "observed_seconds": round(verdict.observed_seconds, 1),
            "coverage": None if verdict.coverage is None else round(verdict.coverage, 3),
            "unobserved": {k: round(v, 1) for k, v in verdict.unobserved.items()},
            "unobserved_spans": [[round(a, 3), round(b, 3), why] for a, b, why in verdict.unobserved_spans],
        }
        self._log({"kind": "verdict", "t": now, "summary": summary})
        return summary

    @staticmethod
    def summary_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
        return {"verdict": summary["verdict"], "final_risk_score": summary["final_risk_score"],
                "total_violations": summary["total_violations"], "observed_seconds": summary["observed_seconds"],
                "coverage": summary["coverage"], "summary": dumps(summary)}

    @staticmethod
    def stored_summary(data: Mapping[str, str]) -> dict[str, Any]:
        return json.loads(data["summary"])

    async def close(self) -> None:
        await self._publishes.wait()
        if self._own_outbox and self.outbox is not None:
            await self.outbox.close()
