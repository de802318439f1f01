"""The calibration overlay in headless Chromium: "Calibrate gaze" -> "Start calibration" shows the
server's dots full screen with `data-vigil-state="calibrating"`, then the result in plain words with
a Redo button, and closing it returns the page to `live`. The fake camera (the face clip) does not
follow the dots, so the result is whatever the server measured; only the page's behaviour is asserted.
Before starting, the candidate measures the screen with a card (the rectangle resized to 400 px wide
is 85.6 mm): the calibration is then over a screen of known size.
"""
from __future__ import annotations

import json

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
        await page.click("#cal-size summary")
        await page.eval_on_selector("#cal-card-width", "e => { e.value = '400'; e.dispatchEvent(new Event('input')); }")
        assert await page.eval_on_selector("#cal-card", "e => e.getBoundingClientRect().width") == 400
        await page.click("#cal-card-done")
        assert "Screen measured" in (await page.text_content("#cal-card-note") or "")
        await page.click("#cal-start")
        await page.wait_for_selector("#cal-dot", state="visible", timeout=WAIT_MS)
        assert "Dot 1 of 12" in (await page.text_content("#cal-progress") or "")
        await page.wait_for_selector("#cal-redo", state="visible", timeout=40_000)
        text = await page.text_content("#cal-text") or ""
        assert "Calibration" in text and ("degrees" in text or "dots" in text), text
        assert await page.get_attribute("body", "data-vigil-state") == "calibrating"
        # the calibrated area's physical size came from the card: 85.6 mm per 400 CSS px
        inner_w = await page.evaluate("window.innerWidth")
        screen = json.loads((await vigil_server.store.session(sid))["calibration"])["screen"]
        assert abs(screen["width_mm"] - inner_w * 85.6 / 400) < 0.2, screen
        await page.click("#cal-close")
        assert await page.get_attribute("body", "data-vigil-state") == "live"
        assert not errors, errors
        # the page left its own full screen: an honest candidate is not flagged for it
        await page.wait_for_timeout(1500)
        kinds = [(e.get("kind"), e.get("event")) for e in await vigil_server.store.events(sid)]
        assert ("browser", "fullscreen_exit") not in kinds, kinds
