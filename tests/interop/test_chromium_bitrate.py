"""Chromium honours the video bitrate cap in Vigil's answer (`b=AS`/`b=TIAS`, and the REMB it sends).

Headless Chromium publishes the face clip (its fake camera, tests/browser.py) through the documented flow
(tests/interop/publish.js). `getStats()`'s `outbound-rtp` video `bytesSent` (payload, no headers) is read
once a second. With a low cap the rate over every 2 s stays under the cap; the same page against a
server with a cap far above what the encoder wants sends well over that low cap, so the first result is
the cap's doing, not a clip too easy to need more.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.browser import chromium_missing_reason, launch_chromium, make_y4m
from tests.conftest import FACE_CLIP
from tests.interop.helpers import HERE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOW_CAP_KBPS = 150
HIGH_CAP_KBPS = 5000
#: Chromium's rate control is measured to settle within about 2 s of the first analysis.
SETTLE_S = 3
SAMPLES = 8
#: over the whole measurement, for packetisation overhead
TOLERANCE = 1.15
#: one 2 s window may hold a keyframe (a busy server's decoder asks for them after a shed)
WINDOW_TOLERANCE = 1.6


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    return make_y4m(FACE_CLIP, tmp_path_factory.mktemp("camera") / "camera.y4m", seconds=8.0)


async def video_kbps(server_url: str, camera: Path) -> tuple[list[float], str]:
    """kbit/s of the page's video sender over each 2 s, once settled; and the answer's SDP."""
    async with launch_chromium(camera) as context:
        page = await context.new_page()
        await page.goto(server_url + "/api/docs")  # any page of Vigil's origin
        await page.add_script_tag(content=(HERE / "publish.js").read_text())
        await page.evaluate("() => window.vigilPublish({clipUrl: null})")
        await page.wait_for_function("() => window.vigil.analyses.length > 0", timeout=30_000)
        await asyncio.sleep(SETTLE_S)
        samples = []
        for _ in range(SAMPLES + 1):
            samples.append(json.loads(await page.evaluate("() => window.vigilOutboundVideo()")))
            await asyncio.sleep(1.0)
        answer = await page.evaluate("() => window.vigil.answer")
    rates = [8 * (b["bytes"] - a["bytes"]) / (b["at"] - a["at"]) for a, b in zip(samples, samples[2:], strict=False)]
    return rates, answer


async def test_chromium_stays_under_the_answers_cap(camera: Path, vigil_server_factory) -> None:  # type: ignore[no-untyped-def]
    capped = await vigil_server_factory(video_max_kbps=LOW_CAP_KBPS)
    rates, answer = await video_kbps(capped.url, camera)
    print(f"cap {LOW_CAP_KBPS} kbit/s: {[round(r) for r in rates]}")
    assert f"b=AS:{LOW_CAP_KBPS}" in answer and f"b=TIAS:{LOW_CAP_KBPS * 1000}" in answer
    assert sum(rates) / len(rates) <= LOW_CAP_KBPS * TOLERANCE, f"over the {LOW_CAP_KBPS} kbit/s cap: {rates}"
    assert max(rates) <= LOW_CAP_KBPS * WINDOW_TOLERANCE, f"a window far over the cap: {rates}"

    free = await vigil_server_factory(video_max_kbps=HIGH_CAP_KBPS)
    uncapped, _ = await video_kbps(free.url, camera)
    print(f"cap {HIGH_CAP_KBPS} kbit/s: {[round(r) for r in uncapped]}")
    assert sum(uncapped) / len(uncapped) > 1.5 * LOW_CAP_KBPS, f"the clip never needed more than the cap: {uncapped}"
