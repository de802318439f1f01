"""An LTI launch in headless Chromium: the LMS (simulated in tests/test_lti.py, its authorisation endpoint
auto-posting the signed id_token as a real one does) starts the OIDC login, the browser follows the
redirects and form posts with the tool's state cookie, and the Learner's page runs the embedded client on
the session the launch made, with the face clip as the camera, until it is live.

ICE note: as tests/test_exam_browser.py, this relies on a non-loopback network interface.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.browser import chromium_missing_reason, launch_chromium, make_y4m
from tests.conftest import FACE_CLIP
from tests.test_lti import CLIENT_ID, INSTRUCTOR, Platform, launch_as, platform, tool  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 30_000
SCREENSHOT = Path("/tmp/lti_learner_live.png")


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    return make_y4m(FACE_CLIP, tmp_path_factory.mktemp("fake-media") / "camera.y4m", seconds=6.0)


async def test_a_learner_launched_from_the_lms_goes_live_in_the_embedded_client(
        tool, platform: Platform, camera: Path) -> None:  # noqa: F811  (the fixtures)
    base = tool.url
    status, _ = await launch_as(base, platform, roles=INSTRUCTOR, sub="teacher-b")  # the activity has a proctor
    assert status == 200
    login = base + "/lti/login?" + urlencode({"iss": platform.issuer, "login_hint": "learner:student-b",
                                              "target_link_uri": base + "/lti/launch", "client_id": CLIENT_ID})
    async with launch_chromium(camera) as context:
        page = await context.new_page()
        await page.goto(login)  # -> the LMS's /auth -> its form post to /lti/launch
        await page.wait_for_selector("#start", timeout=WAIT_MS)
        launch = json.loads(await page.text_content("#vigil-launch") or "{}")
        await page.click("#start")
        await page.wait_for_function("document.body.dataset.vigilState === 'live'", timeout=WAIT_MS)
        await page.screenshot(path=str(SCREENSHOT))
        session = await tool.store.session(launch["sessionId"])
        assert session["status"] == "live" and session["candidate_id"] == "student-b"
        assert session["identity"].endswith(":student-b")
        await page.click("#finish")
        await page.wait_for_function("document.body.dataset.vigilState === 'ended'", timeout=WAIT_MS)
