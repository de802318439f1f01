"""Strict input and output: non-finite numbers are refused at the edge, every answer is JSON, bad bytes are a 4xx.

Reproduces issue 16's finding 9: a `clock` message with `captured_ms` Infinity was accepted and every
later `analysis` carried `"captured_ms":Infinity` (not JSON: the page and every watcher failed to
parse it); NaN in `calibration.start` did the same to `calibration.result`; a non-ASCII byte in a
bearer token was a 500; headers over 8 kB got aiohttp's plain-text 400.

Real server, a real aiortc peer streaming the face clip. Each data-channel message type is sent with
every number it takes (and an extra key) set to `Infinity`, `-Infinity`, `NaN` and `1e999` (valid JSON
that Python reads as inf); each must be counted in `dc_bad_messages` and change nothing, and every
message the client receives must parse with a parser that refuses those constants.
"""
from __future__ import annotations

import asyncio
import json
import typing
from typing import Any

import aiohttp

from server.http.errors import ERROR_KEYS, PROBLEM_JSON
from server.protocol.datachannel import ClientMessage
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP
from tests.test_accounts import logged_in

NON_FINITE = ("Infinity", "-Infinity", "NaN", "1e999")
#: a valid message of every client type; the test fails when a type is added without one here
VALID: dict[str, dict[str, Any]] = {
    "hello": {"type": "hello", "v": 1, "versions": [1], "client": "strict-json"},
    "clock": {"type": "clock", "pts": 1, "captured_ms": 1.0},
    "browser": {"type": "browser", "event": "paste"},
    "calibration.sample": {"type": "calibration.sample"},
    "calibration.start": {"type": "calibration.start", "points": 5},
    "calibration.recentre": {"type": "calibration.recentre"},
}
#: pacing well under the channel's rate limit, so every message is judged (not dropped by the limit)
SEND_GAP_S = 0.08


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_refuse)


def _client_types() -> dict[str, type]:
    union = typing.get_args(ClientMessage)[0]
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in typing.get_args(union)}


def bad_messages() -> list[str]:
    """Every client message type with each of its fields, and an unknown key, set to each non-finite value."""
    types = _client_types()
    assert set(types) == set(VALID), "a client message type without a VALID example"
    out = []
    for kind, model in types.items():
        fields = [f for f in model.model_fields if f != "type"] + ["extra"]
        for field in fields:
            for value in NON_FINITE:
                body = {**VALID[kind], field: "__X__"}
                out.append(json.dumps(body).replace('"__X__"', value))
    return out


async def test_non_finite_numbers_on_every_data_channel_message_are_counted_and_change_nothing(
        vigil_server, ledger) -> None:
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="strict-json")
    raw: list[str] = []
    try:
        await client.connect()
        client.channel.on("message", raw.append)  # what the client really got, before any parsing
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        session = vigil_server.sessions.live[client.session_id]
        before_bad, before_limited = session.counters.dc_bad_messages, session.counters.dc_rate_limited
        sent = bad_messages()
        for text in sent:
            client.channel.send(text)
            await asyncio.sleep(SEND_GAP_S)
        ledger.tried("non_finite_datachannel", len(sent))
        # one valid message after them: the channel is ordered, so its answer means all were judged
        after = len(client.messages)
        client.send(VALID["calibration.recentre"])
        await client.wait_for(lambda m: m.get("type") == "calibration.result", timeout=15, after=after)
        assert session.counters.dc_rate_limited == before_limited
        assert session.counters.dc_bad_messages - before_bad == len(sent)
        # nothing was applied: no dot, no calibration answer but the valid one's, no paste event
        calibration = [m.message for m in client.messages if m.message.get("type", "").startswith("calibration.")]
        assert len(calibration) == 1 and calibration[0]["mode"] == "recentre", calibration
        await asyncio.sleep(1.0)  # a few more analyses after the bad clocks
        events = await vigil_server.store.events(client.session_id)
        assert not [e for e in events if e.get("event", {}).get("type") == "paste"]
        # every message the client received is strict JSON, and analyses carry finite capture times
        assert raw
        parsed = [strict_loads(text) for text in raw]
        analyses = [m for m in parsed if m.get("type") == "analysis"]
        assert analyses and all(m.get("captured_ms") is None or m["captured_ms"] > 0 for m in analyses)
    finally:
        await client.close()


async def test_non_finite_numbers_in_http_bodies_are_a_400(vigil_server, ledger) -> None:
    base = vigil_server.url
    _, proctor = await logged_in(vigil_server, "proctor")
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/api/sessions", json={"candidate_id": "strict-http"}) as resp:
            created = await resp.json()
        session_auth = {"Authorization": f"Bearer {created['token']}"}
        bodies = [
            ("/api/sessions", '{"candidate_id": "x", "extra": %s}', {}),
            ("/api/screen/info", '{"candidate_id": "strict-http", "screen_w": %s, "screen_h": 864}', session_auth),
            ("/api/screen/info", '{"candidate_id": "strict-http", "screen_w": 1536, "screen_h": 864, '
                                 '"width_mm": %s}', session_auth),
            ("/api/exams", '{"title": "t", "policy": {"attention_window_seconds": %s}}', {"Authorization": f"Bearer {proctor}"}),
            ("/api/auth/login", '{"email": "a@example.org", "password": %s}', {}),
        ]
        tried = 0
        for path, template, headers in bodies:
            for value in NON_FINITE:
                async with http.post(base + path, data=template % value,
                                     headers={"Content-Type": "application/json", **headers}) as resp:
                    text = await resp.text()
                    assert resp.status == 400, (path, value, resp.status, text)
                    assert set(strict_loads(text)) == ERROR_KEYS
                tried += 1
        ledger.tried("non_finite_http", tried)
        async with http.get(base + "/api/exams", headers={"Authorization": f"Bearer {proctor}"}) as resp:
            assert resp.status == 200 and strict_loads(await resp.text())  # no stored exam went wrong


async def _raw_request(url: str, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (an HTTP client would refuse or re-encode them); the status and body."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)  # the server closes: Connection: close
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_a_non_ascii_bearer_token_is_a_401(vigil_server, ledger) -> None:
    base = vigil_server.url
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/api/sessions", json={"candidate_id": "strict-bearer"}) as resp:
            sid = (await resp.json())["session_id"]
    routes = [b"GET /api/auth/profile", b"GET /api/exams", b"GET /api/live", f"GET /api/sessions/{sid}".encode(),
              f"POST /api/sessions/{sid}/end".encode(), b"GET /api/calibration/strict-bearer"]
    for route in routes:
        for token in (b"abc\xe9def", "\u00e9t\u00e9".encode(), b"eyJ\xff\xfe.x.y"):
            status, body = await _raw_request(base, route + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
                                              + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            assert status == 401, (route, token, status, body)
            assert set(strict_loads(body)) == ERROR_KEYS
    for route in (b"GET /api/auth/profile", b"GET /api/exams"):  # the account cookie, likewise
        status, body = await _raw_request(base, route + b" HTTP/1.1\r\nHost: x\r\nCookie: vigil_auth=ab\xe9\xff"
                                          b"\r\nConnection: close\r\n\r\n")
        assert status == 401 and set(strict_loads(body)) == ERROR_KEYS, (route, status, body)
    ledger.tried("non_ascii_bearer", len(routes) * 3 + 2)


async def test_oversized_headers_get_the_json_error_shape(vigil_server, ledger) -> None:
    base = vigil_server.url
    big = "x" * 9000
    async with aiohttp.ClientSession() as http:
        for headers in ({"X-Big": big}, {"Cookie": f"vigil_auth={big}"}, {"Authorization": f"Bearer {big}"}):
            async with http.get(base + "/api/auth/profile", headers=headers) as resp:
                text = await resp.text()
                assert resp.status == 400 and resp.content_type == PROBLEM_JSON, (resp.status, text)
                body = strict_loads(text)
                assert set(body) == ERROR_KEYS and body["error"] == "request header too large", body
        async with http.get(base + "/health") as resp:
            assert resp.status == 200  # the server goes on
    status, body = await _raw_request(base, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 400 and strict_loads(body)["error"] == "request header too large"
    status, body = await _raw_request(base, b"NOT AN HTTP REQUEST\r\n\r\n")
    assert status == 400 and set(strict_loads(body)) == ERROR_KEYS
    ledger.tried("oversized_header", 4)
