"""The candidate's client in headless Chromium: it survives a dropped peer and a reload in the same
session, shows no risk score, says when the server stops answering, explains a denied camera, and its
calibration dialog closes on Escape.

The drop is the server's: the worker closes the candidate's peer (what a dying worker's peer looks like
from the browser: the data channel closes). The page must say it is reconnecting, fetch fresh ICE
servers, POST /resume and come back `live` with the same session id and the session's events intact.
"""
from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.browser import launch_chromium
from tests.test_exam_browser import (  # noqa: F401 (fixtures)
    LIVE_WITH_ONE_FACE,
    WAIT_MS,
    _is,
    chromium,
    fake_media,
    start_exam,
    store_status,
    until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSION_ID = "() => document.body.dataset.vigilSession"


async def test_a_dropped_peer_and_a_reload_resume_the_same_session(vigil_server, fake_media,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        states: list[str] = []
        await page.expose_function("noteState", lambda state: states.append(state))
        await page.add_init_script("""new MutationObserver(() => window.noteState(document.body.dataset.vigilState))
          .observe(document, { subtree: true, attributeFilter: ["data-vigil-state"] });""")
        sid, _ = await start_exam(page, vigil_server, "browser-resume")
        assert await page.evaluate(SESSION_ID) == sid
        await until(lambda: _is(store_status(vigil_server, sid), "live"), WAIT_MS / 1000, "Redis status live")
        # some history to keep: a paste in the exam is logged as a browser event
        await page.evaluate("document.dispatchEvent(new Event('paste'))")

        async def pasted() -> bool:
            return any(e.get("event") == "paste" for e in await vigil_server.store.events(sid))

        await until(pasted, WAIT_MS / 1000, "the paste in the session's events")
        events_before = await vigil_server.store.events(sid)

        # the worker drops the peer: the page reconnects by itself, in the same session
        states.clear()
        await vigil_server.sessions.live[sid].pc.close()
        await page.wait_for_selector('body[data-vigil-state="reconnecting"]', state="attached", timeout=WAIT_MS)
        assert "Reconnecting" in (await page.text_content("#status") or "")
        await page.wait_for_function(LIVE_WITH_ONE_FACE, timeout=WAIT_MS)
        assert await page.evaluate(SESSION_ID) == sid
        assert "error" not in states, states
        await until(lambda: _is(store_status(vigil_server, sid), "live"), WAIT_MS / 1000, "live after resume")
        events_after = await vigil_server.store.events(sid)
        assert events_after[:len(events_before)] == events_before
        # an honest candidate's browser raises no devtools nor full-screen flag by itself
        signals = {e.get("event") for e in events_after if e.get("kind") == "browser"}
        assert not signals & {"devtools", "fullscreen_exit"}, signals
        await page.screenshot(path=str(tmp_path / "exam_resumed.png"), full_page=True)

        # a reload of the tab resumes too (the token is in sessionStorage), with no new session
        await page.reload()
        await page.wait_for_function(LIVE_WITH_ONE_FACE, timeout=WAIT_MS)
        assert await page.evaluate(SESSION_ID) == sid
        assert len(await vigil_server.store.live_sessions()) == 1

        # the candidate never sees a score nor the raw event names
        text = (await page.inner_text("body")).lower()
        assert "risk" not in text and "score" not in text, text
        assert "_" not in await page.inner_text("#warnings")
        assert not errors, errors


async def test_a_silent_server_is_said_then_forgotten_when_analyses_return(vigil_server, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        sid, _ = await start_exam(page, vigil_server, "browser-silent")
        lane = vigil_server.sessions.live[sid].lane
        send = lane.send
        lane.send = lambda message: False  # the analysis stalls; the peer and its channel stay up
        await page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('not answering')", timeout=WAIT_MS)
        assert await page.get_attribute("#status", "data-kind") == "warn"
        assert await page.get_attribute("body", "data-vigil-state") == "live"
        lane.send = send
        await page.wait_for_function(LIVE_WITH_ONE_FACE, timeout=WAIT_MS)


async def test_calibration_dialog_takes_focus_and_escape_closes_it(vigil_server, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await start_exam(page, vigil_server, "browser-escape")
        await page.click("#calibrate")
        await page.wait_for_selector('body[data-vigil-state="calibrating"]', state="attached", timeout=WAIT_MS)
        assert await page.evaluate("document.getElementById('calibration').contains(document.activeElement)")
        await page.keyboard.press("Escape")
        await page.wait_for_selector("#calibration", state="hidden", timeout=WAIT_MS)
        assert await page.get_attribute("body", "data-vigil-state") == "live"
        assert await page.evaluate("document.activeElement.id") == "calibrate"


async def test_a_denied_camera_is_explained_in_the_system_check(vigil_server, fake_media, tmp_path: Path) -> None:  # noqa: F811
    camera, mic = fake_media
    async with launch_chromium(camera, mic, grant_media=False) as context:
        page = await context.new_page()
        await page.goto(vigil_server.url + "/")
        await page.click("#agree")
        await page.wait_for_selector("#retry", state="visible", timeout=WAIT_MS)
        text = await page.text_content("#check-status") or ""
        assert "blocked" in text and "allow" in text, text
        assert "DOMException" not in text and "NotAllowedError" not in text
        assert await page.is_disabled("#begin")
        assert await page.get_attribute("body", "data-vigil-state") == "checking"
        await page.screenshot(path=str(tmp_path / "exam_denied.png"), full_page=True)
    assert not await vigil_server.store.live_sessions()


async def test_an_unknown_join_code_goes_back_to_consent_with_the_reason(vigil_server, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.goto(vigil_server.url + "/")
        await page.fill("#joincode", "NO-SUCH-CODE")
        await page.click("#agree")
        await page.wait_for_selector("#consent-status", state="visible", timeout=WAIT_MS)
        assert "join code is not known" in (await page.text_content("#consent-status") or "")
        assert await page.get_attribute("body", "data-vigil-state") == "consent"
        assert not await page.is_visible("#check")
        # the camera the check opened is released
        assert await page.evaluate("document.getElementById('check-preview').srcObject.getTracks()"
                                   ".every((t) => t.readyState === 'ended')")


async def test_the_system_check_lists_devices_and_hears_the_microphone(vigil_server, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.goto(vigil_server.url + "/")
        await page.click("#agree")
        await page.wait_for_selector("#begin:not([disabled])", timeout=WAIT_MS)
        assert await page.eval_on_selector_all("#camera-select option", "o => o.length") >= 1
        assert await page.eval_on_selector_all("#mic-select option", "o => o.length") >= 1
        await page.wait_for_function("() => document.getElementById('check-preview').videoWidth > 0", timeout=WAIT_MS)
        # the fake microphone plays speech: the level meter moves
        await page.wait_for_function("() => document.getElementById('mic-level').dataset.heard === 'true'",
                                     timeout=WAIT_MS)
        # no ICE servers configured: the network test gathers host candidates and passes
        await page.wait_for_selector('#check-network[data-code="net.ok"]', timeout=WAIT_MS)
        # nothing was sent before the candidate starts the exam
        assert not await vigil_server.store.live_sessions()


async def test_favicon_is_served(vigil_server) -> None:
    async with aiohttp.ClientSession() as http, http.get(vigil_server.url + "/favicon.ico") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/svg+xml"
        assert (await resp.text()).startswith("<svg")


async def test_the_embedded_example_goes_through_the_check_to_live_and_finishes_with_confirmation(
        vigil_server, fake_media) -> None:  # noqa: F811
    """The demo exam embeds <vigil-proctor>: consent, the system check, live; its questions open on
    `vigil-ready`, and its own submit button finishes the session after the same confirmation."""
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(vigil_server.url + "/static/embed-example.html")
        assert await page.is_disabled("#questions input[name=q1]")
        await page.click("#agree")
        await page.wait_for_selector("#begin:not([disabled])", timeout=WAIT_MS)
        assert await page.get_attribute("body", "data-vigil-state") == "checking"
        await page.screenshot(path="/tmp/embed_check.png", full_page=True)
        await page.click("#begin")
        await page.wait_for_function(LIVE_WITH_ONE_FACE, timeout=WAIT_MS)
        await page.wait_for_selector("#questions:not([disabled])", timeout=WAIT_MS)
        sid = await page.evaluate("JSON.parse(sessionStorage.getItem('vigil.session')).id")
        await until(lambda: _is(store_status(vigil_server, sid), "live"), WAIT_MS / 1000, "Redis status live")
        await page.fill("#questions input[name=q1]", "42")
        await page.screenshot(path="/tmp/embed_live.png", full_page=True)
        await page.click("#submit")  # asks first
        assert await page.is_visible("#finish-confirm")
        await page.click("#finish-no")
        assert await store_status(vigil_server, sid) == "live"
        await page.click("#submit")
        await page.click("#finish-yes")
        await until(lambda: _is(store_status(vigil_server, sid), "ended"), WAIT_MS / 1000, "Redis status ended")
        await page.wait_for_selector("#questions[disabled]", state="attached", timeout=WAIT_MS)
        assert await page.evaluate("sessionStorage.getItem('vigil.session')") is None
        assert not errors, errors


async def test_the_page_speaks_french_when_asked(vigil_server, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.goto(vigil_server.url + "/?lang=fr")
        await page.wait_for_function("() => document.getElementById('agree')?.textContent.includes('accepte')",
                                     timeout=WAIT_MS)
        assert await page.text_content("#finish") == "Terminer l'examen"
        # the consent text, the labels, the placeholder and the calibration overlay too
        assert (await page.text_content("#consent p") or "").startswith("Cet examen est surveillé")
        assert "démonstration" in (await page.get_attribute("#joincode", "placeholder") or "")
        assert await page.get_attribute("html", "lang") == "fr"
        await page.evaluate("window.VigilCalibration.open()")
        assert await page.text_content("#cal-start") == "Commencer le calibrage"
        assert await page.get_attribute("#cal-card-width", "aria-label") == "Largeur du rectangle"


async def test_a_session_made_by_the_hosts_backend_is_offered_not_resumed(vigil_server, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    async with aiohttp.ClientSession() as http, \
            http.post(vigil_server.url + "/api/sessions", json={"candidate_id": "backend-made"}) as resp:
        created = await resp.json()
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        await page.goto(vigil_server.url + "/static/embed-example.html")
        await page.evaluate("""async ([id, token]) => {
          const { VigilClient } = await import("/static/vigil-client.js");
          window.embedded = VigilClient.start({ sessionId: id, joinToken: token, candidateId: "backend-made" });
        }""", [created["session_id"], created["token"]])
        await page.wait_for_function("() => window.embedded.state === 'live'", timeout=WAIT_MS)
        assert await page.evaluate("window.embedded.sessionId") == created["session_id"]
        await until(lambda: _is(store_status(vigil_server, created["session_id"]), "live"), WAIT_MS / 1000,
                    "the backend-made session live")
