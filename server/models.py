"""Loads every model once per worker process, at start-up, and says which are missing and why."""
from __future__ import annotations

import logging

from pipeline.audio.vad import SileroVad
from pipeline.runner import Pipeline
from pipeline.stages.base import StageUnavailable
from server.core.config import Settings
from server.inference.loading import load_pipeline

log = logging.getLogger(__name__)


def load_models(settings: Settings | None = None) -> tuple[Pipeline, SileroVad]:
    pipeline = load_pipeline(settings)
    vad = SileroVad()
    try:
        vad.load()
    except StageUnavailable as exc:
        vad.error = str(exc)  # type: ignore[attr-defined]
        log.warning("voice activity detector unavailable: %s", exc)
    return pipeline, vad
