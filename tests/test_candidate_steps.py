"""The exam policy's candidate steps reach the candidate's page: the create answer and, for the
candidate's own token only, GET /api/sessions/{id} carry the exam's `candidate` table (defaults when
the exam does not set it); a proctor reads null there."""
from __future__ import annotations

import aiohttp

from tests.test_accounts import call, logged_in, new_exam


async def test_the_exams_candidate_steps_reach_the_candidate_only(vigil_server) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        strict = await new_exam(http, base, proctor, policy={"candidate": {"system_check": "optional",
                                                                           "calibration": "required"}})
        plain = await new_exam(http, base, proctor)
        st, body = await call(http, "POST", base + "/api/exams", proctor,
                              json={"title": "bad", "policy": {"candidate": {"calibration": "never"}}})
        assert st == 400 and "candidate.calibration" in body["error"]

        st, created = await call(http, "POST", base + "/api/sessions",
                                 json={"candidate_id": "steps-1", "join_code": strict["join_code"]})
        assert st == 201 and created["candidate"] == {"system_check": "optional", "calibration": "required"}
        sid, token = created["session_id"], created["token"]
        st, view = await call(http, "GET", f"{base}/api/sessions/{sid}", token)
        assert st == 200 and view["candidate"] == created["candidate"]
        st, view = await call(http, "GET", f"{base}/api/sessions/{sid}", proctor)
        assert st == 200 and view["candidate"] is None and view["ice_servers"] is None

        st, created = await call(http, "POST", base + "/api/sessions",
                                 json={"candidate_id": "steps-2", "join_code": plain["join_code"]})
        assert created["candidate"] == {"system_check": "required", "calibration": "optional"}
