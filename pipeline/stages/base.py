"""The contract every vision stage follows.

A *stage* wraps one model or one computation. The model is loaded once per worker process
(`load()` at start-up) and shared by every session; anything that must differ per candidate (a
neutral pose, the previous frame for freeze detection, an identity signature) lives in a
per-session `state` object the stage creates with `new_state()` and the runner keeps.

Stages run in order; a stage reads the results of earlier stages of the same frame from
`upstream` (keyed by stage name). A stage with `rate_hz` set runs at most that often per
session; between runs the runner carries its last result forward with its age. A stage may
schedule itself by what it sees instead (`due`: the face path runs on every other frame while a
face is tracked, posture slowly while a face is in view); a stage that only reads earlier stages'
results is carried whenever all of those were carried (its inputs did not change).

`process` runs in an executor thread, never on the event loop. Stage objects may be called
from several threads at once: a stage whose model is not thread-safe holds `self.lock`.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pipeline.frame import VideoFrame

StageState = Literal["loaded", "unavailable"]

#: a rate-limited stage is due after this share of its period, so that 2 Hz on a 5 fps stream runs
#: every 0.4-0.6 s (frame times jitter), not every 0.6 s.
RATE_TOLERANCE = 0.9


@runtime_checkable
class StageResult(Protocol):
    """A stage's typed result; contributes its fields to the data-channel `analysis` message."""

    def message_fields(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StageHealth:
    name: str
    state: StageState
    reason: str | None = None

    def describe(self) -> str:
        return "loaded" if self.state == "loaded" else f"missing: {self.reason}"


class StageUnavailable(RuntimeError):
    """Raised by `load()` when a model cannot be loaded (weights absent, import failed)."""


class Stage:
    """Base class for stages. Subclasses set `name`, optionally `rate_hz` and `requires`."""

    name: ClassVar[str] = "stage"
    #: None: every analysed frame; else at most this many runs per second per session.
    rate_hz: ClassVar[float | None] = None
    #: names of stages whose results this one reads from `upstream`.
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._health = StageHealth(self.name, "unavailable", "not loaded")

    # -- lifecycle -------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model. Raise StageUnavailable with a reason when it cannot."""

    def try_load(self) -> StageHealth:
        try:
            self.load()
        except StageUnavailable as exc:
            self._health = StageHealth(self.name, "unavailable", str(exc))
        except Exception as exc:  # a broken model must not stop the server; say why
            self._health = StageHealth(self.name, "unavailable", f"{type(exc).__name__}: {exc}")
        else:
            self._health = StageHealth(self.name, "loaded")
        return self._health

    @property
    def health(self) -> StageHealth:
        return self._health

    def new_state(self) -> Any:
        """Per-session state (None when the stage keeps none)."""
        return None

    # -- work ------------------------------------------------------------------------------
    def due(self, last: StageOutput, age_s: float, upstream: Mapping[str, StageOutput], state: Any) -> bool:
        """Run on this frame rather than carry `last` (computed `age_s` seconds ago) forward?

        Asked only once the stage has a last output. `upstream` holds this frame's earlier
        outputs (fresh or carried), `state` the session's state of this stage. The default: every
        frame, or once its `rate_hz` period has (nearly) passed.
        """
        if self.rate_hz is None:
            return True
        return age_s >= RATE_TOLERANCE / self.rate_hz

    def process(self, frame: VideoFrame, upstream: Mapping[str, StageOutput], state: Any) -> StageResult | None:
        raise NotImplementedError


StageStatus = Literal["ok", "unavailable", "error", "skipped"]


@dataclass(frozen=True)
class StageOutput:
    """What the runner records for one stage on one frame.

    `status`: ok (a result, maybe carried forward: see `age_s`), unavailable (model missing),
    error (this frame's run raised; counted, the session goes on), skipped (a required upstream
    stage had no result, e.g. no face for gaze).
    """

    stage: str
    status: StageStatus
    result: StageResult | None = None
    #: seconds since the result was computed (0 when computed on this frame).
    age_s: float = 0.0
    #: time spent in this stage on this frame (0 when carried forward).
    elapsed_ms: float = 0.0
    reason: str | None = None

    @property
    def fresh(self) -> bool:
        return self.status == "ok" and self.age_s == 0.0
