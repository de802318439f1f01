"""The inference child: loads the pipeline once, analyses frames for every session of its worker.

Runs `serve` as the main of a "spawn" process. Its main thread reads requests from the pipe; each
`Analyse` runs in a thread pool of `threads` (the models release the GIL in their native code, as in
the worker's thread mode), and the slow stages due on a frame (objects, posture) run in a one-thread
background lane, one job per session at a time, exactly as `server.live.analysis_lane` runs them in
thread mode: no frame waits for them, later frames carry their results with their age. Answers go back
on the same pipe, one writer at a time. A stage that raises is an `error` output (the runner's rule);
anything else that fails on a request becomes that request's `error`, and the child goes on.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection

from pipeline.frame import VideoFrame
from pipeline.runner import Pipeline, SessionPipeline
from pipeline.stages.base import StageOutput
from server.inference.messages import Analyse, Analysed, CloseSession, Ready, Stop
from server.inference.slots import SlotReader

log = logging.getLogger(__name__)


class ChildSession:
    """One session's pipeline state and frame slot in the child. Its lock keeps a close from freeing the
    slot under a running analysis, and the background lane's results in order."""

    def __init__(self, session_pipeline: SessionPipeline, background: ThreadPoolExecutor) -> None:
        self.session_pipeline = session_pipeline
        self.background = background
        self.reader = SlotReader()
        self.lock = threading.Lock()
        self.closed = False
        self._background_busy = False
        #: slow-stage results finished since the last answer
        self._rated_done: list[Mapping[str, StageOutput]] = []

    def analyse(self, req: Analyse) -> Analysed:
        with self.lock:
            if self.closed:
                return Analysed(req.request_id, None, error="session closed")
            rgb = self.reader.copy(req.frame)
            frame = VideoFrame(rgb, t=req.t, pts=req.pts, frame_id=req.frame_id, received_ms=req.received_ms)
            analysis = self.session_pipeline.analyse(frame, defer_rated=True, refresh=req.refresh)
            rated, self._rated_done = tuple(self._rated_done), []
            self._start_background(frame, dict(analysis.outputs))
        return Analysed(req.request_id, analysis, rated)

    def _start_background(self, frame: VideoFrame, outputs: dict[str, StageOutput]) -> None:
        if self._background_busy:
            return
        due = self.session_pipeline.due_rated(frame.t, outputs)
        if not due:
            return
        self._background_busy = True
        job = self.background.submit(self.session_pipeline.run_rated, frame, outputs, due)
        job.add_done_callback(self._background_done)

    def _background_done(self, job: Future[dict[str, StageOutput]]) -> None:
        with self.lock:
            self._background_busy = False
            if job.cancelled():
                return
            exc = job.exception()
            if exc is not None:
                log.warning("background stages failed", exc_info=exc)
                return
            self._rated_done.append(job.result())

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.reader.close()


def serve(conn: Connection, load_pipeline: Callable[[], Pipeline], threads: int) -> None:
    """The child's main: answer requests until `Stop` or the worker's end of the pipe closes."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s inference: %(message)s")
    pipeline = load_pipeline()
    conn.send(Ready(pipeline.health()))
    sessions: dict[str, ChildSession] = {}
    send_lock = threading.Lock()
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="inference")
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference-background")

    def answer(session: ChildSession, req: Analyse) -> None:
        try:
            reply = session.analyse(req)
        except Exception as exc:  # one bad request must not end the child
            log.warning("analysis of frame %s failed", req.frame_id, exc_info=True)
            reply = Analysed(req.request_id, None, error=f"{type(exc).__name__}: {exc}")
        with send_lock:
            try:
                conn.send(reply)
            except (OSError, ValueError):  # the worker is gone; the main loop sees EOF and ends
                pass
            except Exception as exc:  # an unpicklable result: that request fails, the child goes on
                conn.send(Analysed(req.request_id, None, error=f"answer not sent: {type(exc).__name__}: {exc}"))

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if isinstance(msg, Stop):
            break
        if isinstance(msg, CloseSession):
            closing = sessions.pop(msg.session_id, None)
            if closing is not None:
                executor.submit(closing.close)  # after its running analysis, off the reading thread
        elif isinstance(msg, Analyse):
            session = sessions.get(msg.session_id)
            if session is None:
                session = sessions[msg.session_id] = ChildSession(pipeline.new_session(), background)
            executor.submit(answer, session, msg)
    executor.shutdown(wait=True, cancel_futures=True)
    background.shutdown(wait=True, cancel_futures=True)
    for session in sessions.values():
        session.close()
    conn.close()
