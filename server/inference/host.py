"""The worker's side of model inference in a child process (`VIGIL_INFERENCE=process`).

`InferenceHost` creates and owns the child (`server.inference.child.serve`, "spawn" context: the worker
already runs threads and aiortc, which a fork would copy half-way), the pipe to it and one reader
thread. Requests go out from the event loop (a few hundred bytes each: the pixels wait in the
session's shared-memory slot); the reader thread receives the answers and resolves their futures on
the loop with `call_soon_threadsafe`, so the loop never waits on the pipe.

If the child dies, every request in flight fails with `InferenceUnavailable` at once, the death is
logged once, and the host starts a new child after `RESTART_DELAY_S`; until it is ready, analyses
fail at once with the same error (the lane counts them as analysis errors and goes on with the next
frame). The new child makes each session's pipeline again on its first frame (trackers start over).
`aclose` stops the child with the app; a second call awaits the first.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from pipeline.frame import VideoFrame
from pipeline.runner import Pipeline
from server.inference.child import serve
from server.inference.messages import Analyse, Analysed, CloseSession, FromChild, Ready, Stop, ToChild
from server.inference.slots import FrameSlot

log = logging.getLogger(__name__)

#: a new child is started this long after one died (a child that dies at once is not restarted in a hot loop)
RESTART_DELAY_S = 1.0
#: how long `start` waits for the child to load its models
READY_TIMEOUT_S = 300.0
#: how long a stopping child gets to finish before it is terminated
STOP_TIMEOUT_S = 5.0


class InferenceUnavailable(RuntimeError):
    """No inference child answers: it died or is restarting. The frame is not analysed."""


class InferenceFailed(RuntimeError):
    """The child answered this request with an error (logged there)."""


@dataclass(eq=False)
class _Child:
    process: BaseProcess
    conn: Connection
    ready: asyncio.Future[Ready]
    #: request id -> the future its answer resolves
    pending: dict[int, asyncio.Future[Analysed]] = field(default_factory=dict)
    gone: bool = False


class InferenceHost:
    def __init__(self, load_pipeline: Callable[[], Pipeline], threads: int) -> None:
        #: picklable (a module-level function or a partial of one): the child calls it to load its pipeline
        self.load_pipeline = load_pipeline
        self.threads = threads
        self._child: _Child | None = None
        self._next_id = 0
        self._sessions: dict[str, RemoteSession] = {}
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._relaunch: asyncio.Task[None] | None = None
        #: children that died (tests and logs read it)
        self.deaths = 0

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.process.pid

    @property
    def ready(self) -> bool:
        child = self._child
        return child is not None and not child.gone and child.ready.done() and child.ready.exception() is None

    # -- the child's lifetime ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start the child and wait until its models are loaded; raises if it dies first."""
        child = await self._launch()
        await asyncio.wait_for(asyncio.shield(child.ready), READY_TIMEOUT_S)

    async def _launch(self) -> _Child:
        loop = asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe(duplex=True)
        process = ctx.Process(target=serve, args=(theirs, self.load_pipeline, self.threads),
                              name="vigil-inference", daemon=True)
        await loop.run_in_executor(None, process.start)
        theirs.close()
        child = _Child(process, ours, loop.create_future())
        self._child = child
        threading.Thread(target=self._read, args=(loop, child), name="inference-reader", daemon=True).start()
        return child

    def _read(self, loop: asyncio.AbstractEventLoop, child: _Child) -> None:
        """The reader thread: every message from the child to the loop, then the child's end."""
        while True:
            try:
                msg = child.conn.recv()
            except (EOFError, OSError):
                break
            if not self._to_loop(loop, self._received, child, msg):
                return
        child.process.join(timeout=1.0)  # so its exit code can be told
        self._to_loop(loop, self._lost, child, None)

    @staticmethod
    def _to_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[_Child, Any], None], child: _Child, msg: Any) -> bool:
        try:
            loop.call_soon_threadsafe(fn, child, msg)
            return True
        except RuntimeError:  # the loop closed: nobody waits any more
            return False

    def _received(self, child: _Child, msg: FromChild) -> None:
        if isinstance(msg, Ready):
            if not child.ready.done():
                child.ready.set_result(msg)
                if self.deaths:
                    log.warning("inference process %s ready again", child.process.pid)
            return
        waiter = child.pending.pop(msg.request_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    def _lost(self, child: _Child, _msg: None) -> None:
        child.gone = True
        in_flight = len(child.pending)
        self._fail(child, f"inference process exited (code {child.process.exitcode})")
        if self._closing or child is not self._child:
            return
        self.deaths += 1
        log.error("inference process %s exited with code %s; %d analyses failed, restarting in %.0f s",
                  child.process.pid, child.process.exitcode, in_flight, RESTART_DELAY_S)
        self._restart = asyncio.get_running_loop().call_later(RESTART_DELAY_S, self._start_again)

    def _start_again(self) -> None:
        self._relaunch = asyncio.ensure_future(self._launch_or_retry())

    async def _launch_or_retry(self) -> None:
        if self._closing:
            return
        try:
            await self._launch()
        except Exception:
            log.exception("could not start the inference process; trying again in %.0f s", RESTART_DELAY_S)
            self._restart = asyncio.get_running_loop().call_later(RESTART_DELAY_S, self._start_again)

    @staticmethod
    def _fail(child: _Child, why: str) -> None:
        error = InferenceUnavailable(why)
        if not child.ready.done():
            child.ready.set_exception(error)
            child.ready.exception()  # retrieved: no "never retrieved" warning when nobody awaits it
        for waiter in child.pending.values():
            if not waiter.done():
                waiter.set_exception(error)
        child.pending.clear()

    async def aclose(self) -> None:
        """Stop the child (it answers what it holds, then ends) and free every slot; idempotent."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        self._closing = True
        if self._restart is not None:
            self._restart.cancel()
        if self._relaunch is not None:
            await asyncio.gather(self._relaunch, return_exceptions=True)
        for remote in list(self._sessions.values()):
            remote.close()
        child = self._child
        if child is None:
            return
        self._send(child, Stop())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, child.process.join, STOP_TIMEOUT_S)
        if child.process.is_alive():
            child.process.kill()
            await loop.run_in_executor(None, child.process.join, STOP_TIMEOUT_S)
        self._fail(child, "inference host closed")
        child.conn.close()

    # -- sessions ---------------------------------------------------------------------------------
    def session(self, session_id: str) -> RemoteSession:
        """The session's handle (one per session; its owner closes it)."""
        remote = self._sessions.get(session_id)
        if remote is None:
            remote = self._sessions[session_id] = RemoteSession(self, session_id)
        return remote

    def _send(self, child: _Child, msg: ToChild) -> bool:
        if child.gone:
            return False
        try:
            child.conn.send(msg)
            return True
        except (OSError, ValueError):  # the child is gone; the reader thread tells the loop
            return False

    async def _request(self, session_id: str, video: VideoFrame, slot: FrameSlot, executor: Executor,
                       refresh: tuple[str, ...]) -> Analysed:
        if not self.ready:
            raise InferenceUnavailable("inference process not ready (restarting)")
        ref = await asyncio.get_running_loop().run_in_executor(executor, slot.write, video.rgb)
        child = self._child
        if child is None or not self.ready:
            raise InferenceUnavailable("inference process not ready (restarting)")
        self._next_id += 1
        request_id = self._next_id
        waiter: asyncio.Future[Analysed] = asyncio.get_running_loop().create_future()
        child.pending[request_id] = waiter
        if not self._send(child, Analyse(request_id, session_id, ref, video.t, video.pts, video.frame_id,
                                         video.received_ms, refresh)):
            child.pending.pop(request_id, None)
            raise InferenceUnavailable("inference process gone")
        try:
            answer = await waiter
        finally:
            child.pending.pop(request_id, None)
        if answer.error is not None or answer.analysis is None:
            raise InferenceFailed(answer.error or "no analysis")
        return answer

    def _closed(self, remote: RemoteSession) -> None:
        if self._sessions.get(remote.session_id) is remote:
            del self._sessions[remote.session_id]
        if self._child is not None:
            self._send(self._child, CloseSession(remote.session_id))


def _retrieve(job: asyncio.Task[Analysed]) -> None:
    if not job.cancelled():
        job.exception()


class RemoteSession:
    """One session's analyses in the child: its frame slot, one frame in flight. Made by
    `InferenceHost.session`; the live session owns it and closes it (idempotent)."""

    def __init__(self, host: InferenceHost, session_id: str) -> None:
        self.host = host
        self.session_id = session_id
        self.slot = FrameSlot()
        self._in_flight: asyncio.Task[Analysed] | None = None
        self._closed = False

    async def analyse(self, video: VideoFrame, executor: Executor, refresh: tuple[str, ...] = ()) -> Analysed:
        """`video`'s analysis by the child (the rgb is written to the slot in `executor`). A request
        still out (its awaiting task was cancelled, e.g. by a re-offer) is waited for first, so the
        slot is never written while the child reads it."""
        if self._closed:
            raise InferenceUnavailable("session's inference closed")
        previous = self._in_flight
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        job = asyncio.ensure_future(self.host._request(self.session_id, video, self.slot, executor, refresh))
        job.add_done_callback(_retrieve)  # a cancelled caller leaves nobody to read its error
        self._in_flight = job
        return await asyncio.shield(job)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.host._closed(self)
        self.slot.close()
