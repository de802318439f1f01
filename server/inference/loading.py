"""Loading the vision pipeline once per process: the worker's (`server.models`) and its inference child's."""
from __future__ import annotations

import logging

from pipeline.runner import Pipeline
from server.core.config import Settings

log = logging.getLogger(__name__)


def load_pipeline(settings: Settings | None = None) -> Pipeline:
    """The default pipeline, loaded; each stage's health logged (a missing model is a warning)."""
    from pipeline.default import build_default_pipeline

    pipeline = build_default_pipeline(settings)
    for health in pipeline.load():
        (log.info if health.state == "loaded" else log.warning)("stage %s: %s", health.name, health.describe())
    return pipeline


def load_pipeline_quietly(settings: Settings) -> Pipeline:
    """The inference child's loader: without the native libraries' stderr lines unless
    VIGIL_LOG_LEVEL=DEBUG. Module-level, so a partial of it pickles into a spawned process."""
    from server.core.logs import native_stderr_filtered

    with native_stderr_filtered(show=settings.log_level == "DEBUG"):
        return load_pipeline(settings)
