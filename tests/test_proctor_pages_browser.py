"""The proctor's pages in headless Chromium against a live server with real scripted candidates: an exam created
on the exams page, its join code used by two candidates, the live grid sorted by risk and one session ended
from its card, then the review workspace: the ended sessions listed, a flag dismissed with a note and the
decision recorded, and report.json showing both. Screenshots of every page go to the test's tmp dir.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP
from tests.test_accounts import PASSWORD, make_user
from tests.test_dashboard_browser import CHROMIUM, FLAGS

pytestmark = pytest.mark.browser

BAD_POLICY = '{"verdict": {"review_at": 40}}'
GOOD_POLICY = '{"verdict": {"review_peak_risk": 40}}'
DISMISS_NOTE = "Pasted the formula sheet the exam allows"
DECISION_NOTE = "Tab switch was to the allowed calculator"


async def test_exam_to_decision_in_the_browser(vigil_server, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():  # noqa: ASYNC240  # one stat before anything runs on the loop
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; `make browser-deps`)")
    from playwright.async_api import async_playwright

    base = vigil_server.url
    email = await make_user(vigil_server.store, "proctor")
    clients: list[CandidateClient] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda dialog: dialog.accept())  # the End button's confirmation

            async def shot(name: str) -> None:
                await page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)

            # -- the exams page asks for a login, the dashboard's login brings the proctor back ----------------
            await page.goto(base + "/exams.html")
            await page.click("text=log in on the dashboard")
            await page.wait_for_selector("#login-form", state="visible")
            assert not await page.is_visible("#main")  # the empty grid stays hidden under the login form
            await shot("1-login")
            await page.fill("#email", email)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_url("**/exams.html")

            # -- create an exam: the API's policy error shows beside the field, then the join code ----------
            await page.wait_for_selector("#create", state="visible")
            await page.fill("#title", "Physics final")
            await page.fill("#policy", BAD_POLICY)
            await page.click("#create-button")
            await page.wait_for_function("document.getElementById('policy-error').textContent.includes('verdict.review_at')")
            assert await page.inner_text("#title-error") == ""
            await shot("2-exam-policy-error")
            await page.fill("#policy", GOOD_POLICY)
            await page.click("#create-button")
            await page.wait_for_selector("#created .code")
            join_code = (await page.inner_text("#created .code")).strip()
            row = page.locator("tr.exam", has_text="Physics final")
            assert (await row.locator(".join-code").inner_text()).strip() == join_code
            assert "review_peak_risk" in await row.inner_text()
            exam_id = await row.get_attribute("data-exam-id")

            # -- two candidates join with the code; the second hides its tab and pastes -------------------
            for name in ("hana", "ivan"):
                client = CandidateClient(base, FACE_CLIP, candidate_id=name, join_code=join_code)
                clients.append(client)
                await client.connect()
                await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
            calm, flagged = clients
            sid = flagged.session_id
            session = await vigil_server.store.session(sid)
            assert session["exam_id"] == exam_id

            await page.click("nav >> text=Live")
            await page.wait_for_function("document.body.dataset.vigilLive === '2'", timeout=20_000)
            await page.check("#sort-risk")
            flagged.send({"type": "browser", "event": "visibility_hidden"})  # risk climbs while the tab is hidden
            flagged.send({"type": "browser", "event": "paste"})
            # arrival order puts hana first: ivan leads only because the grid follows the risk (and the wait
            # for his risk to pass the exam policy's review_peak_risk gives the review a timeline to show)
            await page.wait_for_function(
                "(sid) => { const first = document.querySelector('#grid li.cand');"
                " return first && first.dataset.sessionId === sid && Number(first.querySelector('.risk').textContent) >= 40; }",
                arg=sid, timeout=30_000)
            risks = await page.eval_on_selector_all("#grid li.cand .risk", "els => els.map(e => Number(e.textContent))")
            assert risks == sorted(risks, reverse=True), risks
            await shot("3-dashboard-sorted")

            await page.click(f'li.cand[data-session-id="{sid}"] .end-button')
            await page.wait_for_selector(f'li.cand[data-session-id="{sid}"]', state="detached", timeout=15_000)
            assert (await vigil_server.store.session(sid))["status"] == "ended"
            await calm.end()

            # -- the exam's candidates, past and present ------------------------------------------------
            await page.click("nav >> text=Exams")
            await page.locator("tr.exam", has_text="Physics final").locator("text=Show candidates").click()
            for client in clients:
                await page.wait_for_selector(f'tr.candidates[data-session-id="{client.session_id}"][data-status="ended"]')
            await shot("4-exam-candidates")

            # -- the review list: both ended sessions need a decision ---------------------------------
            await page.click("nav >> text=Review")
            await page.wait_for_function("document.body.dataset.vigilDecisions === 'loaded'", timeout=20_000)
            for client in clients:
                await page.wait_for_selector(f'#sessions tr[data-session-id="{client.session_id}"][data-decision="none"]')
            await shot("5-review-list")
            rows = await page.eval_on_selector_all(
                "#sessions tbody tr", "rows => rows.map(r => [r.dataset.verdict, Number(r.dataset.peakRisk)])")
            rank = {"CHEATING": 0, "REVIEW": 1, "CLEAR": 2}
            keys = [(rank.get(verdict, 3), -peak) for verdict, peak in rows]
            assert keys == sorted(keys), rows
            listing = await page.evaluate("() => fetch('/api/sessions?limit=500').then(r => r.json())")
            peaks = {s["session_id"]: s.get("peak_risk") for s in listing["sessions"]}  # what the list sorts by

            # -- one session: dismiss the paste flag with a note, record the decision --------------------
            await page.click(f'#sessions tr[data-session-id="{sid}"] a')
            await page.wait_for_function("['session', 'error'].includes(document.body.dataset.vigilView)", timeout=20_000)
            assert await page.get_attribute("body", "data-vigil-view") == "session", (
                await page.inner_text("#status"), errors)
            assert await page.locator("svg.timeline .series-risk").count() >= 1
            assert await page.locator("svg.timeline rect.flag-band").count() >= 2  # tab hidden and paste
            assert "AI suggestion" in await page.inner_text("#session-view")
            assert await page.get_attribute("#decision-now", "data-decision") == "none"
            paste = page.locator('#flags tr[data-event-id^="paste"]')
            paste_id = await paste.get_attribute("data-event-id")
            await paste.locator("textarea").fill(DISMISS_NOTE)
            await paste.locator("button.dismissed").click()
            await page.wait_for_selector(f'#flags tr[data-event-id="{paste_id}"][data-status="dismissed"]')
            assert email in await paste.inner_text()
            await page.check('input[name="decision"][value="cleared"]')
            await page.fill("#decision-note", DECISION_NOTE)
            await page.click("#decision-save")
            await page.wait_for_selector('#decision-now[data-decision="cleared"]')
            assert email in await page.inner_text("#decision-now")
            await shot("6-review-session")

            report = await page.evaluate(
                "(sid) => fetch(`/api/sessions/${sid}/report.json`).then(r => r.json())", sid)
            (tmp_path / "report.json").write_text(json.dumps(report, indent=1))  # beside the screenshots
            review = report["review"]
            mark = next(f for f in review["flags"] if f["event_id"] == paste_id)
            assert (mark["status"], mark["note"], mark["by"]["email"]) == ("dismissed", DISMISS_NOTE, email)
            assert review["decision"]["decision"] == "cleared" and review["decision"]["note"] == DECISION_NOTE
            assert review["ai_suggestion"] == report["verdict"]["verdict"]
            assert peaks[sid] == report["verdict"]["peak_risk"] >= 40, (peaks, report["verdict"])
            assert review["ai_suggestion"] in ("REVIEW", "CHEATING")  # the exam's own review_peak_risk is 40

            # -- back on the list, "needs review" leaves out the decided session ----------------------------
            await page.click("text=All past sessions")
            await page.wait_for_function("document.body.dataset.vigilDecisions === 'loaded'", timeout=20_000)
            await page.check("#f-needs")
            await page.wait_for_selector(f'#sessions tr[data-session-id="{sid}"]', state="detached")
            assert await page.locator(f'#sessions tr[data-session-id="{calm.session_id}"]').count() == 1
            assert not errors, errors
        finally:
            await browser.close()
            for client in clients:
                await client.close()
