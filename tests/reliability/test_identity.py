"""Documents shared across sessions belong to an authenticated identity, never to a typed candidate id.

Reproduces issue 16's finding 3: screen info and stored calibrations were keyed by the client-chosen
`candidate_id`, so a second session created with the victim's id (the demo exam, or a join code:
no login) read the victim's screen document, overwrote it, and its calibration was loaded by the
victim's next session. Now a session created by a logged-in candidate account shares its documents
with that account's other sessions; any other session keeps its own (`server.store.keys.document_owner`).

Real server, real aiortc peers streaming the face clip, real calibrations over the data channel. The
clip's person never looks at the dots, so a calibration is refused; where a test needs an accepted
one (to see whether it would be loaded) it marks the session's own stored record accepted, which is
what a cheater looking at the dots would have produced.
"""
from __future__ import annotations

import time
from typing import Any

import aiohttp

from server.store.keys import calibration_key, document_owner, own_document_keys
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP, eventually
from tests.test_accounts import call, logged_in, new_exam

SCREEN = {"screen_w": 1536, "screen_h": 864, "dpr": 1.25}


async def _connected(base: str, candidate_id: str, account_token: str | None = None) -> CandidateClient:
    """A scripted candidate on the demo exam, live; its session created by the account when given."""
    client = CandidateClient(base, FACE_CLIP, candidate_id=candidate_id)
    if account_token is not None:
        client.http = aiohttp.ClientSession()
        status, created = await call(client.http, "POST", base + "/api/sessions", account_token,
                                     json={"candidate_id": candidate_id})
        assert status == 201, created
        client.session_id, client.token, client.ice_servers = created["session_id"], created["token"], \
            created["ice_servers"]
    await client.connect()
    await client.wait_for(lambda m: m.get("type") == "analysis" and m.get("faces") == 1, timeout=30)
    return client


async def _calibrate(client: CandidateClient) -> dict[str, Any]:
    after = len(client.messages)
    client.send({"type": "calibration.start", "points": 5, **SCREEN})
    result = await client.wait_for(lambda m: m.get("type") == "calibration.result", timeout=40, after=after)
    return result.message


async def _calibrate_with_a_model(store, client: CandidateClient, owner: str) -> None:  # type: ignore[no-untyped-def]
    """Calibrate until `owner`'s stored document holds a fitted model (accepted or not): on a starved host
    a sitting can collect too few frames per dot to fit one, and the tests below need a model to accept."""
    for _ in range(3):
        await _calibrate(client)
        record = await store.get_json(calibration_key(owner))
        if record is not None and record.get("model") is not None:
            return


async def _get(http: aiohttp.ClientSession, url: str, token: str | None) -> tuple[int, dict[str, Any]]:
    return await call(http, "GET", url, token)


async def _calibration_source(http: aiohttp.ClientSession, base: str, client: CandidateClient) -> str | None:
    """Where the session's calibration came from (`stored`: loaded from an earlier session), None before any."""
    status, diag = await _get(http, f"{base}/api/calibration/diagnostics/{client.session_id}", client.token)
    assert status == 200, diag
    return None if diag["calibration"] is None else diag["calibration"]["source"]


async def _accept(store, owner: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Mark `owner`'s stored (refused) calibration accepted and fresh: what an attentive sitter makes."""
    record = await store.get_json(calibration_key(owner))
    assert record is not None and record["model"] is not None, record
    record.update(ok=True, status="accepted", created_at=time.time())
    await store.put_json(calibration_key(owner), record)
    return record  # type: ignore[no-any-return]


async def test_a_typed_candidate_id_neither_reads_nor_overwrites_nor_poisons_anothers_documents(
        vigil_server, ledger) -> None:
    base, store = vigil_server.url, vigil_server.store
    clients: list[CandidateClient] = []
    async with aiohttp.ClientSession() as http:
        try:
            victim = await _connected(base, "victim-3")
            clients.append(victim)
            status, screen = await call(http, "POST", base + "/api/screen/info", victim.token,
                                        json={"candidate_id": "victim-3", **SCREEN, "width_mm": 344, "height_mm": 194})
            assert status == 200, screen
            await _calibrate(victim)
            status, victim_cal = await _get(http, f"{base}/api/calibration/victim-3", victim.token)
            assert status == 200 and victim_cal["session_id"] == victim.session_id

            # the attacker claims the victim's candidate id on the same exam
            attacker = await _connected(base, "victim-3")
            clients.append(attacker)
            ledger.tried("claimed_candidate_id")
            for path in ("/api/screen/info/victim-3", "/api/calibration/victim-3", "/api/calibration/victim-3/download"):
                status, body = await _get(http, base + path, attacker.token)
                assert status == 404, (path, status, body)  # nothing of the victim's is visible
            status, body = await call(http, "POST", base + "/api/screen/info", attacker.token,
                                      json={"candidate_id": "victim-3", "screen_w": 1920, "screen_h": 1080, "dpr": 1.0})
            assert status == 200, body
            assert attacker.session_id is not None
            await _calibrate_with_a_model(store, attacker, document_owner(attacker.session_id, None))
            # the victim's documents are as the victim left them
            status, screen_now = await _get(http, f"{base}/api/screen/info/victim-3", victim.token)
            assert status == 200 and screen_now["session_id"] == victim.session_id and screen_now["screen_w"] == 1536
            status, cal_now = await _get(http, f"{base}/api/calibration/victim-3", victim.token)
            assert status == 200 and cal_now["session_id"] == victim.session_id
            assert cal_now["created_at"] == victim_cal["created_at"]

            # the attacker's calibration, even accepted, is not loaded by the victim's next session
            assert attacker.session_id is not None
            await _accept(store, document_owner(attacker.session_id, None))
            await victim.close()
            clients.remove(victim)
            next_session = await _connected(base, "victim-3")
            clients.append(next_session)
            ledger.tried("poisoned_calibration")
            assert await _calibration_source(http, base, next_session) is None
            status, _ = await _get(http, f"{base}/api/calibration/victim-3", next_session.token)
            assert status == 404
            # on the wire: no analysis carries calibrated gaze (on_screen comes only with a loaded map)
            after = len(next_session.messages)
            await next_session.wait_for(lambda m: m.get("type") == "analysis" and isinstance(m.get("gaze"), dict),
                                        timeout=20, after=after)
            gazes = [r.message["gaze"] for r in next_session.analyses() if isinstance(r.message.get("gaze"), dict)]
            assert gazes and not any("on_screen" in g for g in gazes)
        finally:
            for client in clients:
                await client.close()


async def test_a_candidate_accounts_next_session_reuses_its_own_calibration(vigil_server, ledger) -> None:
    base, store = vigil_server.url, vigil_server.store
    _, account = await logged_in(vigil_server, "candidate")
    _, admin = await logged_in(vigil_server, "admin")
    clients: list[CandidateClient] = []
    async with aiohttp.ClientSession() as http:
        try:
            first = await _connected(base, "acct-3", account)
            clients.append(first)
            identity = (await store.session(first.session_id))["identity"]
            assert identity.startswith("account:")
            await _calibrate_with_a_model(store, first, identity)
            record = await _accept(store, identity)
            assert record["session_id"] == first.session_id
            await first.close()
            clients.remove(first)

            second = await _connected(base, "acct-3", account)
            clients.append(second)
            ledger.tried("account_calibration_reuse")
            status, cal = await _get(http, f"{base}/api/calibration/acct-3", second.token)
            assert status == 200 and cal["session_id"] == first.session_id
            seen = await second.wait_for(lambda m: m.get("type") == "analysis" and isinstance(m.get("gaze"), dict)
                                         and "on_screen" in m["gaze"], timeout=20)
            assert isinstance(seen.message["gaze"]["on_screen"], bool)  # the loaded map is applied

            async def loaded() -> bool:
                return await _calibration_source(http, base, second) == "stored"
            await eventually(loaded, 10, "the diagnostics to say the calibration was loaded")

            # an admin reads it through the session; a session with the same typed id but no login does not
            status, body = await _get(http, f"{base}/api/calibration/acct-3?session_id={second.session_id}", admin)
            assert status == 200 and body["session_id"] == first.session_id
            status, body = await _get(http, f"{base}/api/calibration/acct-3", admin)
            assert status == 400, body  # which session's? documents no longer hang off a candidate id
            stranger = await _connected(base, "acct-3")
            clients.append(stranger)
            status, _ = await _get(http, f"{base}/api/calibration/acct-3", stranger.token)
            assert status == 404
            assert await _calibration_source(http, base, stranger) is None
        finally:
            for client in clients:
                await client.close()


async def test_a_sessions_own_documents_expire_and_are_deleted_with_it(vigil_server, ledger) -> None:
    base, store = vigil_server.url, vigil_server.store
    _, proctor = await logged_in(vigil_server, "proctor")
    _, admin = await logged_in(vigil_server, "admin")
    async with aiohttp.ClientSession() as http:
        exam = await new_exam(http, base, proctor, policy={"retention_days": 2})
        status, created = await call(http, "POST", base + "/api/sessions",
                                     json={"candidate_id": "own-docs", "join_code": exam["join_code"]})
        assert status == 201, created
        sid, token = created["session_id"], created["token"]
        status, body = await call(http, "POST", base + "/api/screen/info", token, json={"candidate_id": "own-docs", **SCREEN})
        assert status == 200, body
        [screen_key] = [k for k in own_document_keys(sid) if ":screen:" in k]
        assert await store.get_json(screen_key) is not None
        status, body = await call(http, "POST", f"{base}/api/sessions/{sid}/end", token, json={})
        assert status == 200, body
        assert 0 < await store.redis.ttl(screen_key) <= 2 * 86400  # the exam's retention, not 30 days
        status, body = await call(http, "DELETE", f"{base}/api/sessions/{sid}", admin)
        assert status == 200, body
        assert not await store.redis.exists(*own_document_keys(sid))
    ledger.tried("session_documents_deleted")
