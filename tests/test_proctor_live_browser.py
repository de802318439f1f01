"""The proctor's exams and live pages in headless Chromium against a live server with real peers.

1. Exams: an exam created in the UI shows its join code; edited (title, retention, policy: a bad key is
   refused beside its field); given a new join code, after which a scripted candidate is refused with the
   old code and joins with the new one, and shows among the exam's candidates with a link to its review.
2. Live: a candidate on the real exam page (Chromium, fake camera and microphone) and a scripted one; the
   dashboard's grid shows both with thumbnails; a message typed on a card appears on the candidate's
   page and is logged in the session's event stream; Watch brings the candidate's video and audio; a
   feed item opens the session's review page; End on a card ends that session.

Screenshots go to the test's tmp dir (and /tmp/vigil-proctor-live-*.png to look at). ICE relies on a
non-loopback interface, as every browser test here (tests/browser.py).
"""
from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import pytest

from server.tools.candidate.candidate import CandidateClient, ClientError
from tests.browser import chromium_missing_reason, launch_chromium, make_wav, make_y4m
from tests.conftest import FACE_CLIP, eventually
from tests.test_accounts import PASSWORD, call, login, make_user, new_exam
from tests.test_dashboard_browser import FLAGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 60_000  # a generous bound for a loaded CI host; a healthy run takes a few seconds
SPEECH = "audio/speech/cmu_arctic_us_aew_a0001.wav"
MESSAGE = "Please keep your notes closed until the second part."
SHOTS = Path("/tmp")


@pytest.fixture(scope="module")
def chromium() -> None:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)


async def proctor_page(browser, base: str, email: str):  # type: ignore[no-untyped-def]
    """A new page logged in on the dashboard as `email`, with its page errors collected."""
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())  # New join code and End ask first
    await page.goto(base + "/dashboard.html")
    await page.wait_for_selector("#login-form", state="visible")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login-button")
    await page.wait_for_selector("#main", state="visible")
    return page, errors


async def shot(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    await page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    await page.screenshot(path=str(SHOTS / f"vigil-proctor-live-{name}.png"), full_page=True)


async def test_exam_edited_and_its_join_code_renewed_in_the_browser(vigil_server, chromium, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    base = vigil_server.url
    email = await make_user(vigil_server.store, "proctor")
    client: CandidateClient | None = None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
        try:
            page, errors = await proctor_page(browser, base, email)
            await page.click("nav >> text=Exams")
            await page.wait_for_selector("#create", state="visible")
            await page.fill("#title", "Chemistry midterm")
            await page.click("#create-button")
            await page.wait_for_selector("#created .code")
            old_code = (await page.inner_text("#created .code")).strip()
            row = page.locator("tr.exam", has_text="Chemistry midterm")
            assert (await row.locator(".join-code").inner_text()).strip() == old_code
            exam_id = await row.get_attribute("data-exam-id")

            # -- edit: a bad policy key is refused beside the policy, then title, retention and policy saved
            await row.locator(".edit-button").click()
            await page.fill("#edit-title", "Chemistry midterm (room B)")
            await page.fill("#edit-retention", "7")
            await page.fill("#edit-policy", '{"verdict": {"review_at": 40}}')
            await page.click("#edit-save")
            await page.wait_for_function(
                "document.getElementById('edit-policy-error').textContent.includes('verdict.review_at')")
            await page.fill("#edit-retention", "0")  # the policy's own bound: retention must be positive
            await page.fill("#edit-policy", '{"verdict": {"review_peak_risk": 45}}')
            await page.click("#edit-save")
            await page.wait_for_function(
                "document.getElementById('edit-retention-error').textContent.includes('retention_days')")
            await shot(page, tmp_path, "1-exam-edit-errors")
            await page.fill("#edit-retention", "7")
            await page.click("#edit-save")
            await page.wait_for_selector("#edit", state="detached")
            row = page.locator(f'tr.exam[data-exam-id="{exam_id}"]')
            assert (await row.locator(".title").inner_text()) == "Chemistry midterm (room B)"
            assert (await row.locator(".retention").inner_text()) == "7 days"
            assert "review_peak_risk" in await row.locator(".policy").inner_text()
            listed = await page.evaluate("() => fetch('/api/exams').then(r => r.json())")
            exam = next(e for e in listed["exams"] if e["exam_id"] == exam_id)
            assert exam["policy"] == {"verdict": {"review_peak_risk": 45}, "retention_days": 7}

            # -- a new join code: shown, the old one refused, the new one admits a scripted candidate ------
            await row.locator(".code-button").click()
            await page.wait_for_function(
                "([id, old]) => { const c = document.querySelector(`tr.exam[data-exam-id='${id}'] .join-code`);"
                " return c && c.textContent.trim() !== old; }", arg=[exam_id, old_code])
            new_code = (await row.locator(".join-code").inner_text()).strip()
            assert new_code != old_code and len(new_code) == 8
            assert new_code in await page.inner_text("#status")
            refused = CandidateClient(base, FACE_CLIP, candidate_id="late", join_code=old_code)
            with pytest.raises(ClientError) as caught:
                await refused.create()
            assert caught.value.status == 404 and caught.value.body["code"] == "unknown_join_code"
            assert refused.http is not None
            await refused.http.close()
            client = CandidateClient(base, FACE_CLIP, candidate_id="mona", join_code=new_code)
            await client.connect()
            await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
            assert (await vigil_server.store.session(client.session_id))["exam_id"] == exam_id

            # -- its candidates, present: a link to the session's review page ----------------------------
            await page.reload()
            await page.locator(f'tr.exam[data-exam-id="{exam_id}"] .candidates-button').click()
            cand = page.locator(f'tr.candidates[data-session-id="{client.session_id}"]')
            await cand.wait_for()
            assert await cand.locator("a", has_text="Review").get_attribute("href") == \
                f"/review.html?session={client.session_id}"
            await shot(page, tmp_path, "2-exams")
            assert not errors, errors
        finally:
            await browser.close()
            if client is not None:
                await client.close()


async def test_live_grid_thumbnails_message_watch_feed_and_end(vigil_server, chromium, shared_data: Path,
                                                               tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    base = vigil_server.url
    email = await make_user(vigil_server.store, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, await login(http, base, email))
    camera = make_y4m(FACE_CLIP, tmp_path / "camera.y4m", seconds=8.0)
    mic = make_wav(shared_data / SPEECH, tmp_path / "mic.wav")
    scripted = CandidateClient(base, FACE_CLIP, candidate_id="liam", join_code=exam["join_code"])
    async with launch_chromium(camera, mic) as candidate_browser, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
        try:
            # -- a candidate on the real exam page, and a scripted one -----------------------------------
            exam_page = await candidate_browser.new_page()
            cand_errors: list[str] = []
            exam_page.on("pageerror", lambda exc: cand_errors.append(str(exc)))
            await exam_page.goto(base + "/exam.html")
            await exam_page.fill("#candidate", "kate")
            await exam_page.fill("#joincode", exam["join_code"])
            await exam_page.click("#agree")
            await exam_page.wait_for_selector("#begin:not([disabled])", timeout=WAIT_MS)
            await exam_page.click("#begin")
            await exam_page.wait_for_selector('body[data-vigil-state="live"]', state="attached", timeout=WAIT_MS)
            kate = await exam_page.evaluate("window.vigilClient.sessionId")
            await scripted.connect()
            await scripted.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
            liam = scripted.session_id

            # -- the grid: both live, each with a thumbnail made from its analysed frames ------------------
            page, errors = await proctor_page(browser, base, email)
            await page.wait_for_function("document.body.dataset.vigilLive === '2'", timeout=WAIT_MS)
            assert await page.is_checked("#sort-risk")  # the grid follows the risk by default
            for sid in (kate, liam):
                card = f'li.cand[data-session-id="{sid}"]'
                await page.wait_for_selector(f'{card}[data-thumb="loaded"]', timeout=WAIT_MS)
                width = await page.eval_on_selector(f"{card} img.thumb", "img => img.naturalWidth")
                assert width == 200, width
            jpeg = await page.evaluate(
                "(sid) => fetch(`/api/sessions/${sid}/thumbnail.jpg`).then(async r => [r.status,"
                " r.headers.get('content-type'), btoa(String.fromCharCode(...new Uint8Array(await r.arrayBuffer())))])",
                liam)
            assert jpeg[0] == 200 and jpeg[1] == "image/jpeg" and base64.b64decode(jpeg[2])[:2] == b"\xff\xd8"
            await shot(page, tmp_path, "3-dashboard-grid")

            # -- a message typed on kate's card appears on her page, and in her session's event stream -----
            kate_card = page.locator(f'li.cand[data-session-id="{kate}"]')
            await kate_card.locator(".message-button").click()
            await kate_card.locator(".message-text").fill(MESSAGE)
            await kate_card.locator(".message-send").click()
            await page.wait_for_selector(f'li.cand[data-session-id="{kate}"][data-message="sent"]', timeout=WAIT_MS)
            shown = exam_page.locator("#proctor-messages-list li", has_text=MESSAGE)
            await shown.wait_for(timeout=WAIT_MS)
            assert await exam_page.is_visible("#proctor-messages")
            assert await exam_page.get_attribute("#proctor-messages-list", "aria-live") == "assertive"
            await exam_page.screenshot(path=str(tmp_path / "4-candidate-message.png"), full_page=True)
            await exam_page.screenshot(path=str(SHOTS / "vigil-proctor-live-4-candidate-message.png"), full_page=True)

            async def messages_logged() -> list[dict]:
                return [i for i in await vigil_server.store.events(kate) if i.get("kind") == "proctor_message"]
            logged = await eventually(messages_logged, 10, "the message in the event stream (through the outbox)")
            assert [(i["text"], i["by"]["email"], i["delivered"]) for i in logged] == [(MESSAGE, email, True)]

            # -- watch kate: her video and her microphone reach the proctor's page --------------------------
            await kate_card.locator(".watch-button").click()
            await page.wait_for_function(
                "() => { const v = document.getElementById('watch-video'); const s = v.srcObject;"
                " return s && s.getAudioTracks().length === 1 && v.videoWidth > 0 && v.currentTime > 0; }",
                timeout=WAIT_MS)
            assert not await page.evaluate("document.getElementById('watch-video').muted")
            await shot(page, tmp_path, "5-dashboard-watching")
            await page.click("#watch-close")

            # -- a feed item opens the session; End on liam's card ends his session -------------------------
            scripted.send({"type": "browser", "event": "paste"})

            async def paste_logged() -> bool:
                return any(i.get("kind") == "event_started" and i["event"]["type"] == "paste"
                           for i in await vigil_server.store.events(liam))
            state = await vigil_server.store.session(liam)
            await eventually(paste_logged, WAIT_MS / 1000, f"liam's paste to be logged (session {state.get('status')} "
                             f"{state.get('disconnect_reason')}, channel {scripted.channel.readyState})")
            item = page.locator(f'#events li[data-session-id="{liam}"][data-event-type="paste"] a').first  # started and ended
            await item.wait_for(timeout=WAIT_MS)
            assert await item.get_attribute("href") == f"/review.html?session={liam}"
            await page.click(f'li.cand[data-session-id="{liam}"] .end-button')
            await page.wait_for_selector(f'li.cand[data-session-id="{liam}"]', state="detached", timeout=WAIT_MS)
            assert (await vigil_server.store.session(liam))["status"] == "ended"
            assert await page.locator(f'li.cand[data-session-id="{kate}"]').count() == 1
            await item.click()
            await page.wait_for_url(f"**/review.html?session={liam}")
            await page.wait_for_function("['session', 'error'].includes(document.body.dataset.vigilView)",
                                         timeout=WAIT_MS)
            assert await page.get_attribute("body", "data-vigil-view") == "session"
            assert not errors, errors
            assert not cand_errors, cand_errors
        finally:
            await browser.close()
            await scripted.close()


async def test_message_to_a_session_not_live_is_refused(vigil_server) -> None:
    """No peer to carry it: 409, and nothing is logged."""
    base = vigil_server.url
    email = await make_user(vigil_server.store, "proctor")
    async with aiohttp.ClientSession() as http:
        token = await login(http, base, email)
        exam = await new_exam(http, base, token)
        status, made = await call(http, "POST", base + "/api/sessions",
                                  json={"candidate_id": "nina", "join_code": exam["join_code"]})
        assert status == 201
        sid = made["session_id"]
        status, body = await call(http, "POST", f"{base}/api/sessions/{sid}/message", token, json={"text": "hello"})
        assert (status, body["code"]) == (409, "session_not_live")
        status, body = await call(http, "POST", f"{base}/api/sessions/{sid}/message", token, json={"text": ""})
        assert status == 400
        assert not [i for i in await vigil_server.store.events(sid) if i.get("kind") == "proctor_message"]
