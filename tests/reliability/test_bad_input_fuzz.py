"""Fuzzed HTTP bodies and hostile SDP: each gets a clear 4xx, and a live session keeps going."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.http.errors import ERROR_KEYS
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, REPO, free_port

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)
# bodies aimed at the real fields, so validation (not just JSON parsing) is exercised
SESSION_BODIES = st.fixed_dictionaries({}, optional={
    "candidate_id": st.text(max_size=200) | st.integers(), "exam_id": st.text(max_size=40) | st.none(),
    "join_code": st.text(max_size=40) | st.integers(), "extra": JSON})
OFFER_BODIES = st.fixed_dictionaries({}, optional={
    "sdp": st.text(max_size=400) | st.integers() | st.none(), "type": st.sampled_from(["offer", "answer", "", "x"])})
RAW = st.binary(max_size=2000)


def _is_error_shape(status: int, text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return 400 <= status < 500 and set(body) == ERROR_KEYS and "Traceback" not in text


async def test_fuzzed_bodies_get_4xx_and_a_live_session_keeps_going(vigil_server, ledger) -> None:
    base = vigil_server.url
    watcher = CandidateClient(base, FACE_CLIP, candidate_id="bystander")
    await watcher.connect()
    await watcher.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/api/sessions", json={"candidate_id": "fuzz"}) as resp:
            created = await resp.json()
        auth = {"Authorization": f"Bearer {created['token']}"}
        sid = created["session_id"]
        bad: list[tuple[str, int, str]] = []

        async def post(path: str, data: bytes, headers: dict[str, str]) -> None:
            async with http.post(base + path, data=data, headers={"Content-Type": "application/json", **headers}) as r:
                text = await r.text()
                if not _is_error_shape(r.status, text) and not (path == "/api/sessions" and r.status == 201):
                    bad.append((path, r.status, text[:200]))

        cases: list[tuple[str, bytes, dict[str, str]]] = []

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(SESSION_BODIES, OFFER_BODIES, JSON, RAW)
        def collect(session_body, offer_body, anything, raw) -> None:  # type: ignore[no-untyped-def]
            cases.append(("/api/sessions", json.dumps(session_body).encode(), {}))
            cases.append((f"/api/sessions/{sid}/offer", json.dumps(offer_body).encode(), auth))
            cases.append((f"/api/sessions/{sid}/resume", json.dumps(anything).encode(), auth))
            cases.append(("/api/auth/login", raw, {}))
            cases.append(("/api/exams", json.dumps(anything).encode(), auth))

        collect()
        huge = b'{"candidate_id": "' + b"x" * 1_000_000 + b'"}'
        deep = b"[" * 5000 + b"]" * 5000
        cases += [("/api/sessions", huge, {}), ("/api/sessions", deep, {}), ("/api/sessions", b"\x00\xff\xfe", {})]
        for path, data, headers in cases:
            await post(path, data, headers)
        ledger.tried("http_bodies", len(cases))
        assert not bad, bad[:5]
        async with http.get(base + "/health") as resp:
            assert resp.status == 200
    before = len(watcher.analyses())
    await asyncio.sleep(1.5)
    assert len(watcher.analyses()) > before  # the bystander never noticed
    await watcher.close()


HOSTILE_SDP = [
    "v=0\r\n" + "a=x\r\n" * 10000,
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 300,
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
    "a=fingerprint:sha-256 ZZ\r\na=setup:actpass\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\n",
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:\r\na=ice-pwd:\r\na=candidate:garbage\r\n",
    "v=0\r\nm=video 99999999999999 RTP 1\r\n\x00\x01\x02",
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 " + "é" * 5000 + "\r\n",
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
]


async def test_hostile_sdp_is_refused_and_the_session_can_still_connect(vigil_server, ledger) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="sdp-fuzz")
    await client.create()
    async with aiohttp.ClientSession() as http:
        for sdp in HOSTILE_SDP:
            async with http.post(f"{vigil_server.url}/api/sessions/{client.session_id}/offer",
                                 json={"sdp": sdp, "type": "offer"},
                                 headers={"Authorization": f"Bearer {client.token}"}) as resp:
                text = await resp.text()
                assert resp.status in (400, 413), (resp.status, text[:300])
                assert _is_error_shape(resp.status, text)
    ledger.tried("hostile_sdp", len(HOSTILE_SDP))
    assert (await vigil_server.store.session(client.session_id))["status"] == "created"
    await client.connect()  # a real offer still works after all that
    await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
    await client.close()


def _fuzz_admin_token(port: int, env: dict[str, str]) -> str:
    """An admin made with `vigil user add`, logged in: the bearer token the fuzzer sends."""
    email, password = "fuzz-admin@vigil.test", "fuzz-admin-password"
    subprocess.run([sys.executable, "-m", "server.cli", "user", "add", "--email", email, "--role", "admin",
                    "--password", password], cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    import urllib.request

    login = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/auth/login", method="POST",
                                   data=json.dumps({"email": email, "password": password}).encode(),
                                   headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(login, timeout=10) as resp:
        return str(json.loads(resp.read())["token"])


def test_schemathesis_finds_no_server_error(valkey_url, tmp_path, ledger) -> None:
    """Property-based fuzzing of every operation in the published OpenAPI description: no server error,
    and every answer (success or problem) matches the documented schema and media type."""
    port = free_port()
    env = dict(os.environ, REDIS_URL=valkey_url, VIGIL_DATA_DIR=str(tmp_path), VIGIL_LOG_LEVEL="WARNING")
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                import time

                time.sleep(0.5)
        token = _fuzz_admin_token(port, env)
        st_bin = os.path.join(os.path.dirname(sys.executable), "st")
        # as an admin, so the routes answer (not only 401) and their answers meet the response models;
        # logging out would revoke the token mid-run. No stateful phase: the description has no links, and
        # its link inference (schemathesis 4.32) crashes on fuzzed strings such as "http://[" in saved answers.
        run = subprocess.run([st_bin, "run", f"http://127.0.0.1:{port}/api/openapi.json",
                              "-H", f"Authorization: Bearer {token}", "--exclude-path", "/api/v1/auth/logout",
                              "--phases", "examples,coverage,fuzzing",
                              # every answer is also checked against the documented response model and
                              # media type (server/protocol/answers.py, server/http/openapi.py)
                              "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
                              "--max-examples", "15", "--seed", "1",
                              "--no-color"],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
        # the failures come before schemathesis's closing warnings (links it could not infer): show them
        report = run.stdout.split("WARNINGS")[0] if "FAILURES" in run.stdout else run.stdout
        assert run.returncode == 0, report[-4000:]
        match = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
        assert match and match.group(1) == match.group(2), run.stdout[-2000:]
        ledger.tried("schemathesis_cases", int(match.group(1)))
    finally:
        server.terminate()
        server.wait(timeout=20)
