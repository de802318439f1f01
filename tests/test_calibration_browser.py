"""The calibration overlay in headless Chromium: "Calibrate gaze" -> "Start calibration" shows the
server's dots full screen with `data-vigil-state="calibrating"`, then the result in plain words with
a Redo button, and closing it returns the page to `live`. The fake camera (the face clip) does not
follow the dots, so the result is whatever the server measured; only the page's behaviour is asserted.
"""
from __future__ import annotations

import pytest

from tests.browser import launch_chromium
from tests.test_exam_browser import WAIT_MS, chromium, fake_media, start_exam  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_calibration_overlay_runs_the_dots_and_shows_the_result(vigil_server, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sid, _ = await start_exam(page, vigil_server, "browser-cal")
        await page.click("#calibrate")
        await page.wait_for_selector('body[data-vigil-state="calibrating"]', state="attached", timeout=WAIT_MS)
        await page.click("#cal-start")
        await page.wait_for_selector("#cal-dot", state="visible", timeout=WAIT_MS)
        assert "Dot 1 of 12" in (await page.text_content("#cal-progress") or "")
        await page.wait_for_selector("#cal-redo", state="visible", timeout=40_000)
        text = await page.text_content("#cal-text") or ""
        assert "Calibration" in text and ("degrees" in text or "dots" in text), text
        assert await page.get_attribute("body", "data-vigil-state") == "calibrating"
        await page.click("#cal-close")
        assert await page.get_attribute("body", "data-vigil-state") == "live"
        assert not errors, errors
        # the page left its own full screen: an honest candidate is not flagged for it
        await page.wait_for_timeout(1500)
        kinds = [(e.get("kind"), e.get("event")) for e in await vigil_server.store.events(sid)]
        assert ("browser", "fullscreen_exit") not in kinds, kinds
