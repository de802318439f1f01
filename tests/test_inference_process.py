"""Model inference in a child process (`VIGIL_INFERENCE=process`, `server/inference/`): the real pipeline
in a spawned child, real frames of the face clip through shared memory, a child killed and replaced, and a
real aiortc candidate against a server that analyses in its child."""
from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest

from pipeline.frame import VideoFrame
from pipeline.stages.faces import FacesResult
from server.inference.host import InferenceHost, InferenceUnavailable
from server.inference.loading import load_pipeline
from server.inference.slots import FrameSlot, SlotReader
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP


def clip_frames(count: int) -> list[np.ndarray]:
    with av.open(str(FACE_CLIP)) as container:
        frames: Iterator[av.VideoFrame] = container.decode(video=0)
        return [next(frames).to_ndarray(format="rgb24") for _ in range(count)]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


@pytest.fixture
async def host() -> AsyncIterator[InferenceHost]:
    started = InferenceHost(load_pipeline, threads=1)
    await started.start()
    yield started
    await started.aclose()


def test_a_slot_grows_for_a_larger_frame_and_the_child_side_reads_a_copy() -> None:
    slot, reader = FrameSlot(), SlotReader()
    small = np.full((4, 6, 3), 7, dtype=np.uint8)
    large = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    first = slot.write(small)
    assert np.array_equal(reader.copy(first), small)
    second = slot.write(large)
    assert second.shm_name != first.shm_name
    copied = reader.copy(second)
    slot.write(small)  # the next frame must not change the copy the child holds
    assert np.array_equal(copied, large)
    reader.close()
    slot.close()
    slot.close()
    with pytest.raises(RuntimeError):
        slot.write(small)


async def test_the_child_analyses_real_frames_then_survives_being_killed(
        host: InferenceHost, executor: ThreadPoolExecutor) -> None:
    frames = clip_frames(30)
    remote = host.session("one")
    objects_status = []
    for i in itertools.count():  # until the background lane's first objects result rides on a frame
        answer = await remote.analyse(VideoFrame(frames[i % len(frames)], t=i * 0.2, frame_id=i + 1), executor)
        assert answer.analysis is not None and answer.analysis.frame_id == i + 1
        objects_status.append(answer.analysis.outputs["objects"].status)
        if objects_status[-1] == "ok":
            break
        await asyncio.sleep(0.2)  # the child's background lane runs the slow stages meanwhile
    faces = answer.analysis.result("faces", FacesResult)
    assert faces is not None and faces.count == 1
    assert objects_status[0] == "skipped" and objects_status[-1] == "ok"  # carried from the background lane
    remote.close()
    remote.close()
    with pytest.raises(InferenceUnavailable):
        await remote.analyse(VideoFrame(frames[0], t=9.0, frame_id=99), executor)

    other = host.session("two")
    first_pid = host.pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)
    with pytest.raises(InferenceUnavailable):  # in flight, or refused while the child restarts
        for i in range(100):
            await other.analyse(VideoFrame(frames[0], t=float(i), frame_id=i + 1), executor)
    while not host.ready:  # noqa: ASYNC110 - a new child loads its models (pytest's timeout bounds this)
        await asyncio.sleep(0.2)
    assert host.pid != first_pid and host.deaths == 1
    answer = await other.analyse(VideoFrame(frames[1], t=100.0, frame_id=200), executor)
    assert answer.analysis is not None
    faces = answer.analysis.result("faces", FacesResult)
    assert faces is not None and faces.count == 1
    other.close()


async def test_closing_the_host_twice_stops_the_child() -> None:
    host = InferenceHost(load_pipeline, threads=1)
    await host.start()
    pid = host.pid
    assert pid is not None
    await asyncio.gather(host.aclose(), host.aclose())
    await host.aclose()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: no such process


async def test_a_candidate_gets_analyses_from_a_server_that_infers_in_a_child(vigil_server_factory) -> None:
    server = await vigil_server_factory(inference="process")
    client = CandidateClient(server.url, FACE_CLIP, candidate_id="inference-process", with_audio=False)
    try:
        await client.connect()
        for _ in range(3):
            await client.wait_for(lambda m: m.get("type") == "analysis" and m.get("faces") == 1, timeout=30,
                                  after=len(client.messages))
        session = server.sessions.live[client.session_id]
        assert session.session_pipeline is None and session.remote is not None
        assert session.counters.analysis_errors == 0
    finally:
        await client.close()
