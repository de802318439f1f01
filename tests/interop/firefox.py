"""Headless Debian `firefox-esr` driven over WebDriver BiDi, with no driver binary and no downloaded browser.

Facts this relies on:

- Firefox ESR speaks WebDriver BiDi itself: started with `--remote-debugging-port P` it listens on
  `ws://127.0.0.1:P/session`; `session.new`, `browsingContext.navigate` and `script.evaluate` are enough.
  (Playwright's Firefox needs its own patched build and geckodriver is not in Debian 12.)
- Fake media through prefs: `media.navigator.streams.fake` gives getUserMedia a generated picture and
  tone (no face), `media.navigator.permission.disabled` grants it. For a real camera picture the page
  plays the face clip (as WebM/VP8, which every Firefox decodes) in a muted `<video>` and sends
  `captureStream()`'s video track: Firefox has no file-backed fake camera like Chromium's y4m.
- `media.peerconnection.ice.obfuscate_host_addresses` off: host candidates are raw IPs, not `.local`
  names that aioice resolves slowly; this machine has a non-loopback interface (see tests/browser.py).
"""
from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import free_port
from tests.interop.helpers import FIREFOX

PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "browser.startup.homepage_override.mstone": "ignore",
}


def _user_js(prefs: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v) if isinstance(v, int) else f'"{v}"'
    return "".join(f'user_pref("{k}", {value(v)});\n' for k, v in prefs.items())


class BiDi:
    """A WebDriver BiDi session over one websocket: commands by id, events ignored."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.context = ""

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        cid = next(self.ids)
        await self.ws.send_json({"id": cid, "method": method, "params": params})
        async for message in self.ws:
            data = message.json()
            if data.get("id") != cid:
                continue  # an event
            if data.get("type") == "error":
                raise RuntimeError(f"BiDi {method}: {data.get('error')}: {data.get('message')}")
            result: dict[str, Any] = data["result"]
            return result
        raise RuntimeError(f"BiDi {method}: the connection closed")

    async def evaluate(self, expression: str) -> Any:
        """`expression` in the page, its promise awaited; the value (strings, numbers, booleans, null)."""
        result = await self.command("script.evaluate", expression=expression, awaitPromise=True,
                                    target={"context": self.context})
        if result.get("type") == "exception":
            raise RuntimeError(f"page: {result['exceptionDetails'].get('text')}")
        remote = result["result"]
        return remote.get("value")

    async def navigate(self, url: str) -> None:
        await self.command("browsingContext.navigate", context=self.context, url=url, wait="complete")


@asynccontextmanager
async def launch_firefox() -> AsyncIterator[BiDi]:
    """Headless firefox-esr on a fresh profile with the fake-media prefs; a BiDi session on its first tab."""
    profile = Path(tempfile.mkdtemp(prefix="vigil-firefox-"))
    (profile / "user.js").write_text(_user_js(PREFS))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(FIREFOX), "--headless", "--no-remote", "--profile", str(profile), "--remote-debugging-port", str(port),
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            ws = None
            for _ in range(300):  # Firefox's remote agent starts within seconds; bounded at 30 s
                try:
                    ws = await http.ws_connect(f"ws://127.0.0.1:{port}/session", max_msg_size=0)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            if ws is None:
                raise RuntimeError("firefox-esr's WebDriver BiDi did not come up within 30 s")
            bidi = BiDi(ws)
            await bidi.command("session.new", capabilities={})
            tree = await bidi.command("browsingContext.getTree")
            bidi.context = tree["contexts"][0]["context"]
            try:
                yield bidi
            finally:
                try:
                    await asyncio.wait_for(bidi.command("session.end"), timeout=5)
                except (TimeoutError, RuntimeError, aiohttp.ClientError):
                    pass
                await ws.close()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(profile, ignore_errors=True)
