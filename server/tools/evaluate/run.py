"""One `vigil eval` run: build and load the product's pipeline once, run every input, assemble the JSON.

The pipeline is the default one (`pipeline.default`): the face stages, then the scene stages with
the objects stage configured from the options (detector backend, per-class threshold overrides,
temporal confirmation), so a run can measure the shipped settings or any other on the same
footage. The risk policy is the built-in one unless `--policy` names a file.
"""
from __future__ import annotations

import platform
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.tools.evaluate import formats
from server.tools.evaluate.gaze import group_dots, samples_from_images, score_dots
from server.tools.evaluate.metrics import BoxCounts, gaze_summary
from server.tools.evaluate.objects import (
    EventCounts,
    images_from_rows,
    run_images,
    score_boxes,
    score_events,
    scored_classes,
)
from server.tools.evaluate.report import box_json, event_json, label_json
from server.tools.evaluate.video import LabelCounts, run_video, score_video


@dataclass(frozen=True)
class EvalOptions:
    videos: Sequence[tuple[Path, Path]] = ()  # (video, spans csv)
    boxes: Sequence[Path] = ()
    gaze: Sequence[Path] = ()
    fps: float = 5.0
    hold_s: float = 5.0
    detector: str | None = None  # None: the stage's default backend
    thresholds: Mapping[str, float] = field(default_factory=dict)
    confirm: tuple[int, int] | None = None  # None: the stage's default
    policy: Path | None = None


def _objects_stage(options: EvalOptions) -> Any:
    from pipeline.stages.objects import ObjectsStage

    kwargs: dict[str, Any] = {"thresholds": dict(options.thresholds)}
    if options.detector is not None:
        kwargs["backend"] = options.detector
    if options.confirm is not None:
        kwargs["confirm"] = options.confirm
    return ObjectsStage(**kwargs)


def _load(stages: list[Any]) -> Any:
    from pipeline.runner import Pipeline

    pipeline = Pipeline(stages)
    broken = [h for h in pipeline.load() if h.state != "loaded"]
    if broken:
        raise RuntimeError("stages could not load: " + "; ".join(f"{h.name}: {h.reason}" for h in broken))
    return pipeline


def _policy(options: EvalOptions) -> Any:
    from pipeline.risk.policy import Policy
    from pipeline.risk.policy_io import load_policy

    return load_policy(options.policy) if options.policy is not None else Policy()


def _sum_labels(items: Sequence[Mapping[str, LabelCounts]]) -> dict[str, LabelCounts]:
    out: dict[str, LabelCounts] = {}
    for labels in items:
        for label, counts in labels.items():
            out[label] = out.get(label, LabelCounts()) + counts
    return out


def _objects_block(records: Sequence[Any], classes: Sequence[str], hold_s: float) -> dict[str, Any]:
    boxes: dict[str, BoxCounts] = score_boxes(records, classes)
    events: dict[str, EventCounts] = score_events(records, classes)
    return {"classes": {k: box_json(v) for k, v in boxes.items()},
            "events": {k: event_json(v, hold_s) for k, v in events.items()}}


GAZE_METHODS = ("within", "across", "centre", "eye_only")


def _gaze_methods(errors: Sequence[Any]) -> dict[str, Any]:
    return {m: gaze_summary([e.error for e in errors if e.method == m]) for m in GAZE_METHODS}


def run_eval(options: EvalOptions, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    policy = _policy(options)
    objects_stage = _objects_stage(options)
    doc: dict[str, Any] = {
        "vigil_eval": 1, "settings": _settings_json(options, objects_stage, policy), "machine": _machine_json(),
        "videos": [], "objects": [], "gaze": [],
    }
    if options.videos:
        doc["videos"], doc["video_summary"] = _eval_videos(options, objects_stage, policy, progress)
    if options.boxes:
        doc["objects"] = _eval_boxes(options, policy, progress)
    if options.gaze:
        doc["gaze"] = _eval_gaze(options, progress)
    return doc


def _settings_json(options: EvalOptions, objects_stage: Any, policy: Any) -> dict[str, Any]:
    return {"fps": options.fps, "hold_s": options.hold_s,
            "detector": objects_stage.backend, "thresholds": dict(sorted(objects_stage.thresholds.items())),
            "confirm": list(objects_stage.confirm), "policy": str(options.policy) if options.policy else None,
            "object_min_confidence": policy.object_min_confidence}


def _machine_json() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


def _labels_json(labels: Mapping[str, LabelCounts]) -> dict[str, Any]:
    return {k: label_json(v) for k, v in labels.items()}


# -- videos against labelled spans -----------------------------------------------------------------
def _eval_videos(options: EvalOptions, objects_stage: Any, policy: Any, progress: Callable[[str], None]
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each video's entry, and the label counts summed over all videos and per group."""
    from pipeline.default import face_stages
    from pipeline.stages.posture import PostureStage

    full = _load([*face_stages(), objects_stage, PostureStage()])
    entries: list[dict[str, Any]] = []
    per_video: list[tuple[str | None, dict[str, LabelCounts]]] = []
    for video, spans_csv in options.videos:
        progress(f"video {video}")
        spans = formats.read_spans(spans_csv)
        record = run_video(video, pipeline=full, policy=policy, fps=options.fps)
        labels, skipped = score_video(record, spans)
        group = next((s.group for s in spans if s.group), None)
        per_video.append((group, labels))
        entries.append({
            "video": str(video), "spans": str(spans_csv), "group": group, "duration_s": round(record.duration_s, 3),
            "frames": len(record.frames), "verdict": record.verdict,
            "events": [{"type": e.type, "start": round(e.start, 2), "end": round(e.end, 2)} for e in record.events],
            "labels": _labels_json(labels), "not_scored": skipped})
    return entries, _video_summary(per_video)


def _video_summary(per_video: Sequence[tuple[str | None, dict[str, LabelCounts]]]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, LabelCounts]]] = defaultdict(list)
    for group, labels in per_video:
        if group:
            groups[group].append(labels)
    return {
        "all": _labels_json(_sum_labels([labels for _, labels in per_video])),
        "groups": {g: _labels_json(_sum_labels(items)) for g, items in sorted(groups.items())},
    }


# -- photos with object boxes ----------------------------------------------------------------------
def _eval_boxes(options: EvalOptions, policy: Any, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    objects_only = _load([_objects_stage(options)])
    entries: list[dict[str, Any]] = []
    for csv_path in options.boxes:
        progress(f"boxes {csv_path}")
        images = images_from_rows(formats.read_boxes(csv_path))
        classes = scored_classes(images)
        records = run_images(images, pipeline=objects_only, policy=policy, hold_s=options.hold_s, fps=options.fps)
        entries.append(_boxes_json(csv_path, records, classes, options.hold_s))
    return entries


def _boxes_json(csv_path: Path, records: Sequence[Any], classes: Sequence[str], hold_s: float) -> dict[str, Any]:
    by_group: dict[str, list[Any]] = defaultdict(list)
    for rec in records:
        if rec.truth.group:
            by_group[rec.truth.group].append(rec)
    return {
        "csv": str(csv_path), "images": len(records), **_objects_block(records, classes, hold_s),
        "groups": {g: _objects_block(recs, classes, hold_s) for g, recs in sorted(by_group.items())},
        "detector_ms": round(statistics.median(r.ms for r in records), 1),
        "images_detail": [{"file": r.truth.file.name, "group": r.truth.group,
                           "truth": {k: len(v) for k, v in r.truth.boxes.items()},
                           "detections": [[label, round(conf, 3)] for label, conf, _ in r.detections],
                           "events": sorted(r.events)} for r in records],
    }


# -- gaze photos with known targets ----------------------------------------------------------------
def _eval_gaze(options: EvalOptions, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    from pipeline.default import face_stages

    faces = _load(face_stages())
    entries: list[dict[str, Any]] = []
    for csv_path in options.gaze:
        progress(f"gaze {csv_path}")
        rows = formats.read_gaze(csv_path)
        samples = samples_from_images(rows, faces)
        errors, notes = score_dots(group_dots(rows, samples))
        group_names = sorted({e.group for e in errors if e.group})
        entries.append({
            "csv": str(csv_path), "images": len(rows), "rejected": sum(1 for s in samples if isinstance(s, str)),
            "methods": _gaze_methods(errors),
            "groups": {g: _gaze_methods([e for e in errors if e.group == g]) for g in group_names},
            "notes": notes,
        })
    return entries
