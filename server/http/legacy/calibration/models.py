"""The calibration API's request bodies: Vigil's field names, the original's as aliases (`server.http.legacy.calibration`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from server.protocol.http import ID_PATTERN

#: frames one `frames` call may carry (each is analysed; the body limit applies too)
MAX_BATCH = 30
#: a run's id; the original calls it `session_id` (its runs were "calibration sessions")
RUN_ID = Field(pattern=r"^[0-9a-f]{32}$", validation_alias=AliasChoices("calibration_session_id", "session_id"))
CameraPosition = Literal["top-center", "top-left", "top-right", "bottom-center", "bottom-left", "bottom-right",
                         "left-center", "right-center", "embedded"]
Label = Annotated[str, Field(max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CreateRun(_Body):
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)] = "calibration"
    # the interview session to link; the original's name for it is `interview_id`
    session_id: str | None = Field(default=None, validation_alias=AliasChoices("session_id", "interview_id"))


class LinkRun(_Body):
    session_id: str


class _RunBody(_Body):
    """A call about one run. A body with `candidate_id` is the original API's (it sent the candidate with
    every call): the id must be the run's, and the answer comes in the original's shape too."""

    calibration_session_id: Annotated[str, RUN_ID]
    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None

    @property
    def original(self) -> bool:
        return self.candidate_id is not None


class StartRun(_RunBody):
    """Vigil's start names the screen; the original's does not, and the screen saved with
    `POST /api/screen/info` for the run's candidate is used (`_run_screen`)."""

    screen_w: Annotated[float, Field(gt=0, le=16384)] | None = None
    screen_h: Annotated[float, Field(gt=0, le=16384)] | None = None
    dpr: Annotated[float, Field(gt=0, le=8)] = 1.0
    screen_mm_w: Annotated[float, Field(gt=0, le=5000)] | None = None
    screen_mm_h: Annotated[float, Field(gt=0, le=5000)] | None = None
    viewing_distance_mm: Annotated[float, Field(gt=100, le=3000)] | None = None
    points: Literal[5, 9, 13, 16] = 9


class DotFrame(_Body):
    """One frame at a dot: the original names the dot `target_index` and the image `frame_data`."""

    frame: str = Field(validation_alias=AliasChoices("frame", "image", "frame_data"))
    point_index: Annotated[int, Field(ge=0)] = Field(validation_alias=AliasChoices("point_index", "target_index"))
    frame_index: int | None = None
    target_position: dict[str, float] | None = None


class RunFrame(_RunBody, DotFrame):
    """One frame at a dot: Vigil's `point_index` + `frame` (or `image`), or the original's `target_index` +
    `frame_data` (with its `frame_index` and `target_position`, echoed back)."""


class RunFrames(_RunBody):
    """Frames at one dot (Vigil's: `point_index` + base64 strings), or the original's batch, each frame an
    object naming its own dot (`at_points` makes them one list)."""

    point_index: Annotated[int, Field(ge=0)] | None = None
    frames: Annotated[list[str | DotFrame], Field(min_length=1, max_length=MAX_BATCH)]

    @model_validator(mode="after")
    def _dot_named(self) -> RunFrames:
        if self.point_index is None and any(isinstance(f, str) for f in self.frames):
            raise ValueError("point_index is required for frames given as strings")
        return self

    def at_points(self) -> list[DotFrame]:
        return [DotFrame.model_validate({"frame": f, "point_index": self.point_index}) if isinstance(f, str) else f
                for f in self.frames]


class CompleteRun(_RunBody):
    pass


def _either(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class DetectScreen(_Body):
    """A screen as a browser detected it: Vigil's field names or the original API's."""

    screen_w: float = Field(validation_alias=AliasChoices("screen_w", "screen_width_px"))
    screen_h: float = Field(validation_alias=AliasChoices("screen_h", "screen_height_px"))
    dpr: float | None = _either("dpr", "device_pixel_ratio")
    width_mm: float | None = _either("width_mm", "screen_mm_w", "screen_width_mm")
    height_mm: float | None = _either("height_mm", "screen_mm_h", "screen_height_mm")
    diagonal_in: float | None = _either("diagonal_in", "diagonal_inches")
    viewing_distance_mm: float | None = None
    distance_cm: float | None = None


class SaveScreen(_Body):
    """The original `POST /api/screen/info` body: its fields and defaults (its README)."""

    candidate_id: Annotated[str, Field(pattern=ID_PATTERN)]
    # bounded only so the arithmetic stays finite: Vigil's screen rules judge the size
    screen_width_px: Annotated[int, Field(gt=0, le=1_000_000)]
    screen_height_px: Annotated[int, Field(gt=0, le=1_000_000)]
    screen_width_mm: Annotated[float, Field(gt=0)] | None = None
    screen_height_mm: Annotated[float, Field(gt=0)] | None = None
    dpi: Annotated[float, Field(gt=0)] = 96.0
    diagonal_inches: Annotated[float, Field(gt=0)] | None = None
    monitor_name: Label = "Unknown"
    camera_position: CameraPosition = "top-center"
    distance_cm: Annotated[str, Field(max_length=32)] | int | float = "60"  # the original's is a string
    collection_method: Label = "automatic"
