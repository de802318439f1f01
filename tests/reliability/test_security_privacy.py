"""Security and privacy: tokens bound and expiring, cross-site requests, no secrets in logs,
consent before any track, retention and deletion of all of a session's data."""
from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import aiohttp

from server.core.logs import JsonFormatter
from server.store.retention import sweep
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_THEN_EMPTY
from tests.test_accounts import PASSWORD, call, logged_in, login, make_user, new_exam


async def test_session_tokens_expire_and_stay_bound_to_their_session(vigil_server_factory, ledger) -> None:
    server = await vigil_server_factory(session_token_ttl=1)
    async with aiohttp.ClientSession() as http:
        st1, a = await call(http, "POST", server.url + "/api/sessions", json={"candidate_id": "a"})
        st2, b = await call(http, "POST", server.url + "/api/sessions", json={"candidate_id": "b"})
        assert st1 == st2 == 201
        status, _ = await call(http, "GET", f"{server.url}/api/sessions/{b['session_id']}", a["token"])
        assert status == 403
        await asyncio.sleep(2.2)
        status, body = await call(http, "GET", f"{server.url}/api/sessions/{a['session_id']}", a["token"])
        assert status == 401 and "expired" in body["error"]
    ledger.tried("token_checks", 2)


async def test_no_cors_and_cross_site_cookie_requests_are_refused(vigil_server, ledger) -> None:
    email = await make_user(vigil_server.store, "proctor")
    # unsafe=True: aiohttp keeps cookies for IP-address hosts (127.0.0.1) only when asked
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await login(http, vigil_server.url, email)
        cookie = http.cookie_jar.filter_cookies(vigil_server.url)
        assert "vigil_auth" in cookie
        async with http.get(vigil_server.url + "/api/live", headers={"Origin": "https://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        # the cookie rides along, the page is another site's: refused
        async with http.post(vigil_server.url + "/api/exams", json={"title": "x"},
                             headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 403 and "cross-site" in (await resp.json())["error"]
        # the same request from Vigil's own page origin is fine
        async with http.post(vigil_server.url + "/api/exams", json={"title": "x"},
                             headers={"Origin": vigil_server.url}) as resp:
            assert resp.status == 201
        # no Origin at all, or only another site's Referer: refused (was accepted)
        async with http.post(vigil_server.url + "/api/exams", json={"title": "x"}) as resp:
            assert resp.status == 403 and "Origin or Referer" in (await resp.json())["error"]
        async with http.post(vigil_server.url + "/api/exams", json={"title": "x"},
                             headers={"Referer": "https://evil.example/page"}) as resp:
            assert resp.status == 403
        async with http.post(vigil_server.url + "/api/exams", json={"title": "x"},
                             headers={"Referer": vigil_server.url + "/dashboard.html"}) as resp:
            assert resp.status == 201
        # a form-like body (text/plain: what a cross-site form can send) is refused even same-origin
        async with http.post(vigil_server.url + "/api/exams", data='{"title": "x"}',
                             headers={"Origin": vigil_server.url, "Content-Type": "text/plain"}) as resp:
            assert resp.status == 415
        # a bearer token (which another site cannot set) is not a cookie write
        async with http.post(vigil_server.url + "/api/exams", json={"title": "x"},
                             headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 201
        assert token
    ledger.tried("cross_site", 7)


async def test_no_secrets_in_logs(vigil_server, ledger) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        email = await make_user(vigil_server.store, "proctor")
        async with aiohttp.ClientSession() as http:
            token = await login(http, vigil_server.url, email)
            await call(http, "POST", vigil_server.url + "/api/auth/login", json={"email": email, "password": "wrong-" + PASSWORD})
            client = CandidateClient(vigil_server.url, FACE_THEN_EMPTY, candidate_id="logs")
            await client.connect()
            await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
            await client.end()
            await client.close()
            logging.getLogger("probe").info("a probe", extra={"token": token, "password": PASSWORD})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = stream.getvalue()
    assert text, "nothing was logged"
    for secret in (token, client.token, PASSWORD, "wrong-" + PASSWORD):
        assert secret not in text
    assert "[redacted]" in text
    ledger.tried("log_lines", text.count("\n"))


async def test_consent_comes_before_any_track(vigil_server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(vigil_server.url + "/") as resp:
            page = await resp.text()
        async with http.get(vigil_server.url + "/static/vigil-proctor.js") as resp:
            element = await resp.text()
        async with http.get(vigil_server.url + "/static/i18n/en.js") as resp:
            strings = await resp.text()
    assert 'data-vigil-state="consent"' in page and "<vigil-proctor" in page
    # the consent text (the page's strings live in the translation table) says what, how long, who
    consent = " ".join(line for line in strings.splitlines() if '"consent.' in line).lower()
    for words in ("camera", "microphone", "how long", "who sees it"):
        assert words in consent, words
    # the camera and microphone are opened only by the system check (`SystemCheck.open`), which the
    # element makes and opens in `runCheck` alone, and `runCheck` runs from the consent button (or a
    # retry after it): nothing before `runCheck` makes or opens the check
    before_check, check = element.split("async runCheck()")[0], element.split("async runCheck()")[1]
    assert "new SystemCheck" not in before_check and "openMedia" not in element and "getUserMedia" not in element
    assert "new SystemCheck" in check.split("\n  }\n")[0]
    assert 'this.$("agree").addEventListener("click", () => this.runCheck())' in element


async def test_ended_sessions_expire_and_deleting_removes_everything(vigil_server, ledger) -> None:
    store = vigil_server.store
    _, proctor = await logged_in(vigil_server, "proctor")
    _, admin = await logged_in(vigil_server, "admin")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, vigil_server.url, proctor, policy={"retention_days": 2})
        client = CandidateClient(vigil_server.url, FACE_THEN_EMPTY, candidate_id="privacy", join_code=exam["join_code"])
        await client.connect()
        client.send({"type": "browser", "event": "paste"})
        await client.wait_for(lambda m: any(e["type"] == "paste" for e in m.get("events", [])), timeout=20)
        await asyncio.sleep(1.0)
        await client.end()
        await client.close()
        sid = client.session_id
        ttl = await store.redis.ttl(f"vigil:session:{{{sid}}}")
        assert 2 * 86400 - 60 < ttl <= 2 * 86400
        assert 2 * 86400 - 60 < await store.redis.ttl(f"vigil:session:{{{sid}}}:events") <= 2 * 86400
        evidence = Path(vigil_server.settings.data_dir) / "evidence" / sid
        assert any(evidence.glob("*.jpg"))
        status, body = await call(http, "DELETE", f"{vigil_server.url}/api/sessions/{sid}", admin)
        assert status == 200, body
    assert not await store.redis.exists(f"vigil:session:{{{sid}}}", f"vigil:session:{{{sid}}}:events")
    assert not evidence.exists()
    # evidence of a session whose Redis data expired is swept
    orphan = Path(vigil_server.settings.data_dir) / "evidence" / ("ab" * 16)
    orphan.mkdir(parents=True)
    (orphan / "no_face-1.jpg").write_bytes(b"\xff\xd8")
    await store.redis.zadd("vigil:sessions:all", {"ab" * 16: 1.0})
    dirs, ids = await sweep(store, Path(vigil_server.settings.data_dir) / "evidence")
    assert dirs >= 1 and ids >= 1 and not orphan.exists()
    assert await store.redis.zscore("vigil:sessions:all", "ab" * 16) is None
    ledger.injected("retention_sweep")
