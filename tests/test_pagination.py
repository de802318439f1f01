"""Cursor pages (`next`) on the session listing, the exams and a session's events, and the events' `kind`
filter: every item once, in order, new items never shifting a page, a bad cursor a 400."""
from __future__ import annotations

import aiohttp

from tests.test_accounts import call, logged_in, new_exam


async def _all_pages(http: aiohttp.ClientSession, url: str, token: str, key: str) -> tuple[list[dict], int]:
    items: list[dict] = []
    pages, cursor = 0, None
    while True:
        sep = "&" if "?" in url else "?"
        st, page = await call(http, "GET", url + (f"{sep}cursor={cursor}" if cursor else ""), token)
        assert st == 200, page
        items += page[key]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            return items, pages


async def test_sessions_page_by_cursor_and_new_sessions_do_not_shift_a_page(vigil_server) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
        made = []
        for i in range(5):
            st, created = await call(http, "POST", base + "/api/v1/sessions",
                                     json={"candidate_id": f"page-{i}", "join_code": exam["join_code"]})
            assert st == 201, created
            made.append(created["session_id"])
        st, first = await call(http, "GET", base + "/api/v1/sessions?limit=2", proctor)
        assert st == 200 and [r["session_id"] for r in first["sessions"]] == made[::-1][:2] and first["next"]
        # a session created between two pages is newer than the cursor: it never shows up on later pages
        st, _ = await call(http, "POST", base + "/api/v1/sessions",
                           json={"candidate_id": "late", "join_code": exam["join_code"]})
        assert st == 201
        st, second = await call(http, "GET", f"{base}/api/v1/sessions?limit=2&cursor={first['next']}", proctor)
        assert [r["session_id"] for r in second["sessions"]] == made[::-1][2:4]
        rows, pages = await _all_pages(http, base + "/api/sessions?limit=2", proctor, "sessions")  # the alias too
        assert [r["session_id"] for r in rows][1:] == made[::-1] and pages == 4  # a full last page points on
        st, bad = await call(http, "GET", base + "/api/v1/sessions?cursor=not-a-cursor", proctor)
        assert st == 400 and bad["code"] == "invalid_parameter"


async def test_exams_page_by_cursor(vigil_server) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        made = [(await new_exam(http, base, proctor))["exam_id"] for _ in range(3)]
        st, everything = await call(http, "GET", base + "/api/v1/exams", proctor)
        assert st == 200 and [e["exam_id"] for e in everything["exams"]] == made[::-1] and everything["next"] is None
        rows, pages = await _all_pages(http, base + "/api/v1/exams?limit=1", proctor, "exams")
        assert [e["exam_id"] for e in rows] == made[::-1] and pages == 4  # the full third page points on


async def test_events_page_and_kind_filter(vigil_server) -> None:
    base, store = vigil_server.url, vigil_server.store
    _, admin = await logged_in(vigil_server, "admin")
    async with aiohttp.ClientSession() as http:
        st, created = await call(http, "POST", base + "/api/v1/sessions", json={"candidate_id": "events"})
        assert st == 201
        sid = created["session_id"]
        for second in range(7):  # the per-second risk series, with two other items among it
            await store.append_item(sid, {"kind": "score", "t": 1000.0 + second, "risk": float(second),
                                          "attention": None})
            if second in (2, 5):
                await store.append_item(sid, {"kind": "speech_started", "t": 1000.5 + second, "track_s": 1.0})
        url = f"{base}/api/v1/sessions/{sid}/events"
        st, whole = await call(http, "GET", url, admin)
        assert st == 200 and len(whole["events"]) == 9 and whole["next"] is None
        paged, pages = await _all_pages(http, url + "?limit=4", admin, "events")
        assert paged == whole["events"] and pages == 3
        scores, _ = await _all_pages(http, url + "?kind=score&limit=3", admin, "events")
        assert [e["risk"] for e in scores] == [float(s) for s in range(7)]
        speech, _ = await _all_pages(http, url + "?kind=speech_started,verdict", admin, "events")
        assert [e["t"] for e in speech] == [1002.5, 1005.5]
        st, bad = await call(http, "GET", url + "?kind=score,nonsense", admin)
        assert st == 400 and bad["code"] == "invalid_parameter" and bad["context"]["unknown"] == ["nonsense"]
        st, bad = await call(http, "GET", url + "?cursor=x", admin)
        assert st == 400


async def test_api_keys_page_by_cursor(vigil_server) -> None:
    base = vigil_server.url
    _, admin = await logged_in(vigil_server, "admin")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, admin)
        made = []
        for i in range(3):
            st, key = await call(http, "POST", base + "/api/v1/apikeys", admin,
                                 json={"name": f"page {i}", "exams": [exam["exam_id"]]})
            assert st == 201, key
            made.append(key["key_id"])
        rows, _ = await _all_pages(http, base + "/api/v1/apikeys?limit=2", admin, "keys")
        listed = [k["key_id"] for k in rows]
        assert [k for k in listed if k in made] == made[::-1] and len(listed) == len(set(listed))
