"""A labelled video through the product: the default pipeline, then the risk engine, frame by frame.

`run_video` decodes the file at the analysis rate (the server's default 5 fps: the first frame at
or after each step), runs every stage synchronously on each frame (the rated stages, objects and
posture, run inline whenever their period has passed, and their last result is carried between
runs exactly as in a live session), turns the analysis into the risk engine's `Observation` from
the same typed analysis the live session judges (`pipeline.observe.observation_from_analysis`), and keeps
per frame the engine's reading of every vision condition plus, at the end, every event.

`score_video` is pure: from those records and the spans it computes the per-label counts that
`metrics.py` turns into rates. Frames inside an `ignore` span are not scored; events that touch
one are neither detections nor false events; honest time for a label is the scored time outside
its spans.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.risk.messages import EventType
from server.tools.evaluate.formats import IGNORE_LABEL, SpanRow
from server.tools.evaluate.labels import ALWAYS_SCORED, NOT_SCORED, FrameView, label_spec
from server.tools.evaluate.metrics import FrameCounts, Span, covered_seconds, in_spans, overlaps


@dataclass(frozen=True)
class EventSpan:
    type: EventType
    start: float
    end: float


@dataclass(frozen=True)
class VideoRecord:
    """What one video produced: a `FrameView` per analysed frame (with its time), and the events."""

    frames: tuple[tuple[float, FrameView], ...]
    events: tuple[EventSpan, ...]
    duration_s: float
    verdict: str = ""


@dataclass
class LabelCounts:
    """Raw counts for one label, summable across videos (per group, overall)."""

    frames: FrameCounts = field(default_factory=FrameCounts)
    spans: int = 0
    detected: int = 0
    false_events: int = 0
    honest_s: float = 0.0
    #: False for labels no event reports (face_count=1): only frames are scored
    evented: bool = True

    def __add__(self, other: LabelCounts) -> LabelCounts:
        f, g = self.frames, other.frames
        return LabelCounts(FrameCounts(f.tp + g.tp, f.fp + g.fp, f.fn + g.fn, f.tn + g.tn),
                           self.spans + other.spans, self.detected + other.detected,
                           self.false_events + other.false_events, self.honest_s + other.honest_s,
                           self.evented and other.evented)


def score_video(record: VideoRecord, spans: Sequence[SpanRow]) -> tuple[dict[str, LabelCounts], list[str]]:
    """Per-label counts (see the module docstring) and the labels present but not scored."""
    ignore: list[Span] = [(s.start_s, s.end_s) for s in spans if s.label == IGNORE_LABEL]
    labels = list(dict.fromkeys([*ALWAYS_SCORED, *(s.label for s in spans if s.label != IGNORE_LABEL)]))
    window: Span = (0.0, record.duration_s)
    scored = [(t, f) for t, f in record.frames if not in_spans(t, ignore)]
    out: dict[str, LabelCounts] = {}
    skipped: list[str] = []
    for label in labels:
        spec = label_spec(label)
        if spec is None:
            skipped.append(label)
            continue
        mine: list[Span] = [(s.start_s, s.end_s) for s in spans if s.label == label]
        frames = FrameCounts.of((in_spans(t, mine), spec.predicts(f)) for t, f in scored)
        events = [(e.start, e.end) for e in record.events if e.type in spec.events]
        counted = [e for e in events if not any(overlaps(e, i) for i in ignore)]
        detected = sum(1 for s in mine if any(overlaps(s, e) for e in events))
        false = sum(1 for e in counted if not any(overlaps(e, s) for s in mine))
        honest = record.duration_s - covered_seconds([*mine, *ignore], window)
        out[label] = LabelCounts(frames, len(mine), detected, false, max(0.0, honest), bool(spec.events))
    return out, [s for s in skipped if s in NOT_SCORED]


def run_video(path: Path, *, pipeline: Any, policy: Any, fps: float) -> VideoRecord:
    """Analyse the video (module docstring). `pipeline` is a loaded `pipeline.runner.Pipeline`."""
    from pipeline.frame import VideoFrame
    from pipeline.observe import observation_from_analysis
    from pipeline.risk import RiskEngine
    from pipeline.risk.events import SAMPLED
    from server.tools.candidate.media_files import rgb_frames

    decoded = rgb_frames(path, fps)
    if not decoded:
        raise ValueError(f"{path}: no video frames decoded")
    session = pipeline.new_session()
    engine = RiskEngine(policy)
    frames: list[tuple[float, FrameView]] = []
    for frame_id, (t, rgb) in enumerate(decoded, start=1):
        analysis = session.analyse(VideoFrame(rgb, t=t, frame_id=frame_id))
        obs = observation_from_analysis(analysis)
        engine.observe(obs)
        # read after observing, so the baseline the engine just updated is the one it judged with;
        # the same readers the engine feeds its filters with (the event registry's)
        readings = {s.type: s.reader(obs, engine.policy, engine.baseline) for s in SAMPLED
                    if s.reader is not None and s.source == "vision" and engine.policy.is_enabled(s.type)}
        frames.append((t, FrameView(obs.faces, readings)))
    duration = decoded[-1][0] + 1.0 / fps
    verdict = engine.finish(duration)
    events = tuple(EventSpan(e.type, e.start, e.end if e.end is not None else duration) for e in verdict.events)
    return VideoRecord(tuple(frames), events, duration, verdict.verdict)
