"""Silero VAD run on onnxruntime directly: speech probability for each 32 ms chunk of 16 kHz audio.

The model is a small recurrent net. Each call takes 512 new samples (32 ms at 16 kHz) preceded by
the last 64 samples of the previous chunk ("context"), plus the recurrent state [2, 1, 128], and
returns the probability that the chunk holds speech and the next state. This is what
`silero_vad.OnnxWrapper` does, without importing the `silero_vad` package: importing it pulls torch
and sets torch to one thread for the whole process (shared/MODELS.md). Only the package's ONNX file
is used, located with `importlib.util.find_spec` (no import of the package's code).

`SileroVad` is stateless apart from the shared `InferenceSession` (loaded once per process,
`InferenceSession.run` is thread-safe): the per-session memory lives in a `VadState` that the
caller keeps and passes in, and every call returns the next one. So one `SileroVad` serves every
session from any executor thread without a lock.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.stages.base import StageUnavailable

#: The model's only supported rates are 8 and 16 kHz; Vigil resamples everything to 16 kHz.
SAMPLE_RATE = 16_000
#: New samples per call at 16 kHz: the window the model was trained on (32 ms).
CHUNK_SAMPLES = 512
CHUNK_SECONDS = CHUNK_SAMPLES / SAMPLE_RATE
#: Samples of the previous chunk prepended to each call (silero's OnnxWrapper does the same at 16 kHz).
CONTEXT_SAMPLES = 64
#: Recurrent state shape: [2 (h, c), batch 1, 128 units].
STATE_SHAPE = (2, 1, 128)
#: The file inside the silero-vad wheel (opset 16, 8 and 16 kHz).
MODEL_FILENAME = "silero_vad.onnx"


@dataclass(frozen=True, eq=False)
class VadState:
    """One session's model memory: the recurrent state and the tail of the last chunk.

    Treat the arrays as read-only: `SileroVad.run` returns a new `VadState` rather than mutating.
    """

    rnn: np.ndarray  # float32 STATE_SHAPE
    context: np.ndarray  # float32 (CONTEXT_SAMPLES,)

    @classmethod
    def initial(cls) -> VadState:
        return cls(np.zeros(STATE_SHAPE, np.float32), np.zeros(CONTEXT_SAMPLES, np.float32))


def default_model_path() -> Path | None:
    """Where the silero-vad wheel keeps its ONNX file, found without importing the package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILENAME


class SileroVad:
    """Shared silero runner. `load()` once per process, then `run(chunk, state)` from any thread."""

    name = "vad"

    def __init__(self, model_path: Path | str | None = None) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self._session: Any = None
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        """Open the ONNX file; raise StageUnavailable saying why when it cannot."""
        path = self.model_path or default_model_path()
        if path is None:
            raise StageUnavailable("silero-vad is not installed (pip install --no-deps silero-vad==6.2.3)")
        if not path.is_file():
            raise StageUnavailable(f"silero VAD model not found at {path}")
        try:
            import onnxruntime as ort
        except Exception as exc:
            raise StageUnavailable(f"onnxruntime could not be imported: {exc}") from exc
        options = ort.SessionOptions()
        # One thread per call: a 32 ms chunk takes well under a millisecond, and the analysis
        # executor already runs one call per session in parallel.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise StageUnavailable(f"silero VAD model at {path} could not be loaded: {exc}") from exc
        self.model_path = path

    def new_state(self) -> VadState:
        return VadState.initial()

    def run(self, chunk: np.ndarray, state: VadState) -> tuple[float, VadState]:
        """Speech probability of one chunk of CHUNK_SAMPLES float32 samples in [-1, 1].

        Returns the probability and the state to pass with the next chunk of the same stream.
        """
        if self._session is None:
            raise RuntimeError("SileroVad.run called before load()")
        samples = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if samples.shape[0] != CHUNK_SAMPLES:
            raise ValueError(f"silero needs {CHUNK_SAMPLES} samples per call, got {samples.shape[0]}")
        model_input = np.concatenate([state.context, samples])[np.newaxis, :]
        probability, rnn = self._session.run(
            None, {"input": model_input, "state": state.rnn, "sr": self._sr})
        next_state = VadState(np.asarray(rnn, dtype=np.float32), samples[-CONTEXT_SAMPLES:].copy())
        return float(probability.reshape(-1)[0]), next_state
