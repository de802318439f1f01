"""The proctor dashboard in headless Chromium: log in, see a live candidate, watch them, see their events.

The candidate is the scripted aiortc client streaming a real clip on an exam the proctor owns. The
dashboard page needs no camera, so Chromium gets no media permission: its offer would then carry
mDNS (`.local`) candidates that aioice resolves slowly, hence `WebRtcHideLocalIpsWithMdns` off. This
machine has a non-loopback interface, which both ICE agents use (see shared/BROWSER.md).
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP
from tests.test_accounts import PASSWORD, login, make_user, new_exam

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-features=WebRtcHideLocalIpsWithMdns",
         "--autoplay-policy=no-user-gesture-required"]


async def test_proctor_logs_in_sees_watches_and_gets_events(vigil_server) -> None:
    if not CHROMIUM.is_file():  # noqa: ASYNC240  # one stat before anything runs on the loop
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; `make browser-deps`)")
    from playwright.async_api import async_playwright

    base = vigil_server.url
    email = await make_user(vigil_server.store, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, await login(http, base, email))
    client = CandidateClient(base, FACE_CLIP, candidate_id="gina", join_code=exam["join_code"])
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=15)
        sid = client.session_id
        card = f'li.cand[data-session-id="{sid}"]'
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 768})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(base + "/dashboard.html")
                await page.wait_for_selector("#login-form", state="visible")
                await page.fill("#email", email)
                await page.fill("#password", PASSWORD)
                await page.click("#login-button")

                await page.wait_for_selector(f'{card}[data-status="live"]', timeout=20_000)
                await page.wait_for_function("document.body.dataset.vigilLive === '1'", timeout=10_000)
                assert "gina" in await page.inner_text(card)
                assert "1 live" in await page.inner_text("#status")  # the aria-live region says it in words
                assert await page.get_attribute("#status", "aria-live") == "polite"

                # an event raised on the candidate's data channel reaches the feed through pub/sub + SSE
                client.send({"type": "browser", "event": "paste"})
                item = await page.wait_for_selector(f'#events li[data-session-id="{sid}"][data-event-type="paste"]',
                                                    timeout=10_000)
                assert "gina" in await item.inner_text()

                await page.click(f"{card} .watch-button")
                await page.wait_for_function(
                    "() => { const v = document.getElementById('watch-video');"
                    " return v.videoWidth > 0 && v.currentTime > 0; }", timeout=25_000)
                video = "document.getElementById('watch-video')"
                width, t1 = await page.evaluate(f"[{video}.videoWidth, {video}.currentTime]")
                await asyncio.sleep(1.5)
                t2 = await page.evaluate(f"{video}.currentTime")
                assert width == 640 and t2 > t1, (width, t1, t2)
                # the watcher's own `vigil` data channel carries the candidate's analyses
                await page.wait_for_function(
                    "document.getElementById('watch-status').textContent.includes('faces')", timeout=10_000)

                await page.click("#watch-close")  # leaving never disturbs the candidate
                n = len(client.analyses())
                deadline = time.monotonic() + 10
                # a count with a deadline; the assert below reports it
                while len(client.analyses()) <= n + 2 and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
                assert len(client.analyses()) > n + 2
                assert await page.get_attribute("body", "data-vigil-live") == "1"
                assert not errors, errors
            finally:
                await browser.close()
    finally:
        await client.close()
