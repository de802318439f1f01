"""Counters and types: dropped = received - analysed, the final counters are the last frame's, and
every field of the session status and listing has one JSON type in every state."""
from __future__ import annotations

from typing import Any

import aiohttp

from server.protocol.answers import SessionView
from server.protocol.http import SessionRow
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP
from tests.test_accounts import call, logged_in

#: the JSON types a field may have: its type, and null only where the model allows it
_NUMBER = (int, float)


def _json_types(model: type[Any], body: dict[str, Any]) -> dict[str, str]:
    """Each field's JSON type name as the body carries it, checked against the model."""
    model.model_validate(body)  # the typed shape, unknown keys refused
    return {k: "null" if v is None else "number" if isinstance(v, _NUMBER) and not isinstance(v, bool)
            else type(v).__name__ for k, v in body.items()}


async def test_status_and_listing_have_one_type_per_field_and_final_counters(vigil_server, ledger) -> None:
    _, admin = await logged_in(vigil_server, "admin")
    client = CandidateClient(vigil_server.url, FACE_CLIP, candidate_id="typed-status")
    seen: dict[str, set[str]] = {}

    async def status() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            code, body = await call(http, "GET", f"{vigil_server.url}/api/sessions/{client.session_id}", admin)
        assert code == 200, body
        for name, kind in _json_types(SessionView, body).items():
            seen.setdefault(name, set()).add(kind)
        return body

    try:
        await client.create()
        created = await status()
        assert created["status"] == "created" and created["frames_received"] == 0 and created["summary"] is None
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20)
        live = await status()
        assert live["status"] == "live" and live["frames_received"] > 0
        assert live["frames_dropped"] == live["frames_received"] - live["frames_analysed"]
        summary = await client.end()
        # the channel is ordered: once `ended` is here, every analysis sent before it is too
        await client.wait_for(lambda m: m.get("type") == "ended", timeout=10)
        ended = await status()
        ledger.tried("status_states", 3)
    finally:
        await client.close()
    assert ended["status"] == "ended" and isinstance(ended["summary"], dict)
    assert ended["summary"]["verdict"] == ended["verdict"] == summary["verdict"]
    assert isinstance(ended["risk_score"], float) and isinstance(ended["frames_received"], int)
    # the final counters: every analysis the client received is counted, and nothing more
    assert ended["frames_analysed"] == len(client.analyses())
    assert ended["frames_dropped"] == ended["frames_received"] - ended["frames_analysed"]
    for name, kinds in seen.items():  # one JSON type per field; null only where the field is unknown yet
        assert len(kinds - {"null"}) <= 1, (name, kinds)

    async with aiohttp.ClientSession() as http:
        code, body = await call(http, "GET", f"{vigil_server.url}/api/sessions?limit=50", admin)
    assert code == 200
    row = next(r for r in body["sessions"] if r["session_id"] == client.session_id)
    _json_types(SessionRow, row)
    assert "summary" not in row and isinstance(row["calibration"], (dict, type(None)))
    assert row["frames_analysed"] == ended["frames_analysed"] and row["verdict"] == ended["verdict"]
