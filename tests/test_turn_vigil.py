"""A candidate behind a relay-only network reaches Vigil through coturn with ephemeral credentials."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from server.rtc.turn import turn_credentials
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_CLIP

try:
    from tests.turn_helpers import start_coturn, turnserver_path
except ImportError:  # pragma: no cover
    from turn_helpers import start_coturn, turnserver_path  # type: ignore[no-redef]

SECRET = "vigil-relay-test-secret-0123456789"

pytestmark = pytest.mark.skipif(turnserver_path() is None, reason="Debian's coturn (turnserver) is not installed")


async def test_relay_only_candidate_gets_analyses_through_coturn(vigil_server_factory, tmp_path: Path) -> None:
    with start_coturn(tmp_path, SECRET) as (turn_url, _proc):
        server = await vigil_server_factory(turn_secret=SECRET, turn_urls=(turn_url,), turn_ttl=600)
        client = CandidateClient(server.url, FACE_CLIP, candidate_id="relay-1", relay_only=True)
        try:
            created = await client.create()
            (ice,) = created["ice_servers"]
            expiry, sid = ice["username"].split(":")
            assert sid == client.session_id and int(expiry) > time.time()
            await client.connect()
            offer = client.pc.localDescription.sdp
            candidates = [ln for ln in offer.splitlines() if ln.startswith("a=candidate:")]
            assert candidates and all(" typ relay" in ln for ln in candidates)
            hit = await client.wait_for(lambda m: m.get("type") == "analysis" and m.get("faces") == 1, timeout=30)
            assert hit.message["face"]["confidence"] > 0.5
        finally:
            await client.close()


async def test_expired_turn_credentials_do_not_connect(vigil_server_factory, tmp_path: Path) -> None:
    with start_coturn(tmp_path, SECRET) as (turn_url, _proc):
        server = await vigil_server_factory(turn_secret=SECRET, turn_urls=(turn_url,), turn_ttl=600)
        client = CandidateClient(server.url, FACE_CLIP, candidate_id="relay-2", relay_only=True)
        try:
            await client.create()
            user, password = turn_credentials(SECRET, client.session_id, 600, now=time.time() - 1200)
            client.ice_servers = [{"urls": [turn_url], "username": user, "credential": password}]
            with pytest.raises(TimeoutError):  # no relay allocation: the data channel never opens
                await client.connect(timeout=8)
            assert not client.analyses()
        finally:
            await client.close()
