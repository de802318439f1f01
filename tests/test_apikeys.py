"""API keys and join tokens (docs/integration.md), against a real server and Valkey.

An integrator's backend creates sessions with its key on exams in the key's scope, asserting the
candidate's id, which becomes the session's identity: its documents are shared by that integrator's
sessions of the candidate and never seen by a join-code session typing the same id. A join token
minted by the key works once, expires, and dies with its key. `vigil apikey` and `vigil token` drive
the same records from the command line.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import aiohttp

from server.accounts.apikeys import identity_of
from server.http.keys import APIKEYS, JOIN_TOKENS
from tests.conftest import REPO
from tests.test_accounts import call, logged_in, new_exam

SCREEN = {"screen_w": 1536, "screen_h": 864, "dpr": 1.25}


async def _key(http: aiohttp.ClientSession, base: str, admin: str, *exams: str) -> dict:  # type: ignore[type-arg]
    status, made = await call(http, "POST", base + "/api/apikeys", admin, json={"name": "lms", "exams": list(exams)})
    assert status == 201, made
    assert made["key"].startswith(f"vk_{made['key_id']}.")
    return made


async def test_a_key_created_session_speaks_for_its_candidate_and_nobody_else_reads_its_documents(
        vigil_server) -> None:
    base, store = vigil_server.url, vigil_server.store
    _, admin = await logged_in(vigil_server, "admin")
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
        key = await _key(http, base, admin, exam["exam_id"])
        status, made = await call(http, "POST", base + "/api/sessions", key["key"],
                                  json={"candidate_id": "ext-7", "exam_id": exam["exam_id"]})
        assert status == 201, made
        session = await store.session(made["session_id"])
        assert session["identity"] == identity_of(key["key_id"], "ext-7") and session["exam_id"] == exam["exam_id"]
        status, _ = await call(http, "POST", base + "/api/screen/info", made["token"],
                               json={"candidate_id": "ext-7", **SCREEN})
        assert status == 200

        # a join-code session claiming the same candidate id sees nothing of it, nor does its proctor through it
        status, typed = await call(http, "POST", base + "/api/sessions",
                                   json={"candidate_id": "ext-7", "join_code": exam["join_code"]})
        assert status == 201 and "identity" not in await store.session(typed["session_id"])
        status, body = await call(http, "GET", base + "/api/screen/info/ext-7", typed["token"])
        assert status == 404, body
        status, body = await call(http, "GET", f"{base}/api/screen/info/ext-7?session_id={typed['session_id']}", proctor)
        assert status == 404, body
        # the key's next session of the candidate shares it
        status, again = await call(http, "POST", base + "/api/sessions", key["key"],
                                   json={"candidate_id": "ext-7", "exam_id": exam["exam_id"]})
        assert status == 201
        status, screen = await call(http, "GET", base + "/api/screen/info/ext-7", again["token"])
        assert status == 200 and screen["session_id"] == made["session_id"] and screen["screen_w"] == 1536


async def test_a_key_stays_in_its_scope_and_a_revoked_key_is_refused(vigil_server) -> None:
    base = vigil_server.url
    _, admin = await logged_in(vigil_server, "admin")
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam_a, exam_b = await new_exam(http, base, proctor), await new_exam(http, base, proctor)
        key = await _key(http, base, admin, exam_a["exam_id"])
        for path, body in (("/api/sessions", {"candidate_id": "c1", "exam_id": exam_b["exam_id"]}),
                           (f"/api/exams/{exam_b['exam_id']}/join-tokens", {"candidate_id": "c1"})):
            status, answer = await call(http, "POST", base + path, key["key"], json=body)
            assert status == 403, (path, answer)
        status, _ = await call(http, "POST", base + "/api/sessions", key["key"][:-2] + "xx",
                               json={"candidate_id": "c1", "exam_id": exam_a["exam_id"]})
        assert status == 401  # a wrong secret
        status, listed = await call(http, "GET", base + "/api/apikeys", admin)
        assert status == 200 and all("secret_hash" not in row and "key" not in row for row in listed["keys"])
        assert any(row["key_id"] == key["key_id"] and row["revoked_at"] is None for row in listed["keys"])
        status, minted = await call(http, "POST", f"{base}/api/exams/{exam_a['exam_id']}/join-tokens", key["key"],
                                    json={"candidate_id": "c1"})
        assert status == 201

        status, revoked = await call(http, "DELETE", f"{base}/api/apikeys/{key['key_id']}", admin)
        assert status == 200 and revoked["revoked_at"] is not None
        for path, body in (("/api/sessions", {"candidate_id": "c1", "exam_id": exam_a["exam_id"]}),
                           (f"/api/exams/{exam_a['exam_id']}/join-tokens", {"candidate_id": "c1"})):
            status, answer = await call(http, "POST", base + path, key["key"], json=body)
            assert status == 401, (path, answer)
        # and the token it minted before is void
        status, answer = await call(http, "POST", base + "/api/sessions",
                                    json={"candidate_id": "c1", "join_token": minted["join_token"]})
        assert status == 401, answer


async def test_a_join_token_makes_one_session_for_its_candidate_until_it_expires(vigil_server) -> None:
    base, store, app = vigil_server.url, vigil_server.store, vigil_server.app
    _, admin = await logged_in(vigil_server, "admin")
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
        key = await _key(http, base, admin, exam["exam_id"])
        status, minted = await call(http, "POST", f"{base}/api/exams/{exam['exam_id']}/join-tokens", key["key"],
                                    json={"candidate_id": "ext-9", "ttl_s": 120})
        assert status == 201 and minted["expires_at"] > time.time()
        token = minted["join_token"]
        status, body = await call(http, "POST", base + "/api/sessions", json={"candidate_id": "someone", "join_token": token})
        assert status == 403, body  # for another candidate: refused, and the token is not spent
        status, body = await call(http, "POST", base + "/api/sessions",
                                  json={"candidate_id": "ext-9", "exam_id": "demo", "join_token": token})
        assert status == 403, body  # nor for another exam
        status, made = await call(http, "POST", base + "/api/sessions", json={"candidate_id": "ext-9", "join_token": token})
        assert status == 201, made
        session = await store.session(made["session_id"])
        assert session["identity"] == identity_of(key["key_id"], "ext-9") and session["exam_id"] == exam["exam_id"]
        status, body = await call(http, "POST", base + "/api/sessions", json={"candidate_id": "ext-9", "join_token": token})
        assert status == 409, body  # once

        active = await app[APIKEYS].active(key["key_id"])
        assert active is not None
        old = app[JOIN_TOKENS].issue(active, exam["exam_id"], "ext-9", 60, time.time() - 120)
        status, body = await call(http, "POST", base + "/api/sessions",
                                  json={"candidate_id": "ext-9", "join_token": old["join_token"]})
        assert status == 401 and body["error"] == "join token expired", body
        status, body = await call(http, "POST", base + "/api/sessions",
                                  json={"candidate_id": "ext-9", "join_token": token[:-3] + "abc"})
        assert status == 401, body


async def test_vigil_apikey_and_token_commands(vigil_server, valkey_url) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor)
    vigil = REPO / ".venv" / "bin" / "vigil"
    cmd = [str(vigil)] if vigil.exists() else [sys.executable, "-m", "server.cli"]
    env = {**os.environ, "REDIS_URL": valkey_url, "VIGIL_DATA_DIR": str(vigil_server.settings.data_dir)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=60, cwd=REPO,
                              stdin=subprocess.DEVNULL)

    made = await asyncio.to_thread(run, "apikey", "create", "--name", "script", "--exam", exam["exam_id"])
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    key_id = secret.removeprefix("vk_").split(".")[0]
    listed = await asyncio.to_thread(run, "apikey", "list")
    assert key_id in listed.stdout and secret not in listed.stdout
    token = await asyncio.to_thread(run, "token", "create", "--key", key_id, "--exam", exam["exam_id"],
                                    "--candidate-id", "cli-1")
    assert token.returncode == 0, token.stderr
    async with aiohttp.ClientSession() as http:
        status, body = await call(http, "POST", base + "/api/sessions", secret,
                                  json={"candidate_id": "cli-0", "exam_id": exam["exam_id"]})
        assert status == 201, body
        status, body = await call(http, "POST", base + "/api/sessions",
                                  json={"candidate_id": "cli-1", "join_token": token.stdout.strip()})
        assert status == 201, body
        revoked = await asyncio.to_thread(run, "apikey", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        status, _ = await call(http, "POST", base + "/api/sessions", secret,
                               json={"candidate_id": "cli-0", "exam_id": exam["exam_id"]})
        assert status == 401
