"""The system check's network test in headless Chromium, through a real coturn on loopback.

The page makes the exam's session during the check and gathers ICE candidates through the session's
ICE servers with iceTransportPolicy "relay" (static/client/connectivity.js). Vigil with coturn's
secret: a relayed candidate appears, the check says the network is fine, and the exam goes live. A TURN
URL where nothing listens: the check says in plain words that the network blocks video calls and what
to do. A secret coturn does not share: the relay refuses the credentials, and the check says it is the
server's problem, not the candidate's.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import launch_chromium
from tests.test_exam_browser import WAIT_MS, chromium, fake_media, start_exam  # noqa: F401 (fixtures)
from tests.turn_helpers import free_port, start_coturn, turnserver_path

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(turnserver_path() is None, reason="Debian's coturn (turnserver) is not installed"),
]

SECRET = "vigil-check-test-secret-0123456789"
#: the network line has its verdict (the test gives up gathering after 6 s)
NETWORK_DONE = "() => (document.getElementById('check-network').dataset.code || '').startsWith('net.')"
SCREENSHOTS = Path("/tmp")


async def network_verdict(page, url: str, shot: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    await page.goto(url + "/")
    await page.click("#agree")
    await page.wait_for_function(NETWORK_DONE, timeout=WAIT_MS)
    await page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
    line = page.locator("#check-network")
    return await line.get_attribute("data-code") or "", await line.text_content() or ""


async def test_the_check_passes_through_a_working_relay_then_the_exam_goes_live(
        vigil_server_factory, fake_media, tmp_path: Path) -> None:  # noqa: F811
    camera, mic = fake_media
    with start_coturn(tmp_path, SECRET) as (turn_url, _proc):
        server = await vigil_server_factory(turn_secret=SECRET, turn_urls=(turn_url,), turn_ttl=600)
        async with launch_chromium(camera, mic) as context:
            page = await context.new_page()
            code, text = await network_verdict(page, server.url, "exam_check_network_ok.png")
            assert code == "net.ok", text
            assert await page.get_attribute("#check-network", "data-kind") == "ok"
            # the check's session is the exam's: no second one is made
            sid, _ = await start_exam(page, server, "browser-relay-check")
            assert [s for s in await server.store.live_sessions()] == [sid]


async def test_an_unreachable_relay_is_explained_in_plain_words(vigil_server_factory, fake_media) -> None:  # noqa: F811
    camera, mic = fake_media
    nothing_there = f"turn:127.0.0.1:{free_port()}?transport=udp"
    server = await vigil_server_factory(turn_secret=SECRET, turn_urls=(nothing_there,), turn_ttl=600)
    async with launch_chromium(camera, mic) as context:
        page = await context.new_page()
        code, text = await network_verdict(page, server.url, "exam_check_network_blocked.png")
        assert code == "net.blocked", text
        assert "blocks video calls" in text and "another network" in text, text
        assert await page.get_attribute("#check-network", "data-kind") == "warn"
        # the camera part passed and the candidate may still try: a direct path may work
        assert await page.get_attribute("#check-status", "data-kind") == "ok"
        assert not await page.is_disabled("#begin")


async def test_a_relay_refusing_the_credentials_is_the_servers_problem(vigil_server_factory, fake_media,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    camera, mic = fake_media
    with start_coturn(tmp_path, SECRET) as (turn_url, _proc):
        server = await vigil_server_factory(turn_secret="not-" + SECRET, turn_urls=(turn_url,), turn_ttl=600)
        async with launch_chromium(camera, mic) as context:
            page = await context.new_page()
            code, text = await network_verdict(page, server.url + "/?lang=fr", "exam_check_network_refused.png")
    assert code == "net.relay_refused", text
    assert "surveillant" in text, text  # in the page's language: tell your proctor
