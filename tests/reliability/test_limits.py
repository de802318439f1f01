"""Every limit answers with a clear error and shows in the metrics."""
from __future__ import annotations

import re

import aiohttp

from server.client.candidate import CandidateClient
from tests.conftest import FACE_CLIP


def _rejected(metrics_text: str, limit: str) -> float:
    match = re.search(rf'vigil_rejected_total{{limit="{limit}"}} ([0-9.e+]+)', metrics_text)
    return float(match.group(1)) if match else 0.0


async def test_session_and_body_limits_answer_clearly_and_are_counted(vigil_server_factory, ledger) -> None:
    server = await vigil_server_factory(max_sessions=1, max_body_bytes=16384)
    first = CandidateClient(server.url, FACE_CLIP, candidate_id="first")
    try:
        await first.connect()
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/metrics") as resp:
                before = await resp.text()
            async with http.post(server.url + "/api/sessions", json={"candidate_id": "second"}) as resp:
                assert resp.status == 429
                body = await resp.json()
                assert "session limit" in body["error"] and body["detail"] == {"max_sessions": 1}
            async with http.post(server.url + "/api/sessions", data=b"{" + b" " * 20000 + b"}",
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 413 and (await resp.json())["detail"] == {"max_bytes": 16384}
            async with http.get(server.url + "/metrics") as resp:
                after = await resp.text()
        assert _rejected(after, "sessions") == _rejected(before, "sessions") + 1
        assert _rejected(after, "body_size") == _rejected(before, "body_size") + 1
        ledger.tried("limits", 2)
    finally:
        await first.close()
