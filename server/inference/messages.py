"""What the worker and its inference child say to each other over their pipe: frozen, picklable records.

Inside one worker and its child only: nothing here reaches the network.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.analysis import FrameAnalysis
from pipeline.stages.base import StageOutput


@dataclass(frozen=True)
class FrameRef:
    """An RGB uint8 frame waiting in a shared-memory block (`slots.FrameSlot`)."""

    shm_name: str
    shape: tuple[int, int, int]


@dataclass(frozen=True)
class Analyse:
    """Analyse the frame in `frame` for `session_id` (the child makes the session's pipeline on first use)."""

    request_id: int
    session_id: str
    frame: FrameRef
    t: float
    pts: int
    frame_id: int
    received_ms: float | None
    #: stages computed on this frame whatever their schedule (`SessionPipeline.analyse`)
    refresh: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloseSession:
    """Free the session's pipeline and shared-memory attachment; unknown ids are ignored (idempotent)."""

    session_id: str


@dataclass(frozen=True)
class Stop:
    """End the child once the requests before it are answered."""


@dataclass(frozen=True)
class Ready:
    """The child loaded its pipeline: each stage's health."""

    health: Mapping[str, str]


@dataclass(frozen=True)
class Analysed:
    """The answer to one `Analyse`: the frame's analysis, or why there is none.

    `rated` holds the results of the slow stages (objects, posture) that finished in the child's
    background lane since the session's previous answer, for the worker's stage metrics."""

    request_id: int
    analysis: FrameAnalysis | None
    rated: tuple[Mapping[str, StageOutput], ...] = ()
    error: str | None = None


ToChild = Analyse | CloseSession | Stop
FromChild = Ready | Analysed
