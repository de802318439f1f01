"""What a snapshot or clip frame shows of a frame's analysis: the face and object boxes, with their age.

Objects (and posture) run in a background lane every 2 s (0.5 s while an event is being confirmed), and
the face path not on every frame: a frame's analysis carries the last result with its age
(`StageOutput.age_s`). A box from a pass 2 s earlier drawn on a newer frame shows what is no longer there
(a person box where the person has gone), so `Detections` keeps each group's age and a box is drawn only
on a frame within `MAX_BOX_AGE_S` of the pass that produced it (`FrameRing.refresh_sources` gives a
pass's result back to the frame it ran on, `server/live/frame_ring.py`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from pipeline.analysis import FrameAnalysis
from pipeline.stages.faces import FacesResult
from pipeline.stages.objects import ObjectsResult

#: a carried box is drawn on frames at most this long after the pass that produced it: about one analysed
#: frame at 5 fps (0.2 s apart, with jitter), so a face path run every other frame keeps its boxes while an
#: object pass's box (every 0.5-2 s) shows only on its own frame and the next
MAX_BOX_AGE_S = 0.3

Box = tuple[float, float, float, float]  # x, y, w, h normalised to 0..1 of the frame
#: the groups of boxes a frame's analysis gives, each from its own stage and pass (with its own age)
Group = Literal["faces", "objects"]
GROUPS: tuple[Group, ...] = ("faces", "objects")


@dataclass(frozen=True)
class Drawn:
    """One box to draw on a snapshot, with its label and confidence."""

    box: Box
    label: str
    confidence: float | None = None


@dataclass(frozen=True)
class Detections:
    """What a snapshot shows of a frame's analysis: the candidate's face (the largest), every other face
    seen (a `multiple_faces` snapshot boxes them all) and the objects seen, with how old each group's
    result was on this frame (0: computed on it; more: carried from an earlier pass)."""

    face: Drawn | None = None
    objects: tuple[Drawn, ...] = ()
    other_faces: tuple[Drawn, ...] = ()
    faces_age_s: float = 0.0
    objects_age_s: float = 0.0

    @classmethod
    def of(cls, analysis: FrameAnalysis) -> Detections:
        faces = analysis.result("faces", FacesResult)
        primary = faces.primary if faces is not None else None
        objects = analysis.result("objects", ObjectsResult)
        others = () if faces is None else tuple(
            Drawn(f.box, "other face", f.confidence) for f in faces.faces if f is not primary)
        return cls(
            face=None if primary is None else Drawn(primary.box, "face", primary.confidence),
            objects=() if objects is None else tuple(Drawn(d.box, d.label, d.confidence) for d in objects.objects),
            other_faces=others, faces_age_s=_age(analysis, "faces"), objects_age_s=_age(analysis, "objects"))

    def fresh(self, max_age_s: float = MAX_BOX_AGE_S) -> Detections:
        """Only the groups computed within `max_age_s` of this frame: the boxes worth drawing on it."""
        faces_ok, objects_ok = self.faces_age_s <= max_age_s, self.objects_age_s <= max_age_s
        return replace(self, face=self.face if faces_ok else None, other_faces=self.other_faces if faces_ok else (),
                       objects=self.objects if objects_ok else ())

    def as_computed(self, source: Detections, group: Group) -> Detections:
        """These detections with `source`'s `group` (faces or objects, which `source` carries from this
        frame) put back on this frame at age 0, unless this frame already has its own."""
        if group == "faces" and self.faces_age_s > 0:
            return replace(self, face=source.face, other_faces=source.other_faces, faces_age_s=0.0)
        if group == "objects" and self.objects_age_s > 0:
            return replace(self, objects=source.objects, objects_age_s=0.0)
        return self

    def age(self, group: Group) -> float:
        return self.faces_age_s if group == "faces" else self.objects_age_s


def _age(analysis: FrameAnalysis, stage: str) -> float:
    """How old the stage's result is on this frame; without a result (its first pass still running, or
    none), infinitely: a pass that ends later may still give this frame its result (`as_computed`)."""
    out = analysis.outputs.get(stage)
    return out.age_s if out is not None and out.status == "ok" else math.inf
