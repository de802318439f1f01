"""Editing an exam and renewing its join code over HTTP, against a live server and real Valkey."""
from __future__ import annotations

import asyncio

import aiohttp

from tests.test_accounts import call, logged_in, new_exam


async def _join(http: aiohttp.ClientSession, base: str, code: str) -> int:
    status, _ = await call(http, "POST", base + "/api/sessions", json={"candidate_id": "edit", "join_code": code})
    return status


async def test_patch_checks_the_policy_as_create_does_and_changes_only_what_is_given(vigil_server) -> None:
    base = vigil_server.url
    _, owner = await logged_in(vigil_server, "proctor")
    _, other = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, owner, policy={"retention_days": 7})
        url = f"{base}/api/exams/{exam['exam_id']}"
        status, body = await call(http, "PATCH", url, owner, json={"policy": {"verdict": {"review_at": 40}}})
        assert (status, body["code"], body["context"]["field"]) == (400, "invalid_policy", "verdict.review_at")
        status, body = await call(http, "PATCH", url, owner, json={"policy": {"retention_days": 0}})
        assert (status, body["context"]["field"]) == (400, "retention_days")
        assert (await call(http, "PATCH", url, other, json={"title": "mine now"}))[0] == 403
        status, body = await call(http, "PATCH", url, owner, json={"title": "Algebra II"})
        assert status == 200 and body["title"] == "Algebra II" and body["policy"] == {"retention_days": 7}
        status, body = await call(http, "PATCH", url, owner, json={"policy": None})
        assert status == 200 and body["policy"] is None and body["title"] == "Algebra II"
        assert body["join_code"] == exam["join_code"]  # an edit never changes the code


async def test_a_new_join_code_releases_the_old_one_even_when_two_race(vigil_server) -> None:
    base = vigil_server.url
    _, owner = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, owner)
        url = f"{base}/api/exams/{exam['exam_id']}/join-code"
        (s1, a), (s2, b) = await asyncio.gather(call(http, "POST", url, owner), call(http, "POST", url, owner))
        assert s1 == s2 == 200 and a["join_code"] != b["join_code"]
        _, listed = await call(http, "GET", base + "/api/exams", owner)
        current = next(e for e in listed["exams"] if e["exam_id"] == exam["exam_id"])["join_code"]
        assert current in (a["join_code"], b["join_code"])
        # only the exam's code admits: the original and the race's loser are both refused
        for code in {exam["join_code"], a["join_code"], b["join_code"]} - {current}:
            assert await _join(http, base, code) == 404
        assert await _join(http, base, current) == 201
