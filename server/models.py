"""Loads every model once per worker process, at start-up, and says which are missing and why."""
from __future__ import annotations

import logging

from pipeline.audio.vad import SileroVad
from pipeline.runner import Pipeline
from pipeline.stages.base import StageUnavailable
from server.core.config import Settings

log = logging.getLogger(__name__)


def load_models(settings: Settings | None = None) -> tuple[Pipeline, SileroVad]:
    from pipeline.default import build_default_pipeline

    pipeline = build_default_pipeline(settings)
    for health in pipeline.load():
        (log.info if health.state == "loaded" else log.warning)("stage %s: %s", health.name, health.describe())
    vad = SileroVad()
    try:
        vad.load()
    except StageUnavailable as exc:
        vad.error = str(exc)  # type: ignore[attr-defined]
        log.warning("voice activity detector unavailable: %s", exc)
    return pipeline, vad
