"""Human review as API resources: "AI flags, humans decide".

A real scripted candidate (aiortc, the 6 s face / 6 s empty clip) joins a proctor's exam with its
join code, raises a paste and a no_face flag and ends. The owning proctor then dismisses a flag with a
note and records the decision; both read back from `GET /review`, and appear in `report.json` and in
the PDF's text ("Human decision", the automatic verdict only as the AI's suggestion). Unknown event ids
are a 400 naming them, and a proctor of another exam gets 403. Real server, real Valkey, real peers.
"""
from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from server.reports.review import review_state
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_THEN_EMPTY
from tests.test_accounts import call, login, make_user, new_exam
from tests.test_reports import fetch, needs_poppler, pdf_text


async def _ended_session_with_flags(base: str, join_code: str) -> tuple[str, dict]:
    """A real session of the exam with a paste and a no_face flag, ended; its id and verdict summary."""
    client = CandidateClient(base, FACE_THEN_EMPTY, candidate_id="rita", join_code=join_code)
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis" and m.get("faces") == 1, timeout=15)
        client.send({"type": "browser", "event": "paste"})
        await client.wait_for(lambda m: m.get("type") == "analysis" and any(
            e["type"] == "no_face" and e["state"] == "started" for e in m.get("events", [])), timeout=25)
        summary = await client.end()
    finally:
        await client.close()
    assert client.session_id is not None
    return client.session_id, summary


@needs_poppler
async def test_a_proctor_dismisses_a_flag_and_decides_and_the_report_shows_both(
        vigil_server, tmp_path: Path) -> None:
    base = vigil_server.url
    owner_email = await make_user(vigil_server.store, "proctor", "owner")
    other_email = await make_user(vigil_server.store, "proctor", "other")
    async with aiohttp.ClientSession() as http:
        owner, other = await login(http, base, owner_email), await login(http, base, other_email)
        exam = await new_exam(http, base, owner)
        sid, summary = await _ended_session_with_flags(base, exam["join_code"])
        review_url = f"{base}/api/sessions/{sid}/review"

        status, before = await call(http, "GET", review_url, owner)
        assert status == 200, before
        assert before["decision"] is None and before["flags"] == []
        assert before["ai_suggestion"] == summary["verdict"]
        paste = next(e for e in before["unreviewed"] if e.startswith("paste-"))
        no_face = next(e for e in before["unreviewed"] if e.startswith("no_face-"))

        # unknown event ids: 400 naming them, nothing written
        status, body = await call(http, "PATCH", review_url, owner, json={
            "flags": {paste: {"status": "dismissed"}, "phone-9": {"status": "confirmed"}}})
        assert status == 400 and body["context"] == {"event_ids": ["phone-9"]}, body
        status, body = await call(http, "PATCH", review_url, owner, json={})
        assert status == 400, body
        status, body = await call(http, "PATCH", review_url, owner, json={"decision": {"decision": "guilty"}})
        assert status == 400, body

        # a proctor of another exam can neither read nor write it
        for method, kw in (("GET", {}), ("PATCH", {"json": {"decision": {"decision": "cleared"}}})):
            status, body = await call(http, method, review_url, other, **kw)
            assert status == 403, (method, body)

        status, after = await call(http, "PATCH", review_url, owner, json={
            "flags": {paste: {"status": "dismissed", "note": "pasted the formula sheet the exam allows"}}})
        assert status == 200, after
        status, after = await call(http, "PATCH", review_url, owner, json={
            "flags": {no_face: {"status": "confirmed", "note": "left the desk"}},
            "decision": {"decision": "inconclusive", "note": "ask the candidate about the absence"}})
        assert status == 200, after

        status, read = await call(http, "GET", review_url, owner)
        assert status == 200 and read == after
        marks = {f["event_id"]: f for f in read["flags"]}
        assert marks[paste]["status"] == "dismissed" and marks[paste]["type"] == "paste"
        assert marks[paste]["note"] == "pasted the formula sheet the exam allows"
        assert marks[no_face]["status"] == "confirmed"
        assert paste not in read["unreviewed"] and no_face not in read["unreviewed"]
        decision = read["decision"]
        assert decision["decision"] == "inconclusive" and decision["note"] == "ask the candidate about the absence"
        assert decision["by"]["email"] == owner_email and decision["by"]["user_id"]
        assert decision["at"] >= marks[paste]["at"] > 0

        # the stream keeps every review item, in order, after the verdict
        kinds = [i["kind"] for i in await vigil_server.store.events(sid)]
        assert kinds[-3:] == ["verdict", "review", "review"]

        # report.json carries the review; the AI's verdict stays where it was, named as a suggestion
        headers = {"Authorization": f"Bearer {owner}"}
        status, body, _ = await fetch(f"{base}/api/sessions/{sid}/report.json", headers)
        assert status == 200
        report = json.loads(body)
        assert report["review"] == read and report["verdict"]["verdict"] == summary["verdict"]

        status, body, _ = await fetch(f"{base}/api/sessions/{sid}/report.pdf", headers)
        assert status == 200
        pdf = tmp_path / "review.pdf"
        pdf.write_bytes(body)
        text = " ".join(pdf_text(pdf).split())
        assert "Human decision" in text and "Inconclusive" in text
        assert "ask the candidate about the absence" in text and owner_email in text
        assert f"AI suggestion: {summary['verdict']}" in text
        assert "pasted the formula sheet the exam allows" in text and "Dismissed" in text


def test_the_latest_mark_of_a_flag_stands_and_marks_of_unknown_flags_are_left_out() -> None:
    events = {"paste-1": {"type": "paste", "severity": "medium", "start": 1.0}}
    state = review_state("s", events, [], "REVIEW")
    assert state["decision"] is None and state["flags"] == [] and state["unreviewed"] == ["paste-1"]
    later = review_state("s", events, [
        {"kind": "review", "t": 5.0, "by": {"user_id": "u", "email": "a@b.c"},
         "flags": {"paste-1": {"status": "confirmed", "note": ""}}, "decision": None},
        {"kind": "review", "t": 6.0, "by": {"user_id": "v", "email": "d@e.f"},
         "flags": {"paste-1": {"status": "dismissed", "note": "ok"}, "gone-1": {"status": "confirmed"}},
         "decision": {"decision": "cleared", "note": ""}}], "REVIEW")
    assert later["flags"] == [{"event_id": "paste-1", "type": "paste", "severity": "medium", "status": "dismissed",
                               "note": "ok", "by": {"user_id": "v", "email": "d@e.f"}, "at": 6.0}]
    assert later["decision"] == {"decision": "cleared", "note": "", "by": {"user_id": "v", "email": "d@e.f"},
                                 "at": 6.0}
    assert later["unreviewed"] == [] and later["ai_suggestion"] == "REVIEW"


@needs_poppler
def test_proctor_messages_are_in_report_json_and_the_pdf(tmp_path: Path) -> None:
    """A proctor's messages to the candidate (the stream's `proctor_message` items) are listed in the
    report, in order, with who sent them and whether they reached the candidate; a review item's time
    (after the end) is not mistaken for one."""
    from server.reports.build import build_report
    from server.reports.document import ProctorMessage
    from server.reports.pdf import render_pdf

    kate = {"user_id": "u1", "email": "kate@example.org"}
    items = [
        {"kind": "score", "t": 101.0, "risk": 5.0, "attention": 90.0},
        {"kind": "proctor_message", "t": 130.5, "by": kate, "text": "Please keep your face in view.",
         "delivered": True},
        {"kind": "proctor_message", "t": 150.0, "by": kate, "text": "Put the phone away now", "delivered": False},
        {"kind": "review", "t": 900.0, "by": kate, "flags": {}, "decision": {"decision": "cleared", "note": ""}},
    ]
    session = {"session_id": "s1", "candidate_id": "rita", "status": "ended", "started_at": "100",
               "ended_at": "200"}
    report = build_report(session, items, exam_title="Maths", evidence_root=tmp_path, now=300.0)
    assert report.proctor_messages == [ProctorMessage(130.5, kate, "Please keep your face in view.", True),
                                       ProctorMessage(150.0, kate, "Put the phone away now", False)]
    assert json.loads(json.dumps(report.to_dict()))["proctor_messages"][1] == {
        "t": 150.0, "by": kate, "text": "Put the phone away now", "delivered": False}
    assert build_report(session, items[:1], exam_title=None, evidence_root=tmp_path,
                        now=300.0).proctor_messages == []

    pdf = tmp_path / "messages.pdf"
    pdf.write_bytes(render_pdf(report, None))
    text = " ".join(pdf_text(pdf).split())
    assert "Proctor messages (2)" in text
    assert "+0:30" in text and "Please keep your face in view." in text and "kate@example.org" in text
    assert "+0:50" in text and "Put the phone away now" in text and "no (channel could not take it)" in text
