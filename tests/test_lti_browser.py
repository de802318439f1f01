"""An LTI launch in headless Chromium: the LMS (simulated in tests/test_lti.py, its authorisation endpoint
auto-posting the signed id_token as a real one does) starts the OIDC login, the browser follows the
redirects and form posts with the tool's state cookie, and the Learner's page runs `<vigil-proctor>` on
the session the launch made, with the face clip as the camera: consent (no candidate id or join code to
type), the system check (face found while the session is still `created`), then live, a reload of the
page (the same session resumes), and finish. The
page never creates a session of its own. A launch whose session ended before the consent (or outlived
`VIGIL_CREATED_TTL`) is told so in the check, with no way to start.

ICE note: as tests/test_exam_browser.py, this relies on a non-loopback network interface.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.browser import chromium_missing_reason, launch_chromium, make_y4m
from tests.conftest import FACE_CLIP
from tests.test_lti import CLIENT_ID, INSTRUCTOR, Platform, launch_as, platform, tool  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 30_000
CONSENT_SCREENSHOT = Path("/tmp/lti_learner_consent.png")
CHECK_SCREENSHOT = Path("/tmp/lti_learner_check.png")
SCREENSHOT = Path("/tmp/lti_learner_live.png")
RELOADED_SCREENSHOT = Path("/tmp/lti_learner_reloaded.png")


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    return make_y4m(FACE_CLIP, tmp_path_factory.mktemp("fake-media") / "camera.y4m", seconds=6.0)


async def learner_login(base: str, lms: Platform, learner: str) -> str:
    """The activity given a proctor (an Instructor's launch), and the LMS's login URL for `learner`."""
    status, _ = await launch_as(base, lms, roles=INSTRUCTOR, sub="teacher-b")
    assert status == 200
    return base + "/lti/login?" + urlencode({"iss": lms.issuer, "login_hint": f"learner:{learner}",
                                             "target_link_uri": base + "/lti/launch", "client_id": CLIENT_ID})


async def test_a_learner_launched_from_the_lms_goes_live_in_the_embedded_client(
        tool, platform: Platform, camera: Path) -> None:  # noqa: F811  (the fixtures)
    login = await learner_login(tool.url, platform, "student-b")
    async with launch_chromium(camera) as context:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        creates: list[str] = []
        page.on("request", lambda r: creates.append(r.url) if r.method == "POST" and r.url.endswith("/api/sessions")
                else None)
        await page.goto(login)  # -> the LMS's /auth -> its form post to /lti/launch
        await page.wait_for_selector("#agree", timeout=WAIT_MS)
        launch = json.loads(await page.text_content("#vigil-launch") or "{}")
        assert await page.get_attribute("body", "data-vigil-state") == "consent"
        assert not await page.is_visible("#candidate") and not await page.is_visible("#joincode")
        await page.screenshot(path=str(CONSENT_SCREENSHOT))

        await page.click("#agree")  # consent -> the system check on the launch's session
        await page.wait_for_selector('#check-face[data-code="ok"]', timeout=WAIT_MS)
        await page.wait_for_selector("#begin:not([disabled])", timeout=WAIT_MS)
        assert await page.get_attribute("body", "data-vigil-state") == "checking"
        session = await tool.store.session(launch["sessionId"])
        assert session["status"] == "created"  # the check's frames never make it live
        await page.screenshot(path=str(CHECK_SCREENSHOT))

        await page.click("#begin")
        await page.wait_for_function("document.body.dataset.vigilState === 'live'", timeout=WAIT_MS)
        assert await page.get_attribute("body", "data-vigil-session") == launch["sessionId"]
        await page.screenshot(path=str(SCREENSHOT))
        session = await tool.store.session(launch["sessionId"])
        assert session["status"] == "live" and session["candidate_id"] == "student-b"
        assert session["identity"].endswith(":student-b")

        # the launch answered a 303 to the session's page: a reload GETs it (never the one-time launch
        # again) and the element resumes the same session, without consent or a new session
        assert page.url == f"{tool.url}/lti/candidate/{launch['sessionId']}"
        await page.reload()
        await page.wait_for_function("document.body.dataset.vigilState === 'live'", timeout=WAIT_MS)
        assert await page.get_attribute("body", "data-vigil-session") == launch["sessionId"]
        assert json.loads(await page.text_content("#vigil-launch") or "{}") == launch
        await page.screenshot(path=str(RELOADED_SCREENSHOT))

        await page.click("#finish")
        await page.click("#finish-yes")
        await page.wait_for_function("document.body.dataset.vigilState === 'ended'", timeout=WAIT_MS)
        assert (await tool.store.session(launch["sessionId"]))["status"] == "ended"
        assert creates == [] and errors == []


async def test_a_launch_whose_session_has_ended_says_so_in_the_check(
        tool, platform: Platform, camera: Path) -> None:  # noqa: F811  (the fixtures)
    login = await learner_login(tool.url, platform, "student-c")
    async with launch_chromium(camera) as context:
        page = await context.new_page()
        await page.goto(login)
        await page.wait_for_selector("#agree", timeout=WAIT_MS)
        launch = json.loads(await page.text_content("#vigil-launch") or "{}")
        async with aiohttp.ClientSession() as http:  # ended before the student consents (or the TTL passed)
            async with http.post(f"{tool.url}/api/sessions/{launch['sessionId']}/end", json={},
                                 headers={"Authorization": f"Bearer {launch['token']}"}) as resp:
                assert resp.status == 200
        await page.click("#agree")
        await page.wait_for_selector('#check-network[data-code="status.session_gone"]', timeout=WAIT_MS)
        assert await page.is_disabled("#begin") and await page.is_visible("#retry")
