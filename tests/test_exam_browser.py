"""The exam page in headless Chromium, with a real face video as its camera, against a real Vigil server.

Given the labelled face clip as the camera and a CMU Arctic sentence as the microphone, a candidate who
consents sees the page go live and report one face, the server holds a live session, and "Finish exam"
ends it; closing the tab instead leaves the session `disconnected`, resumable, not `ended`. The system
check says "Face found" from the same clip without making the session live, and the client reports a
copy, a lost focus and a second screen. The exam policy's candidate steps decide the rest: a required
check offers no Skip and starts once the face is found, an optional one can be skipped, a required
calibration stays open until an attempt; a browser in French gets the page in French.

ICE note: this relies on the machine having a non-loopback network interface (Chromium and aioice both
skip 127.0.0.1 host candidates); see tests/browser.py and shared/BROWSER.md.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import chromium_missing_reason, launch_chromium, make_wav, make_y4m
from tests.conftest import FACE_CLIP

if TYPE_CHECKING:
    from playwright.async_api import Page, Response

    from tests.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Every wait on the page or the store is bounded; a broken page fails in seconds, not at CI's timeout.
WAIT_MS = 30_000
#: The server learns of a closed tab from the data channel's SCTP shutdown or the peer's state change.
DISCONNECT_WITHIN_S = 10.0
SPEECH = "audio/speech/cmu_arctic_us_aew_a0001.wav"
SCREENSHOT = Path("/tmp/exam_live.png")

#: The page is live and has just rendered an analysis with exactly one face.
LIVE_WITH_ONE_FACE = """() => {
  const b = document.body;
  return b.dataset.vigilState === "live" && b.dataset.vigilFaces === "1"
    && document.getElementById("status").textContent.includes("Face found");
}"""
CAMERA_OPEN = "() => { const v = document.getElementById('preview'); return v && v.videoWidth > 0; }"


@pytest.fixture(scope="module")
def chromium() -> None:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def fake_media(chromium: None, tmp_path_factory: pytest.TempPathFactory,
               shared_data: Path) -> tuple[Path, Path]:
    """The fake camera (first 8 s of the face clip, 4:2:0 y4m) and microphone, written once per module."""
    out = tmp_path_factory.mktemp("fake-media")
    camera = make_y4m(FACE_CLIP, out / "camera.y4m", seconds=8.0)
    return camera, make_wav(shared_data / SPEECH, out / "mic.wav")


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.1)


async def store_status(server: RunningServer, sid: str) -> str | None:
    data = await server.store.session(sid)
    return None if data is None else data.get("status")


async def start_exam(page: Page, server: RunningServer, candidate: str) -> tuple[str, dict[str, float]]:
    """Open the page, consent, pass the system check and wait for live + one face; the session id and the
    timings in seconds from the click on "Start the exam"."""
    await page.goto(server.url + "/")
    assert await page.get_attribute("body", "data-vigil-state") == "consent"
    await page.fill("#candidate", candidate)

    def is_create(r: Response) -> bool:
        return r.url.endswith("/api/sessions") and r.request.method == "POST"

    # consent; the system check opens the camera, then makes the session to test the network with
    async with page.expect_response(is_create, timeout=WAIT_MS) as info:
        await page.click("#agree")
    created = await (await info.value).json()
    await page.wait_for_selector("#begin:not([disabled])", timeout=WAIT_MS)
    t0 = time.monotonic()
    await page.click("#begin")
    timings: dict[str, float] = {}
    await page.wait_for_function(CAMERA_OPEN, timeout=WAIT_MS)
    timings["camera_open"] = time.monotonic() - t0
    await page.wait_for_selector('body[data-vigil-state="live"]', state="attached", timeout=WAIT_MS)
    timings["channel_open"] = time.monotonic() - t0
    await page.wait_for_function(LIVE_WITH_ONE_FACE, timeout=WAIT_MS)
    timings["one_face"] = time.monotonic() - t0
    return created["session_id"], timings


async def test_consent_goes_live_with_one_face_then_finish_ends_the_session(vigil_server, fake_media) -> None:
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sid, timings = await start_exam(page, vigil_server, "browser-alice")
        print(f"exam page timings after consent click: {timings}")

        status = page.locator("#status")
        assert await status.get_attribute("aria-live") == "polite"
        assert await status.get_attribute("role") == "status"
        assert await page.text_content("#fact-face") == "found"

        # the server holds the peer and has written the session live
        assert sid in vigil_server.sessions.live
        await until(lambda: _is(store_status(vigil_server, sid), "live"), WAIT_MS / 1000, "Redis status live")
        assert sid in await vigil_server.store.live_sessions()
        assert (await vigil_server.store.session(sid))["candidate_id"] == "browser-alice"
        # the page's hello on the channel's open was answered (docs/data-channel.md, "Versions and hello")
        welcome = await (await page.wait_for_function("window.vigilClient.welcome", timeout=WAIT_MS)).json_value()
        assert (welcome["type"], welcome["v"], welcome["session_id"]) == ("welcome", 1, sid)

        await page.screenshot(path=str(SCREENSHOT), full_page=True)

        await page.click("#finish")  # asks first
        assert await page.is_visible("#finish-confirm")
        await page.click("#finish-yes")
        await page.wait_for_selector('body[data-vigil-state="ended"]', state="attached", timeout=WAIT_MS)
        await until(lambda: _is(store_status(vigil_server, sid), "ended"), WAIT_MS / 1000,
                    "Redis status ended")
        assert sid not in await vigil_server.store.live_sessions()
        # the channel's close after the finish must not turn the page into an error
        await asyncio.sleep(1.0)
        assert await page.get_attribute("body", "data-vigil-state") == "ended"
        assert "ended" in (await status.text_content() or "")
        # the camera is released and the page offers nothing more to do
        assert await page.evaluate("document.getElementById('preview').srcObject === null")
        assert not await page.is_visible("#finish") and not await page.is_visible("#preview")
        assert not errors, errors


async def test_closing_the_tab_marks_the_session_disconnected_not_ended(vigil_server, fake_media) -> None:
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        sid, _ = await start_exam(page, vigil_server, "browser-bob")
        await until(lambda: _is(store_status(vigil_server, sid), "live"), WAIT_MS / 1000, "Redis status live")

        closed_at = time.monotonic()
        await page.close(run_before_unload=True)
        await until(lambda: _is(store_status(vigil_server, sid), "disconnected"), DISCONNECT_WITHIN_S,
                    "Redis status disconnected after the tab closed")
        print(f"disconnected {time.monotonic() - closed_at:.2f} s after the tab closed")
    data = await vigil_server.store.session(sid)
    assert data is not None and data["status"] == "disconnected"
    assert sid not in await vigil_server.store.live_sessions()
    # the worker keeps the session's history in memory for a resume, but its peer is gone
    session = vigil_server.sessions.live.get(sid)
    assert session is None or session.status == "disconnected"
    assert data.get("disconnect_reason"), data


async def _is(value: Awaitable[str | None], expected: str) -> bool:
    return await value == expected


CHECK_SCREENSHOT = Path("/tmp/exam_check_face_found.png")


async def test_the_system_check_finds_the_face_without_going_live(vigil_server, fake_media) -> None:
    """The check's stills of the preview (the face clip) come back "Face found"; the session they were
    sent with stays `created`, with nothing in its event log, and no proctor sees it."""
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(vigil_server.url + "/")

        def is_check_frame(r: Response) -> bool:
            return r.url.endswith("/check-frame") and r.request.method == "POST"

        async with page.expect_response(is_check_frame, timeout=WAIT_MS) as info:
            await page.click("#agree")
        sid = (await info.value).url.split("/")[-2]
        await page.wait_for_selector('#check-face[data-code="ok"]', timeout=WAIT_MS)
        assert await page.text_content("#check-face") == "Face found."
        assert await page.get_attribute("#check-face", "aria-live") == "polite"
        await page.screenshot(path=str(CHECK_SCREENSHOT), full_page=True)
        assert await store_status(vigil_server, sid) == "created"
        assert await vigil_server.store.events(sid) == []
        assert not await vigil_server.store.live_sessions()
        # "Start the exam" offers that very session; its check frames stop there
        await page.click("#begin")
        await page.wait_for_function(LIVE_WITH_ONE_FACE, timeout=WAIT_MS)
        assert await page.evaluate("document.body.dataset.vigilSession") == sid
        assert not errors, errors


async def test_the_client_reports_copy_lost_focus_and_a_second_screen(vigil_server, fake_media) -> None:
    """The page's own listeners (static/client/signals.js). Headless Chromium has one screen and keeps
    every page focused, so the page is told otherwise: `screen.isExtended` reads true from the start,
    and `document.hasFocus()` false once the window blurs."""
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.add_init_script(
            "Object.defineProperty(Screen.prototype, 'isExtended', { get: () => true, configurable: true });")
        sid, _ = await start_exam(page, vigil_server, "browser-signals")
        await page.evaluate("document.dispatchEvent(new Event('copy'))")
        await page.evaluate("document.hasFocus = () => false; window.dispatchEvent(new Event('blur'))")

        async def signals() -> list[str]:
            return [e["event"] for e in await vigil_server.store.events(sid) if e.get("kind") == "browser"]

        await until(lambda: _has(signals(), {"copy", "second_screen", "focus_lost"}), WAIT_MS / 1000,
                    "copy, second_screen and focus_lost in the session's events")
        await page.evaluate("document.hasFocus = () => true; window.dispatchEvent(new Event('focus'))")
        await until(lambda: _has(signals(), {"focus_regained"}), WAIT_MS / 1000, "focus_regained")
        assert (await signals()).count("second_screen") == 1


async def _has(value: Awaitable[list[str]], expected: set[str]) -> bool:
    return expected <= set(await value)


# -- the exam policy's candidate steps (pipeline/risk/policy.py CandidatePolicy) ------------------------
REQUIRED_CHECK_SCREENSHOT = Path("/tmp/exam_check_required.png")
OPTIONAL_CHECK_SCREENSHOT = Path("/tmp/exam_check_optional.png")
REQUIRED_CALIBRATION_SCREENSHOT = Path("/tmp/exam_calibration_required.png")


async def server_with_steps(factory, tmp_path: Path, **steps: str) -> RunningServer:  # type: ignore[no-untyped-def]
    """A server whose policy file (the demo exam's policy) sets the candidate steps given."""
    policy = tmp_path / "policy.toml"
    policy.write_text("[candidate]\n" + "".join(f'{k} = "{v}"\n' for k, v in steps.items()))
    return await factory(policy_path=policy)


async def test_a_required_system_check_has_no_skip_and_starts_once_the_face_is_found(vigil_server, fake_media) -> None:
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.goto(vigil_server.url + "/")
        async with page.expect_response(lambda r: r.url.endswith("/api/sessions"), timeout=WAIT_MS) as info:
            await page.click("#agree")
        assert (await (await info.value).json())["candidate"] == {"system_check": "required", "calibration": "optional"}
        await page.wait_for_selector("#begin:not([disabled])", timeout=WAIT_MS)
        # "Start the exam" came with the face found, and no way around the check is offered
        assert await page.get_attribute("#check-face", "data-code") == "ok"
        assert not await page.is_visible("#skip-check")
        await page.screenshot(path=str(REQUIRED_CHECK_SCREENSHOT), full_page=True)


async def test_an_optional_system_check_can_be_skipped(vigil_server_factory, fake_media, tmp_path: Path) -> None:
    server = await server_with_steps(vigil_server_factory, tmp_path, system_check="optional")
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.goto(server.url + "/")
        await page.click("#agree")
        await page.wait_for_selector("#skip-check", state="visible", timeout=WAIT_MS)
        assert await page.text_content("#skip-check") == "Skip the check"
        await page.screenshot(path=str(OPTIONAL_CHECK_SCREENSHOT), full_page=True)
        await page.click("#skip-check")
        await page.wait_for_function(LIVE_WITH_ONE_FACE, timeout=WAIT_MS)
        # a reloaded page reads the steps from GET /api/sessions/{id}: the client keeps them
        assert await page.evaluate("window.vigilClient.candidateSteps") == {"system_check": "optional",
                                                                             "calibration": "optional"}


async def test_a_required_calibration_stays_open_until_an_attempt(vigil_server_factory, fake_media,
                                                                   tmp_path: Path) -> None:
    server = await server_with_steps(vigil_server_factory, tmp_path, calibration="required")
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.add_init_script(
            "window.readyAt = null; document.addEventListener('vigil-ready', () => { window.readyAt = Date.now(); })")
        await page.goto(server.url + "/")
        await page.click("#agree")
        await page.wait_for_selector("#begin:not([disabled])", timeout=WAIT_MS)
        await page.click("#begin")
        # the first `live` opens the overlay by itself, with no way out before an attempt
        await page.wait_for_selector('body[data-vigil-state="calibrating"]', state="attached", timeout=WAIT_MS)
        await page.wait_for_selector("#calibration", state="visible", timeout=WAIT_MS)
        assert not await page.is_visible("#cal-close")
        await page.keyboard.press("Escape")
        assert await page.is_visible("#calibration")
        assert await page.evaluate("window.readyAt") is None
        await page.screenshot(path=str(REQUIRED_CALIBRATION_SCREENSHOT), full_page=True)
        await page.click("#cal-start")
        await page.wait_for_selector("#cal-redo", state="visible", timeout=40_000)
        # an attempt (whatever its result): the exam may begin, and the overlay closes again
        await page.wait_for_function("window.readyAt !== null", timeout=WAIT_MS)
        await page.click("#cal-close")
        assert await page.get_attribute("body", "data-vigil-state") == "live"


async def test_a_browser_in_french_gets_the_page_in_french(vigil_server, fake_media) -> None:
    """No ?lang= and no <html lang> on the exam page: the browser's languages decide."""
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.add_init_script(
            "Object.defineProperty(Navigator.prototype, 'languages', { get: () => ['fr-FR', 'en'] });"
            "Object.defineProperty(Navigator.prototype, 'language', { get: () => 'fr-FR' });")
        await page.goto(vigil_server.url + "/")
        await page.wait_for_function("() => document.getElementById('agree')?.textContent.includes('accepte')",
                                     timeout=WAIT_MS)
        assert await page.get_attribute("html", "lang") == "fr"
        # ?lang= still wins over the browser
        await page.goto(vigil_server.url + "/?lang=en")
        await page.wait_for_function("() => document.getElementById('agree')?.textContent.includes('I agree')",
                                     timeout=WAIT_MS)
