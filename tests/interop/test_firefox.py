"""Headless Firefox ESR (Debian) publishes the face clip to Vigil through the documented flow; about 5
analyses a second come back on its `vigil` data channel, with one face.

Firefox is driven over WebDriver BiDi (tests/interop/firefox.py). Its video is the face clip played in
a muted `<video>` and captured (`captureStream`): Firefox's own fake camera (`media.navigator.streams.fake`)
is a generated picture without a face, so the clip is what makes the "one face" check mean something;
its audio is the fake microphone (a tone). The page script is tests/interop/publish.js.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import FACE_CLIP, free_port
from tests.interop.firefox import launch_firefox
from tests.interop.helpers import HERE, Measured, firefox_missing_reason

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WINDOW_S = 8.0
#: bound on every wait: connection, first analysis, the window itself
WAIT_S = 40.0


@pytest.fixture(scope="module")
def firefox() -> None:
    reason = firefox_missing_reason()
    if reason:
        pytest.skip(reason)


def clip_as_webm(source: Path, out: Path, seconds: float = 8.0) -> Path:
    """The clip's first `seconds` as WebM/VP8 (PyAV, realtime encoder), which every Firefox build decodes;
    the page loops it."""
    import av

    with av.open(str(source)) as src, av.open(str(out), "w", format="webm") as dst:
        stream_in = src.streams.video[0]
        stream_out = dst.add_stream("libvpx", rate=stream_in.average_rate,
                                    options={"deadline": "realtime", "cpu-used": "8"})
        stream_out.width, stream_out.height, stream_out.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        stream_out.bit_rate = 1_000_000
        for frame in src.decode(stream_in):
            if frame.time is not None and frame.time > seconds:
                break
            for packet in stream_out.encode(frame):
                dst.mux(packet)
        for packet in stream_out.encode(None):
            dst.mux(packet)
    return out


@pytest.fixture
async def clip_url(tmp_path: Path) -> AsyncIterator[str]:
    """The WebM clip served with CORS, so the page (on Vigil's origin) may fetch it."""
    webm = await asyncio.get_running_loop().run_in_executor(None, clip_as_webm, FACE_CLIP, tmp_path / "clip.webm")

    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(webm, headers={"Access-Control-Allow-Origin": "*"})

    app = web.Application()
    app.router.add_get("/clip.webm", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/clip.webm"
    finally:
        await runner.cleanup()


async def test_firefox_gets_analyses_with_one_face(firefox: None, vigil_server, clip_url: str) -> None:  # type: ignore[no-untyped-def]
    async with launch_firefox() as page:
        await page.navigate(vigil_server.url + "/api/docs")  # any page of Vigil's origin
        await page.evaluate((HERE / "publish.js").read_text())
        sid = await page.evaluate(f"window.vigilPublish({{clipUrl: {json.dumps(clip_url)}}})")
        deadline = time.monotonic() + WAIT_S
        while True:
            raw = await page.evaluate(f"window.vigilMeasured({WINDOW_S * 1000})")
            measured = None if raw is None else json.loads(raw)
            if measured is not None and measured["now"] - measured["first"] > WINDOW_S * 1000:
                break
            assert time.monotonic() < deadline, f"Firefox: no full {WINDOW_S} s of analyses within {WAIT_S} s: {measured}"
            await asyncio.sleep(0.5)
        answer = await page.evaluate("window.vigil.answer")
    assert "a=setup:passive" in answer
    print(f"Firefox: {len(measured['faces']) / WINDOW_S:.2f} analyses/s, faces {measured['faces']}")
    Measured(len(measured["faces"]) / WINDOW_S, measured["faces"]).assert_reaches_bar("Firefox ESR")
    data = await vigil_server.store.session(sid)
    assert data is not None and "peer_error" not in data
