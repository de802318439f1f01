"""The `vigil eval` results as one JSON document and as rich tables.

The JSON (`--json`) holds, per input, everything the tables show plus the raw counts, so numbers
can be re-aggregated later:

* `videos[]`: `video`, `spans`, `group`, `duration_s`, `frames`, `verdict`, `events[]` (type,
  start, end) and `labels{}`; `video_summary` sums the labels over all videos (`all`) and per group;
* `objects[]`: `csv`, `images`, `classes{}` (tp, fp, fn, precision, recall per COCO class),
  `events{}` (per event type: images with the class that raised it, false events on the others and
  per honest minute, each such image being `hold_s` of honest time),
  `groups{}` (the same per group), `detector_ms` (median of the first pass per image) and `images_detail[]`;
* `gaze[]`: `csv`, `methods{}` (within, across, centre, eye_only: px / mm / deg summaries),
  `groups{}`, `notes[]` (sittings that could not be fitted) and `rejected` (images with no usable sample).

A label's entry: `frames` (tp, fp, fn, tn, precision, recall, balanced_accuracy), `spans`,
`detected`, `detection_rate`, `false_events`, `honest_min` and `false_events_per_honest_min`
(the event fields are null for labels no event reports, such as `face_count=1`). Rates are null
when their denominator is zero.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from server.tools.evaluate.metrics import BoxCounts, per_minute
from server.tools.evaluate.objects import EventCounts
from server.tools.evaluate.video import LabelCounts


def _r(value: float | None, nd: int = 3) -> float | None:
    return None if value is None else round(value, nd)


def label_json(c: LabelCounts) -> dict[str, Any]:
    f = c.frames
    return {
        "frames": {"tp": f.tp, "fp": f.fp, "fn": f.fn, "tn": f.tn, "precision": _r(f.precision),
                   "recall": _r(f.recall), "balanced_accuracy": _r(f.balanced_accuracy)},
        "spans": c.spans, "detected": c.detected if c.evented else None,
        "detection_rate": _r(c.detected / c.spans) if c.spans and c.evented else None,
        "false_events": c.false_events if c.evented else None, "honest_min": round(c.honest_s / 60.0, 3),
        "false_events_per_honest_min": _r(per_minute(c.false_events, c.honest_s)) if c.evented else None,
    }


def box_json(c: BoxCounts) -> dict[str, Any]:
    return {"tp": c.tp, "fp": c.fp, "fn": c.fn, "precision": _r(c.precision), "recall": _r(c.recall)}


def event_json(c: EventCounts, hold_s: float) -> dict[str, Any]:
    """Each image without the object was held for `hold_s`: that is its honest time."""
    honest_s = c.images_without * hold_s
    return {"images_with": c.images_with, "raised": c.raised, "recall": _r(c.recall),
            "images_without": c.images_without, "false_events": c.false_events,
            "honest_min": round(honest_s / 60.0, 3), "false_events_per_honest_min": _r(per_minute(c.false_events, honest_s))}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def video_table(title: str, labels: Mapping[str, Mapping[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("label", "frames +/-", "precision", "recall", "bal. acc.", "spans found",
                "false events", "per honest min"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, m in labels.items():
        f = m["frames"]
        table.add_row(label, f"{f['tp'] + f['fn']}/{f['fp'] + f['tn']}", _fmt(f["precision"]), _fmt(f["recall"]),
                      _fmt(f["balanced_accuracy"]),
                      f"{m['detected']}/{m['spans']}" if m["spans"] and m["detected"] is not None else "-",
                      _fmt(m["false_events"]), _fmt(m["false_events_per_honest_min"]))
    return table


def objects_table(title: str, doc: Mapping[str, Any]) -> Table:
    table = Table(title=title)
    for col in ("class", "tp", "fp", "fn", "precision", "recall", "event recall", "false events"):
        table.add_column(col, justify="left" if col == "class" else "right")
    events = doc.get("events", {})
    from server.tools.evaluate.objects import EVENT_OF

    for cls, m in doc["classes"].items():
        e = events.get(EVENT_OF.get(cls, ""), None)
        table.add_row(cls, str(m["tp"]), str(m["fp"]), str(m["fn"]), _fmt(m["precision"]), _fmt(m["recall"]),
                      f"{e['raised']}/{e['images_with']}" if e else "-",
                      f"{e['false_events']}/{e['images_without']}" if e else "-")
    return table


def gaze_table(title: str, methods: Mapping[str, Mapping[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("method", "dots", "px mean", "px median", "px p90", "mm mean", "deg mean", "deg median", "deg p90"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, m in methods.items():
        px, mm, deg = m.get("px"), m.get("mm"), m.get("deg")
        table.add_row(name, str(px["n"]) if px else "0", _fmt(px and px["mean"]), _fmt(px and px["median"]),
                      _fmt(px and px["p90"]), _fmt(mm and mm["mean"]), _fmt(deg and deg["mean"]),
                      _fmt(deg and deg["median"]), _fmt(deg and deg["p90"]))
    return table


def print_report(doc: Mapping[str, Any], console: Console) -> None:
    for v in doc.get("videos", []):
        console.print(video_table(f"{v['video']} ({v['duration_s']:.1f} s, {v['frames']} frames, {v['verdict']})",
                                  v["labels"]))
    summary = doc.get("video_summary")
    if summary and len(doc.get("videos", [])) > 1:
        console.print(video_table("all videos", summary["all"]))
    for name, labels in (summary or {}).get("groups", {}).items():
        console.print(video_table(f"videos, group {name}", labels))
    for o in doc.get("objects", []):
        console.print(objects_table(f"{o['csv']} ({o['images']} images, detector {o['detector_ms']:.0f} ms)", o))
        for name, g in o.get("groups", {}).items():
            console.print(objects_table(f"{o['csv']}, group {name}", g))
    for g in doc.get("gaze", []):
        console.print(gaze_table(f"{g['csv']} (gaze, {g['rejected']} images rejected)", g["methods"]))
        for name, methods in g.get("groups", {}).items():
            console.print(gaze_table(f"{g['csv']}, group {name}", methods))
        for note in g.get("notes", []):
            console.print(f"[yellow]{note}[/yellow]")
