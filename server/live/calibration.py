"""Per-session gaze calibration: the dot sequence over the data channel, the fit, and calibrated gaze.

Protocol (docs/data-channel.md, data channel `vigil`):

* page -> server `{"type":"calibration.start","points":9,"screen_w":1536,"screen_h":864,"dpr":1.25}`
  (optional `screen_mm_w`, `screen_mm_h`, `viewing_distance_mm`; a screen size missing here is taken
  from `POST /api/screen/info`, else `DEFAULT_SCREEN`).
* server -> page, one after the other, every `DOT_DURATION_S`:
  `{"type":"calibration.target","index":i,"x":px,"y":py,"total":n,"validation":bool,"duration_ms":1500}`
  (x, y in the page's CSS px; the page draws the dot there at once).
* server -> page `{"type":"calibration.result","mode":"calibration","ok":bool,"status":...,
  "mean_error_px","max_error_px","mean_error_deg","mean_error_mm"|null,"points":[...],"message"}`.
* page -> server `{"type":"calibration.recentre"}`: one dot at the centre (`calibration.target` with
  `"recentre":true`), then a `calibration.result` with `"mode":"recentre"` and the `shift_px` applied.
* server -> page `{"type":"calibration.result","mode":"stored","status":"reused"|"recentre_needed"|
  "recalibrate_needed",...}` once per session that starts with a stored calibration (below).

Degrees are claimed only when the screen's physical size is known (the page measures it with a
card, `static/calibration.js`): without it `mean_error_deg`, `max_error_deg` and each point's
`error_deg` are null, the errors are given in px and as a share of the screen's diagonal
(`mean_error_screen_fraction`), and the acceptance limit is `limit_screen_fraction`.

Collecting. A frame's features count for a dot when the frame's receipt time lies in
[shown + `SACCADE_SKIP_S`, shown + `DOT_DURATION_S`]: the first 0.4 s cover the saccade (about
200 ms to start, 50 ms to land) plus the frame's capture-to-receipt delay. Frames are judged by
their own time, so a frame analysed after the dot moved on still lands on the right dot; the fit
waits `LATE_FRAME_GRACE_S` after the last dot for those. Blinks, frames without exactly one
confident face and carried-forward (not freshly computed) gaze are skipped and counted.

During the exam, once a calibration is accepted, `on_analysis` gives every frame with a gaze reading
a `CalibratedGaze`: x, y (CSS px) and on_screen (inside the screen grown by a margin that covers the
calibration's own error); the message shows it as `gaze.screen` and `gaze.on_screen`, and the risk
engine's `gaze_on_screen` drives `looking_away`
instead of the uncalibrated direction. A refused or failed calibration removes any earlier map:
the engine falls back to the direction.

Stored (`server/live/calibration_store.py`, keys in server/store/keys.py): `vigil:calibration:{owner}` the
latest calibration (model, accuracy, per-point errors, created_at), reused by the owner's next session for
`STORED_MODEL_MAX_AGE_S`; the session hash field `calibration` a JSON summary for reports. The owner (`document_owner`) is the
session's authenticated identity (the hash's `identity`, set at creation), or the session itself when it
has none: a calibration is never loaded from, nor written over, a document that a client could name by
typing a candidate id. The screen info read for `calibration.start` follows the same rule.

A stored calibration is used only once the first `transfer.CHECK_FRAMES` usable frames of the new
session show the head within the positions it was fitted on (`pipeline.calibration.transfer`):
until then no calibrated gaze; then `reused`, or `recentre_needed` (no calibrated gaze until a
recentre succeeds) or `recalibrate_needed` (the map is dropped).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

import numpy as np

from pipeline.analysis import CalibratedGaze, FrameAnalysis
from pipeline.calibration.accuracy import ScreenGeometry
from pipeline.calibration.drift import recentre
from pipeline.calibration.evaluate import DEFAULT_LIMIT_DEG, Calibration, evaluate
from pipeline.calibration.features import FeatureSample, analysis_sample, normalise
from pipeline.calibration.fit import GazeModel, PointSamples
from pipeline.calibration.targets import Target, centre_target, sequence
from pipeline.calibration.transfer import CHECK_FRAMES, decide
from pipeline.stages.gaze import GazeResult
from server.live.calibration_result import calibration_record, result_fields, result_message
from server.live.calibration_store import CalibrationDocuments
from server.live.screen_geometry import screen_problems
from server.protocol.datachannel import CalibrationRecentre, CalibrationStart
from server.store.store import Store

log = logging.getLogger(__name__)

#: how long each dot stays: long enough for ~5 analysed frames at 5 fps after the saccade skip.
DOT_DURATION_S = 1.5
#: frames received this soon after a dot appears are ignored (saccade latency and landing, plus the
#: frame's own capture-to-receipt delay).
SACCADE_SKIP_S = 0.4
#: after the last dot, frames still in analysis get this long to arrive before the fit.
LATE_FRAME_GRACE_S = 0.6
#: acceptance limit, mean error in degrees of visual angle (see pipeline.calibration.evaluate).
LIMIT_DEG = DEFAULT_LIMIT_DEG
#: on_screen tolerance beyond each screen edge: the larger of this fraction of the screen side
#: and `ON_SCREEN_MARGIN_ERRORS` times the calibration's mean error (a gaze measured just past the
#: edge is within the map's own error of being on it).
ON_SCREEN_MARGIN_FRACTION = 0.05
ON_SCREEN_MARGIN_ERRORS = 1.5
#: a stored accepted calibration younger than this is used by the candidate's next session
#: (same day, same desk); older ones are shown in diagnostics but not applied.
STORED_MODEL_MAX_AGE_S = 6 * 3600.0
#: the calibrated area when the page gave no size and none was stored (CSS px).
DEFAULT_SCREEN = (1280.0, 720.0)

class SessionHost(Protocol):
    """What the controller needs from its LiveSession."""

    session_id: str
    candidate_id: str
    exam_id: str
    store: Store

    def send(self, message: dict[str, Any]) -> bool: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


class CalibrationController:
    """One session's calibration state. Implements LiveSession's `calibration` hook."""

    def __init__(self, *, session: SessionHost, clock: Callable[[], float] = time.time,
                 dot_s: float = DOT_DURATION_S, saccade_s: float = SACCADE_SKIP_S, limit_deg: float = LIMIT_DEG,
                 load_stored: bool = True) -> None:
        self.session = session
        self.clock = clock
        self.dot_s = dot_s
        self.saccade_s = saccade_s
        self.limit_deg = limit_deg
        #: the map in use (only an accepted calibration's), its screen and its mean error (px)
        self.model: GazeModel | None = None
        self.screen: ScreenGeometry | None = None
        self.mean_error_px: float = 0.0
        self.last: Calibration | None = None
        self.state = "none"  # none | running | recentring | calibrated | refused | failed
        self.source = "none"  # this_session | stored
        self.attempts = 0
        self.recentres: list[dict[str, Any]] = []
        self.rejected: Counter[str] = Counter()
        self.record: dict[str, Any] | None = None
        self._windows: dict[int, tuple[float, float]] | None = None
        self._samples: dict[int, list[FeatureSample]] = {}
        self._task: asyncio.Task[Any] | None = None
        #: a stored map is held back until the new sitting's head is checked against it (transfer.py)
        self._stored_frames: list[FeatureSample] = []
        self.reuse: dict[str, Any] | None = None
        self.documents = CalibrationDocuments(session.store, session.session_id)
        if load_stored:
            session.spawn(self._load_stored(), "calibration-load")

    # -- the LiveSession hook -------------------------------------------------------------------
    def on_message(self, msg: Any, t: float) -> None:
        if isinstance(msg, CalibrationStart):
            self._begin(self._calibrate(msg))
        elif isinstance(msg, CalibrationRecentre):
            self._begin(self._recentre())
        # calibration.sample: the page's own notes (e.g. when it drew a dot); timing is server-side

    @property
    def collecting(self) -> bool:
        """Dots are shown or a stored map is being checked: every frame's gaze is wanted fresh."""
        return self._windows is not None or (self.source == "stored" and self.reuse is None)

    def on_analysis(self, analysis: FrameAnalysis, t: float) -> CalibratedGaze | None:
        """Collects the frame for a dot being shown; returns where its gaze falls on the screen by
        the accepted calibration (None without one, or without a gaze reading)."""
        gaze = analysis.result("gaze", GazeResult)
        if self._windows is not None:
            self._collect(analysis, gaze, t)
        if self.source == "stored" and self.reuse is None:
            self._check_stored(analysis, t)
        if self.model is None or self.screen is None or gaze is None or self.state == "recentre_needed" \
                or (self.source == "stored" and self.reuse is None):
            return None
        x, y = (float(v) for v in self.model.predict(np.asarray(normalise(gaze.features))))
        return CalibratedGaze(x, y, self.on_screen(x, y))

    def on_screen(self, x: float, y: float) -> bool:
        assert self.screen is not None
        w, h = self.screen.width_px, self.screen.height_px
        mx = max(ON_SCREEN_MARGIN_FRACTION * w, ON_SCREEN_MARGIN_ERRORS * self.mean_error_px)
        my = max(ON_SCREEN_MARGIN_FRACTION * h, ON_SCREEN_MARGIN_ERRORS * self.mean_error_px)
        return -mx <= x <= w + mx and -my <= y <= h + my

    def _check_stored(self, analysis: FrameAnalysis, t: float) -> None:
        """Collects the new sitting's first usable frames, then decides whether the stored map holds."""
        sample = analysis_sample(analysis, t)
        if isinstance(sample, FeatureSample):
            self._stored_frames.append(sample)
        if len(self._stored_frames) < CHECK_FRAMES or self.model is None:
            return
        d = decide(self.model.head_range, self._stored_frames)
        status = {"reuse": "reused", "recentre": "recentre_needed", "recalibrate": "recalibrate_needed"}[d.action]
        self.reuse = {"t": round(t, 3), "status": status, "outside": {k: round(v, 2) for k, v in d.outside.items()}}
        if d.action == "recentre":
            self.state = "recentre_needed"
        elif d.action == "recalibrate":
            self.model, self.state = None, "stale"
        self.session.spawn(self._write_diagnostics(), "calibration-diagnostics")
        self._send_result({"mode": "stored", "ok": d.action == "reuse", "status": status, "message": d.reason,
                           "head_outside": self.reuse["outside"]})

    # -- collecting -----------------------------------------------------------------------------
    def _collect(self, analysis: FrameAnalysis, gaze: GazeResult | None, t: float) -> None:
        assert self._windows is not None
        hits = [i for i, (a, b) in self._windows.items() if a <= t <= b]
        if not hits:
            return
        sample = analysis_sample(analysis, t)
        for i in hits:
            if isinstance(sample, FeatureSample):
                self._samples[i].append(sample)
            else:
                self.rejected[sample] += 1

    async def _show(self, targets: list[tuple[Target, float, float]], *, recentre_dot: bool = False) -> None:
        """Show each dot for `dot_s` and collect its frames; returns once late frames had their chance."""
        self._samples = {tg.index: [] for tg, _, _ in targets}
        self._windows = {}
        try:
            for tg, x, y in targets:
                shown = self.clock()
                self._windows[tg.index] = (shown + self.saccade_s, shown + self.dot_s)
                msg: dict[str, Any] = {"type": "calibration.target", "index": tg.index, "x": round(x, 1),
                                       "y": round(y, 1), "total": len(targets), "validation": tg.validation,
                                       "duration_ms": round(self.dot_s * 1000)}
                if recentre_dot:
                    msg["recentre"] = True
                self.session.send(msg)
                await asyncio.sleep(self.dot_s)
            await asyncio.sleep(min(LATE_FRAME_GRACE_S, self.dot_s))
        finally:
            self._windows = None

    def _begin(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()  # a new start replaces a run in progress
        self._task = self.session.spawn(coro, "calibration")

    # -- calibration ----------------------------------------------------------------------------
    async def _calibrate(self, msg: CalibrationStart) -> None:
        self.attempts += 1
        self.rejected = Counter()
        screen, distance, problems = await self._screen_for(msg)
        if problems:
            self._send_result({"ok": False, "status": "failed", "code": "calibration.screen_implausible",
                               "message": "The screen size the page reported "
                               "looks wrong (" + "; ".join(problems) + "). Reload the page and try again."})
            return
        assert screen is not None
        self.state = "running"
        await self._write_diagnostics()
        targets = [(tg, *tg.px(screen.width_px, screen.height_px)) for tg in sequence(msg.points)]
        await self._show(targets)
        fit_pts = [PointSamples(tg.index, x, y, tuple(self._samples[tg.index])) for tg, x, y in targets
                   if not tg.validation]
        val_pts = [PointSamples(tg.index, x, y, tuple(self._samples[tg.index])) for tg, x, y in targets
                   if tg.validation]
        # off the event loop: two maps' leave-one-dot-out fits take tens of ms (fit.py step 6)
        cal = await asyncio.to_thread(evaluate, fit_pts, val_pts, screen=screen, distance_mm=distance,
                                      limit_deg=self.limit_deg)
        self.last = cal
        self.state = {"accepted": "calibrated", "refused": "refused", "failed": "failed"}[cal.status]
        if cal.ok:
            assert cal.model is not None and cal.accuracy is not None
            self.model, self.screen, self.mean_error_px = cal.model, screen, cal.accuracy.mean_px
            self.source = "this_session"
        else:
            self.model = None  # the candidate's setting does not match any earlier map either
        self.recentres = []
        now = self.clock()
        self.record = calibration_record(cal, self.rejected, layout=msg.points, now=now,
                                         candidate_id=self.session.candidate_id,
                                         session_id=self.session.session_id, exam_id=self.session.exam_id)
        # stored before the page hears of it: whoever reads after the result finds the record
        await self._store_record()
        await self._write_diagnostics()
        self._send_result(result_fields(cal, self.rejected))

    async def _screen_for(self, msg: CalibrationStart) -> tuple[ScreenGeometry | None, float | None, list[str]]:
        stored = await self.documents.screen_info() or {}
        w = msg.screen_w if msg.screen_w is not None else stored.get("screen_w", DEFAULT_SCREEN[0])
        h = msg.screen_h if msg.screen_h is not None else stored.get("screen_h", DEFAULT_SCREEN[1])
        dpr = msg.dpr if msg.dpr is not None else stored.get("dpr", 1.0)
        w_mm, h_mm = msg.screen_mm_w, msg.screen_mm_h
        if w_mm is None and h_mm is None and stored.get("width_mm") and stored.get("screen_w"):
            # the stored measurement is of the whole screen; scale it to the calibrated area
            mmpp = float(stored["width_mm"]) / float(stored["screen_w"])
            w_mm, h_mm = mmpp * float(w), mmpp * float(h)
        distance = msg.viewing_distance_mm if msg.viewing_distance_mm is not None \
            else stored.get("viewing_distance_mm")
        problems = screen_problems(screen_w=w, screen_h=h, dpr=dpr, width_mm=w_mm, height_mm=h_mm,
                                   viewing_distance_mm=distance)
        if problems:
            return None, None, problems
        return ScreenGeometry(float(w), float(h), float(dpr), w_mm, h_mm), distance, []

    # -- recentre -------------------------------------------------------------------------------
    async def _recentre(self) -> None:
        if self.model is None or self.screen is None:
            self._send_result({"mode": "recentre", "ok": False, "status": "failed", "code": "recentre.not_calibrated",
                               "message": "There is no accepted calibration to recentre; please calibrate first."})
            return
        self.state = "recentring"
        tg = centre_target()
        target = tg.px(self.screen.width_px, self.screen.height_px)
        await self._show([(tg, *target)], recentre_dot=True)
        r = recentre(self.model, self._samples[tg.index], target, screen_w=self.screen.width_px,
                     screen_h=self.screen.height_px)
        if r.applied:
            self.model = r.model
        elif self.state == "recentre_needed":
            self.model = None  # the stored map did not survive its recentre: a new calibration is needed
        self.state = "calibrated" if self.model is not None else "stale"
        entry = {"t": round(self.clock(), 3), "applied": r.applied, "shift_px": [round(v, 1) for v in r.shift_px],
                 "samples": r.samples}
        self.recentres.append(entry)
        if self.record is not None and self.model is not None:
            self.record["model"] = self.model.to_dict()
            self.record["recentres"] = self.recentres
            self.record["updated_at"] = self.clock()
            await self._store_record()
        await self._write_diagnostics()
        self._send_result({"mode": "recentre", "ok": r.applied, "status": "recentred" if r.applied else "refused",
                           "shift_px": {"x": round(r.shift_px[0], 1), "y": round(r.shift_px[1], 1)},
                           "samples": r.samples, "message": r.reason})

    # -- messages and storage -------------------------------------------------------------------
    def _send_result(self, fields: Mapping[str, Any]) -> None:
        self.session.send(result_message(fields))

    async def _store_record(self) -> None:
        if self.record is not None:
            await self.documents.put_record(self.record)

    def summary(self) -> dict[str, Any]:
        """The session hash's `calibration` field: what a report needs to say about gaze calibration."""
        rec = self.record or {}
        return {"state": self.state, "source": self.source, "attempts": self.attempts,
                "ok": rec.get("ok"), "status": rec.get("status"), "created_at": rec.get("created_at"),
                "mean_error_px": rec.get("mean_error_px"), "max_error_px": rec.get("max_error_px"),
                "mean_error_deg": rec.get("mean_error_deg"), "mean_error_mm": rec.get("mean_error_mm"),
                "basis": rec.get("basis"), "limit_deg": rec.get("limit_deg"), "layout": rec.get("layout"),
                "viewing_distance_mm": rec.get("viewing_distance_mm"), "points": rec.get("points", []),
                "message": rec.get("message"), "recentres": self.recentres, "screen": rec.get("screen"),
                "mean_error_screen_fraction": rec.get("mean_error_screen_fraction"), "reuse": self.reuse}

    async def _write_diagnostics(self) -> None:
        await self.documents.put_summary(self.summary())

    async def _load_stored(self) -> None:
        rec = await self.documents.record()
        if not rec or not rec.get("ok") or not rec.get("model") or self.state != "none":
            return
        if self.clock() - float(rec.get("created_at") or 0) > STORED_MODEL_MAX_AGE_S:
            return
        try:
            model = GazeModel.from_dict(rec["model"])
            s = rec["screen"]
            screen = ScreenGeometry(float(s["width_px"]), float(s["height_px"]), float(s.get("dpr") or 1.0),
                                    s.get("width_mm"), s.get("height_mm"))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("stored calibration of %s unusable: %s", self.session.session_id, exc)
            return
        self.model, self.screen = model, screen
        self.mean_error_px = float(rec.get("mean_error_px") or 0.0)
        self.record, self.source, self.state = rec, "stored", "calibrated"
        self.recentres = list(rec.get("recentres") or [])
        await self._write_diagnostics()
