"""The default vision pipeline: which stages run, in which order.

Order: quality first (from the pixels alone; tells consumers whether the rest can be trusted), then
faces, landmarks and the stages that read the mesh (head pose, gaze, expression, identity), then
the scene stages (objects, posture) that look beyond the face.

The returned `Pipeline` is not loaded: call `pipeline.load()` once per worker process (it reports
each stage's health; a stage whose model is missing is `unavailable`, the others still run).
"""
from __future__ import annotations

import os
from pathlib import Path

from pipeline.runner import Pipeline
from pipeline.stages.base import Stage
from pipeline.stages.expression import ExpressionStage
from pipeline.stages.faces import FaceDetectionStage
from pipeline.stages.gaze import GazeStage
from pipeline.stages.head_pose import HeadPoseStage
from pipeline.stages.identity import IdentityStage
from pipeline.stages.landmarks import LandmarksStage
from pipeline.stages.objects import DEFAULT_BACKEND, ObjectsStage
from pipeline.stages.posture import PostureStage
from pipeline.stages.quality import QualityStage

#: the stages whose schedule skips frames while a face is tracked (`pipeline/stages/faces.py`):
#: passed as `refresh` when every frame's gaze must be computed (calibration collecting samples).
FACE_PATH: tuple[str, ...] = ("faces", "landmarks")


def face_stages(*, face_landmarker_path: str | os.PathLike[str] | None = None) -> list[Stage]:
    """Everything that reads the frame's pixels or the candidate's face."""
    return [
        QualityStage(),
        FaceDetectionStage(),
        LandmarksStage(model_path=face_landmarker_path),
        HeadPoseStage(),
        GazeStage(),
        ExpressionStage(),
        IdentityStage(),
    ]


def scene_stages(settings_like: object | None = None, *,
                 models_dir: str | os.PathLike[str] | None = None) -> list[Stage]:
    """Stages that look at the room rather than the face: objects and posture.

    The detector backend is `settings_like.object_detector` (`VIGIL_OBJECT_DETECTOR`) when it has
    one, else `pipeline.stages.objects.DEFAULT_BACKEND`. `models_dir` holds the detector's model;
    None means the one committed in pipeline/models.
    """
    backend = getattr(settings_like, "object_detector", None) or DEFAULT_BACKEND
    return [ObjectsStage(backend=backend, models_dir=Path(models_dir) if models_dir is not None else None),
            PostureStage()]


def build_default_pipeline(settings_like: object | None = None, *,
                           face_landmarker_path: str | os.PathLike[str] | None = None,
                           models_dir: str | os.PathLike[str] | None = None) -> Pipeline:
    """The default stages. `settings_like` is anything with optional `face_landmarker`, `models_dir`
    and `object_detector` attributes (e.g. `server.core.config.Settings`); keyword arguments win over it."""
    landmarker = face_landmarker_path or getattr(settings_like, "face_landmarker", None)
    models = models_dir or getattr(settings_like, "models_dir", None)
    stages = face_stages(face_landmarker_path=Path(landmarker) if landmarker else None)
    stages += scene_stages(settings_like, models_dir=Path(models) if models else None)
    return Pipeline(stages)
