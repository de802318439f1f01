"""Accounts, exams and what each proctor sees, against a real server, real Valkey and real aiortc peers."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from server.accounts.users import Accounts
from server.core.metrics import REJECTED
from server.store.keys import ALL_SESSIONS, LIVE_SET, events_key, session_key
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, REPO

PASSWORD = "correct horse battery staple"


# -- helpers (also used by the auth matrix and the dashboard test) ------------------------------------
def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


async def make_user(store, role: str, tag: str | None = None) -> str:  # type: ignore[no-untyped-def]
    email = unique_email(tag or role)
    await Accounts(store.accounts, secret="").create_user(email, PASSWORD, role)  # type: ignore[arg-type]
    return email


async def call(http: aiohttp.ClientSession, method: str, url: str, token: str | None = None,
               **kw) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, headers=headers, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def login(http: aiohttp.ClientSession, base: str, email: str, password: str = PASSWORD) -> str:
    status, body = await call(http, "POST", base + "/api/auth/login", json={"email": email, "password": password})
    assert status == 200, body
    return body["token"]


async def logged_in(server, role: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A new user of `role` and a bearer token for it."""
    email = await make_user(server.store, role)
    async with aiohttp.ClientSession() as http:
        return email, await login(http, server.url, email)


async def new_exam(http: aiohttp.ClientSession, base: str, token: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    status, body = await call(http, "POST", base + "/api/exams", token, json={"title": "Algebra I", **extra})
    assert status == 201, body
    return body


async def wait_until(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


# -- accounts -----------------------------------------------------------------------------------------
async def test_register_login_profile_logout(vigil_server) -> None:
    base, redis = vigil_server.url, vigil_server.store.redis
    email = unique_email("Self")
    async with aiohttp.ClientSession() as http:
        st, user = await call(http, "POST", base + "/api/auth/register", json={"email": email, "password": PASSWORD})
        assert st == 201 and user["role"] == "candidate" and user["email"] == email.lower()
        st, body = await call(http, "POST", base + "/api/auth/register", json={"email": email, "password": PASSWORD})
        assert st == 409, body
        st, body = await call(http, "POST", base + "/api/auth/register",
                              json={"email": unique_email("x"), "password": PASSWORD, "role": "proctor"})
        assert st == 401, body  # self-registration makes candidates only
        st, body = await call(http, "POST", base + "/api/auth/register", json={"email": unique_email("x"), "password": "short"})
        assert st == 400, body
        st, body = await call(http, "POST", base + "/api/auth/register", json={"email": "not-an-email", "password": PASSWORD})
        assert st == 400, body

        stored = await redis.hgetall(f"vigil:user:{user['user_id']}")
        assert stored["password_hash"].startswith("$argon2id$")
        assert all(PASSWORD not in v for v in stored.values())
        assert await redis.get(f"vigil:user:email:{email.lower()}") == user["user_id"]

        async with http.post(base + "/api/auth/login", json={"email": email.upper(), "password": PASSWORD}) as resp:
            assert resp.status == 200
            body = await resp.json()
            set_cookie = resp.headers.getall("Set-Cookie")
        token = body["token"]
        assert body["token_type"] == "bearer" and body["user"]["role"] == "candidate"
        cookie = next(c for c in set_cookie if c.startswith("vigil_auth="))
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert "httponly" in flags and "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
        assert "secure" not in flags  # dev mode over plain http; production sets Secure

        st, profile = await call(http, "GET", base + "/api/auth/profile", token)
        assert st == 200 and profile["user_id"] == user["user_id"] and "password_hash" not in profile
    async with aiohttp.ClientSession(cookies={"vigil_auth": token}) as cookie_http:  # the page's way
        st, profile = await call(cookie_http, "GET", base + "/api/auth/profile")
        assert st == 200 and profile["email"] == email.lower()
    async with aiohttp.ClientSession() as http:
        st, body = await call(http, "POST", base + "/api/auth/logout", token)
        assert st == 200 and body["logged_out"] is True
        st, body = await call(http, "GET", base + "/api/auth/profile", token)
        assert st == 401, body  # the token is revoked, not just the cookie dropped
        st, body = await call(http, "POST", base + "/api/auth/login", json={"email": email, "password": "wrong password"})
        assert st == 401 and body["error"] == "wrong email or password"


async def test_failed_logins_are_rate_limited(vigil_server) -> None:
    base = vigil_server.url
    email = await make_user(vigil_server.store, "proctor")
    other = await make_user(vigil_server.store, "proctor")
    before = REJECTED.labels("login")._value.get()
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            st, _ = await call(http, "POST", base + "/api/auth/login", json={"email": email, "password": "guess guess"})
            assert st == 401
        st, body = await call(http, "POST", base + "/api/auth/login", json={"email": email, "password": PASSWORD})
        assert st == 429 and body["context"]["retry_after_s"] > 0  # even the right password waits
        assert REJECTED.labels("login")._value.get() == before + 1
        await login(http, base, other)  # another account from the same address is unaffected


# -- exams and visibility ---------------------------------------------------------------------------
async def test_exam_join_code_puts_a_candidate_on_the_exam(vigil_server) -> None:
    base, redis = vigil_server.url, vigil_server.store.redis
    _, owner = await logged_in(vigil_server, "proctor")
    _, other = await logged_in(vigil_server, "proctor")
    _, admin = await logged_in(vigil_server, "admin")
    async with aiohttp.ClientSession() as http:
        st, body = await call(http, "POST", base + "/api/exams", owner,
                              json={"title": "bad", "policy": {"no_such_key": 1}})
        assert st == 400 and "no_such_key" in body["error"]
        exam = await new_exam(http, base, owner, policy={"verdict": {"review_peak_risk": 35}})
        stored = await redis.hgetall(f"vigil:exam:{exam['exam_id']}")
        assert stored["title"] == "Algebra I" and json.loads(stored["policy"]) == {"verdict": {"review_peak_risk": 35}}
        assert await redis.get(f"vigil:joincode:{exam['join_code']}") == exam["exam_id"]

        st, created = await call(http, "POST", base + "/api/sessions",
                                 json={"candidate_id": "dora", "join_code": exam["join_code"].lower()})
        assert st == 201, created
        assert (await vigil_server.store.session(created["session_id"]))["exam_id"] == exam["exam_id"]

        def ids(body: dict) -> set[str]:
            return {e["exam_id"] for e in body["exams"]}

        assert exam["exam_id"] in ids((await call(http, "GET", base + "/api/exams", owner))[1])
        assert exam["exam_id"] not in ids((await call(http, "GET", base + "/api/exams", other))[1])
        assert exam["exam_id"] in ids((await call(http, "GET", base + "/api/exams", admin))[1])
        sid = created["session_id"]
        assert (await call(http, "GET", f"{base}/api/sessions/{sid}", owner))[0] == 200
        assert (await call(http, "GET", f"{base}/api/sessions/{sid}", other))[0] == 403


async def test_each_proctor_sees_only_their_exams_sessions(vigil_server) -> None:
    base = vigil_server.url
    _, alice = await logged_in(vigil_server, "proctor")
    _, bob = await logged_in(vigil_server, "proctor")
    _, admin = await logged_in(vigil_server, "admin")
    async with aiohttp.ClientSession() as http:
        exam_a, exam_b = await new_exam(http, base, alice), await new_exam(http, base, bob)
    clients = [CandidateClient(base, FACE_CLIP, candidate_id="ann", join_code=exam_a["join_code"]),
               CandidateClient(base, FACE_CLIP, candidate_id="ben", join_code=exam_b["join_code"])]
    try:
        for c in clients:
            await c.connect()
        sid_a, sid_b = clients[0].session_id, clients[1].session_id
        async with aiohttp.ClientSession() as http:
            async def live_ids(token: str) -> set[str]:
                st, body = await call(http, "GET", base + "/api/live", token)
                assert st == 200, body
                return {r["session_id"] for r in body["sessions"] if r["status"] == "live"}

            await wait_until(lambda: _has(live_ids(admin), {sid_a, sid_b}))
            assert sid_a in await live_ids(alice) and sid_b not in await live_ids(alice)
            assert sid_b in await live_ids(bob) and sid_a not in await live_ids(bob)
            st, body = await call(http, "GET", base + "/api/live", alice)
            row = next(r for r in body["sessions"] if r["session_id"] == sid_a)
            assert row["candidate_id"] == "ann" and isinstance(row["flags"], list) and "risk_score" in row

            st, body = await call(http, "GET", base + "/api/sessions?limit=500", alice)
            past = {s["session_id"] for s in body["sessions"]}
            assert sid_a in past and sid_b not in past
            assert all(s["exam_id"] == exam_a["exam_id"] for s in body["sessions"])

            # the live stream: alice gets her candidate's status messages and never bob's
            seen: set[str] = set()
            async with http.get(base + "/api/live/stream", headers={"Authorization": f"Bearer {alice}"}) as resp:
                assert resp.status == 200 and resp.content_type == "text/event-stream"
                deadline = time.monotonic() + 6
                while time.monotonic() < deadline:
                    line = (await asyncio.wait_for(resp.content.readline(), 5)).decode()
                    if line.startswith("data: "):
                        seen.add(json.loads(line[6:])["session_id"])
            assert seen == {sid_a}
    finally:
        for c in clients:
            await c.close()


async def _has(ids_coro, wanted: set[str]) -> bool:  # type: ignore[no-untyped-def]
    return wanted <= await ids_coro


async def test_admin_deletes_an_ended_session_and_its_data(vigil_server) -> None:
    base, redis = vigil_server.url, vigil_server.store.redis
    _, admin = await logged_in(vigil_server, "admin")
    client = CandidateClient(base, FACE_CLIP, candidate_id="erin")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=15)
        sid = client.session_id
        async with aiohttp.ClientSession() as http:
            st, body = await call(http, "DELETE", f"{base}/api/sessions/{sid}", admin)
            assert st == 409, body  # a live session is ended first
            await client.end()
            assert await redis.exists(session_key(sid), events_key(sid)) == 2
            st, body = await call(http, "DELETE", f"{base}/api/sessions/{sid}", admin)
            assert st == 200 and body == {"deleted": sid}
            assert await redis.exists(session_key(sid), events_key(sid)) == 0
            assert await redis.zscore(ALL_SESSIONS, sid) is None and not await redis.sismember(LIVE_SET, sid)
            assert (await call(http, "DELETE", f"{base}/api/sessions/{sid}", admin))[0] == 404
    finally:
        await client.close()


async def test_a_proctor_watches_over_webrtc_and_leaving_never_disturbs_the_candidate(vigil_server) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
    client = CandidateClient(base, FACE_CLIP, candidate_id="finn", join_code=exam["join_code"])
    watcher = RTCPeerConnection()
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=15)
        watcher.addTransceiver("video", direction="recvonly")
        channel = watcher.createDataChannel("vigil")
        got: list[dict] = []
        channel.on("message", lambda raw: got.append(json.loads(raw)))
        frames: list = []
        video_done = asyncio.Event()
        readers: list[asyncio.Future[None]] = []  # held, so a reader is not garbage-collected mid-read

        @watcher.on("track")
        def on_track(track) -> None:  # type: ignore[no-untyped-def]
            async def read() -> None:
                while len(frames) < 10:
                    frames.append(await track.recv())
                video_done.set()
            readers.append(asyncio.ensure_future(read()))

        await watcher.setLocalDescription(await watcher.createOffer())
        async with aiohttp.ClientSession() as http:
            st, answer = await call(http, "POST", f"{base}/api/sessions/{client.session_id}/watch", proctor,
                                    json={"sdp": watcher.localDescription.sdp, "type": "offer"})
        assert st == 200, answer
        await watcher.setRemoteDescription(RTCSessionDescription(**answer))
        await asyncio.wait_for(video_done.wait(), 20)
        assert frames[-1].width == 640 and frames[-1].height == 480
        await wait_until(lambda: _true(any(m.get("type") == "analysis" for m in got)))
        await watcher.close()  # the proctor leaves
        session = vigil_server.sessions.live[client.session_id]
        await wait_until(lambda: _true(not session.listeners), timeout=10)
        n = len(client.analyses())
        await asyncio.sleep(1.5)
        assert len(client.analyses()) > n and session.status == "live"  # the candidate never noticed
    finally:
        await watcher.close()
        await client.close()


async def _true(value: bool) -> bool:
    return value


async def test_vigil_user_add_creates_a_working_account(vigil_server, valkey_url) -> None:
    email = unique_email("cli-admin")
    vigil = REPO / ".venv" / "bin" / "vigil"
    cmd = [str(vigil)] if vigil.exists() else [sys.executable, "-m", "server.cli"]
    env = {**os.environ, "REDIS_URL": valkey_url, "VIGIL_USER_PASSWORD": PASSWORD}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, "user", "add", *args], env=env, capture_output=True, text=True,
                              timeout=60, cwd=REPO, stdin=subprocess.DEVNULL)

    done = await asyncio.to_thread(run, "--email", email, "--role", "admin")
    assert done.returncode == 0 and "created admin" in done.stdout, done.stderr
    again = await asyncio.to_thread(run, "--email", email, "--role", "proctor")
    assert again.returncode == 1 and "exists" in again.stderr
    async with aiohttp.ClientSession() as http:
        token = await login(http, vigil_server.url, email)
        st, profile = await call(http, "GET", vigil_server.url + "/api/auth/profile", token)
        assert st == 200 and profile["role"] == "admin"
