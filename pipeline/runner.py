"""Runs the stages on one frame for one session.

`Pipeline` holds the loaded stages (once per worker process). `SessionPipeline` holds one
session's per-stage state and the last output of each stage. A stage runs on a frame when it is
due (`Stage.due`: every frame, once per `rate_hz` period, or a schedule of its own such as the
face path's "every other frame while a face is tracked"); otherwise its last output is carried
forward, marked with its age (`age_s`, sent in the message's `stages` summary). A stage that reads
only earlier stages' results is carried whenever every one of them was carried, so that a mesh
read twice is not counted twice (identity enrolment, gaze samples for calibration). `refresh`
names stages to compute on this frame whatever their schedule (calibration wants every frame's
gaze). Each stage's time is measured; a stage that raises is recorded as `error` for that frame
and counted, and the other stages go on.

Two ways to run the rate-limited (slow) stages:

* inline (`analyse(frame)`): a frame on which a slow stage is due waits for it;
* in the background (`analyse(frame, defer_rated=True)` for the per-frame path, and
  `run_rated(frame, upstream, names)` for the due slow stages on another thread): no frame waits
  for a slow stage, every frame carries the slow stages' latest results with their age, and a
  slow stage that has never finished reports `skipped` ("pending"). The media edge uses this so
  that an object detector's 50 ms never lands on the per-frame latency.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.analysis import FrameAnalysis
from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageHealth, StageOutput

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate stage names: {names}")
        for i, stage in enumerate(stages):
            missing = [r for r in stage.requires if r not in names[:i]]
            if missing:
                raise ValueError(f"stage {stage.name!r} requires {missing} to run before it")
        self.stages = list(stages)

    def load(self) -> list[StageHealth]:
        return [stage.try_load() for stage in self.stages]

    def health(self) -> dict[str, str]:
        return {s.name: s.health.describe() for s in self.stages}

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def new_session(self) -> SessionPipeline:
        return SessionPipeline(self)


@dataclass
class _Carried:
    output: StageOutput
    computed_t: float


@dataclass
class SessionPipeline:
    pipeline: Pipeline
    states: dict[str, Any] = field(default_factory=dict)
    last: dict[str, _Carried] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for stage in self.pipeline.stages:
            self.states[stage.name] = stage.new_state()

    def state(self, name: str) -> Any:
        return self.states.get(name)

    def _due(self, stage: Stage, t: float, upstream: Mapping[str, StageOutput]) -> bool:
        carried = self.last.get(stage.name)
        if carried is None:
            return True
        if stage.requires and self._inputs_unchanged(stage, t, carried, upstream):
            return False
        return stage.due(carried.output, max(0.0, t - carried.computed_t), upstream, self.states[stage.name])

    @staticmethod
    def _inputs_unchanged(stage: Stage, t: float, carried: _Carried, upstream: Mapping[str, StageOutput]) -> bool:
        """Every input of `stage` was carried, and its last output was computed from them."""
        inputs = [upstream.get(name) for name in stage.requires]
        if any(out is None or out.age_s <= 0.0 for out in inputs):
            return False
        inputs_t = max(t - out.age_s for out in inputs if out is not None)
        return carried.computed_t >= inputs_t - 1e-6

    def analyse(self, frame: VideoFrame, only: Iterable[str] | None = None, *,
                defer_rated: bool = False, refresh: Collection[str] = ()) -> FrameAnalysis:
        wanted = set(only) if only is not None else None
        outputs: dict[str, StageOutput] = {}
        start = time.perf_counter()
        for stage in self.pipeline.stages:
            if wanted is not None and stage.name not in wanted:
                continue
            if defer_rated and stage.rate_hz is not None:
                outputs[stage.name] = self._carried(stage, frame.t)
            else:
                outputs[stage.name] = self._run_stage(stage, frame, outputs, force=stage.name in refresh)
        total_ms = (time.perf_counter() - start) * 1000.0
        return FrameAnalysis(frame.frame_id, frame.pts, frame.t, frame.width, frame.height, outputs, total_ms)

    def due_rated(self, t: float, upstream: Mapping[str, StageOutput] | None = None) -> list[str]:
        """Names of the rate-limited stages due at time `t`, given that frame's outputs `upstream`."""
        seen = upstream if upstream is not None else {}
        return [s.name for s in self.pipeline.stages
                if s.rate_hz is not None and s.health.state == "loaded" and self._due(s, t, seen)]

    def run_rated(self, frame: VideoFrame, upstream: dict[str, StageOutput], names: Iterable[str]) -> dict[str, StageOutput]:
        """Run these rate-limited stages on `frame` (in the background); their results are carried."""
        wanted = set(names)
        outputs = dict(upstream)
        for stage in self.pipeline.stages:
            if stage.name in wanted:
                outputs[stage.name] = self._run_stage(stage, frame, outputs)
        return {name: outputs[name] for name in wanted if name in outputs}

    def _carried(self, stage: Stage, t: float) -> StageOutput:
        if stage.health.state != "loaded":
            return StageOutput(stage.name, "unavailable", reason=stage.health.reason)
        carried = self.last.get(stage.name)
        if carried is None:
            return StageOutput(stage.name, "skipped", reason="pending: first run in progress")
        return replace(carried.output, age_s=max(0.0, t - carried.computed_t), elapsed_ms=0.0)

    def _run_stage(self, stage: Stage, frame: VideoFrame, upstream: dict[str, StageOutput], *,
                   force: bool = False) -> StageOutput:
        if stage.health.state != "loaded":
            return StageOutput(stage.name, "unavailable", reason=stage.health.reason)
        for req in stage.requires:
            dep = upstream.get(req)
            if dep is None or dep.status != "ok":
                return StageOutput(stage.name, "skipped", reason=f"no {req} result")
        if not force and not self._due(stage, frame.t, upstream):
            return self._carried(stage, frame.t)
        t0 = time.perf_counter()
        try:
            result = stage.process(frame, upstream, self.states[stage.name])
        except Exception as exc:  # one bad frame must not end the session: count it and go on
            self.errors[stage.name] = self.errors.get(stage.name, 0) + 1
            log.warning("stage %s failed on frame %s: %s", stage.name, frame.frame_id, exc, exc_info=True)
            return StageOutput(stage.name, "error", elapsed_ms=(time.perf_counter() - t0) * 1000.0,
                               reason=f"{type(exc).__name__}")
        elapsed = (time.perf_counter() - t0) * 1000.0
        if result is None:
            out = StageOutput(stage.name, "skipped", elapsed_ms=elapsed, reason="no result")
        else:
            out = StageOutput(stage.name, "ok", result=result, elapsed_ms=elapsed)
        self.last[stage.name] = _Carried(out, frame.t)
        return out
