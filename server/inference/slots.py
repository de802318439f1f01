"""One session's frame in shared memory: the worker writes it, the inference child copies it out.

One frame in flight per session (the analysis lane awaits each answer before it takes the next frame),
so one block per session is enough: the worker writes only while no request of that session is out,
and the child copies the pixels before it answers (its stages may keep arrays across frames, and the
background lane reads the frame after the answer).
"""
from __future__ import annotations

import logging
from multiprocessing import shared_memory

import numpy as np

from server.inference.messages import FrameRef

log = logging.getLogger(__name__)


class FrameSlot:
    """The worker's side: one block, grown (a new block, a new name) when a larger frame arrives.
    The worker creates and unlinks it (`close`, idempotent)."""

    def __init__(self) -> None:
        self._shm: shared_memory.SharedMemory | None = None
        self._closed = False

    def write(self, rgb: np.ndarray) -> FrameRef:
        """Copy `rgb` into the block (runs in an executor thread); the reference the child reads."""
        if self._closed:
            raise RuntimeError("frame slot closed")
        if self._shm is None or self._shm.size < rgb.nbytes:
            self._release()
            self._shm = shared_memory.SharedMemory(create=True, size=max(1, rgb.nbytes))
        view: np.ndarray = np.ndarray(rgb.shape, dtype=np.uint8, buffer=self._shm.buf)
        view[...] = rgb
        del view  # no exported buffer may outlive the write, or the block cannot be closed
        h, w, c = rgb.shape
        return FrameRef(self._shm.name, (int(h), int(w), int(c)))

    def close(self) -> None:
        self._closed = True
        self._release()

    def _release(self) -> None:
        shm, self._shm = self._shm, None
        if shm is None:
            return
        try:
            shm.close()
        except BufferError:  # a write still running in the executor: the mapping goes with the process
            log.debug("frame slot %s closed while in use", shm.name)
        shm.unlink()


class SlotReader:
    """The child's side: the session's block attached by name (again when the worker grew it)."""

    def __init__(self) -> None:
        self._shm: shared_memory.SharedMemory | None = None

    def copy(self, ref: FrameRef) -> np.ndarray:
        if self._shm is None or self._shm.name != ref.shm_name.lstrip("/"):
            self.close()
            self._shm = shared_memory.SharedMemory(name=ref.shm_name)
        view: np.ndarray = np.ndarray(ref.shape, dtype=np.uint8, buffer=self._shm.buf)
        rgb = view.copy()
        del view
        return rgb

    def close(self) -> None:
        shm, self._shm = self._shm, None
        if shm is not None:
            shm.close()  # the worker unlinks it
