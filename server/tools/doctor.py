"""`vigil doctor`: check an installation without starting the server, as a pass/fail table.

Each check is one `Check` (name, outcome, what was found). The models are loaded by the caller
(`server.cli`, which owns model loading) and passed in as their health; Redis is pinged through the
store; TURN, when configured, is asked for a real allocation with a fresh ephemeral credential, which
proves at once that coturn answers and that it shares `VIGIL_TURN_SECRET`. VIGIL_POLICY is loaded as
`vigil serve` loads it; an installed Chromium opens a tiny page once and says which WebRTC and screen
features the exam page needs it has.
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs

from rich.console import Console
from rich.table import Table

from server.core.config import Settings, redact_url
from server.live.risk import default_policy
from server.rtc.turn import turn_credentials
from server.store.store import Store

Outcome = Literal["pass", "fail", "skip"]
#: how long one network check may take before it fails
CHECK_TIMEOUT_S = 5.0
#: how long the browser check may take (start, load a local page, print it)
BROWSER_TIMEOUT_S = 20.0
#: what the candidate's exam page uses, as JavaScript expressions true when the browser has it
BROWSER_FEATURES = {
    "RTCPeerConnection": "typeof RTCPeerConnection === 'function'",
    "getUserMedia": "!!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)",
    "RTCDataChannel": "typeof RTCDataChannel === 'function'",
    "screen.isExtended": "'isExtended' in screen",
}


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str


def model_checks(models: Mapping[str, str]) -> list[Check]:
    """One check per model, from `{name: "loaded" | "missing: why"}` (the pipeline's and the VAD's health)."""
    return [Check(f"model {name}", "pass" if state == "loaded" else "fail", state) for name, state in models.items()]


async def redis_check(url: str) -> Check:
    store = Store(url)
    try:
        ok = await asyncio.wait_for(store.ping(), CHECK_TIMEOUT_S)
    except TimeoutError:
        ok = False
    finally:
        await store.close()
    return Check("redis", "pass" if ok else "fail", f"{'answers' if ok else 'unreachable'} at {redact_url(url)}")


def turn_address(url: str) -> tuple[str, int, str]:
    """`turn:host[:port][?transport=udp|tcp]` -> (host, port, transport)."""
    scheme, _, rest = url.partition(":")
    if scheme != "turn":
        raise ValueError(f"only turn: URLs are checked, not {scheme}:")
    hostport, _, query = rest.partition("?")
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "3478")
    transport = parse_qs(query).get("transport", ["udp"])[0]
    return host.strip("[]"), int(port), transport


async def turn_checks(settings: Settings, now: float) -> list[Check]:
    """An allocation on every `turn:` URL with a credential minted as for a session; skipped unless configured."""
    if not (settings.turn_secret and settings.turn_urls):
        return [Check("turn", "skip", "not configured (VIGIL_TURN_SECRET and VIGIL_TURN_URLS)")]
    username, password = turn_credentials(settings.turn_secret.get_secret_value(), "vigil-doctor", settings.turn_ttl, now)
    return [await _allocate(url, username, password) for url in settings.turn_urls]


async def _allocate(url: str, username: str, password: str) -> Check:
    from aioice import stun
    from aioice.turn import create_turn_endpoint

    try:
        host, port, transport = turn_address(url)
        endpoint = create_turn_endpoint(asyncio.DatagramProtocol, (host, port), username, password,
                                        transport=transport)
        relay, _ = await asyncio.wait_for(endpoint, CHECK_TIMEOUT_S)
    except stun.TransactionFailed as exc:
        code = exc.response.attributes.get("ERROR-CODE", (None, ""))
        hint = " (VIGIL_TURN_SECRET differs from coturn's static-auth-secret?)" if code[0] == 401 else ""
        return Check(f"turn {url}", "fail", f"allocation refused: {code[0]} {code[1]}{hint}")
    except TimeoutError:
        return Check(f"turn {url}", "fail", f"no answer within {CHECK_TIMEOUT_S:g} s")
    except (OSError, ValueError, stun.TransactionTimeout) as exc:
        return Check(f"turn {url}", "fail", f"{type(exc).__name__}: {exc}")
    address = relay.get_extra_info("sockname")
    relay.close()
    return Check(f"turn {url}", "pass", f"relay allocated at {address[0]}:{address[1]}")


def policy_check(settings: Settings) -> Check:
    """VIGIL_POLICY loaded as `vigil serve` loads it at start."""
    try:
        default_policy(settings)
    except ValueError as exc:
        return Check("policy", "fail", str(exc))
    found = f"loaded from {settings.policy_path}" if settings.policy_path else "built-in defaults (VIGIL_POLICY unset)"
    return Check("policy", "pass", found)


def browser_probe_page() -> str:
    """A page that writes `{feature: bool}` as JSON into `<pre id=features>` for `--dump-dom` to print."""
    tests = ", ".join(f"{json.dumps(name)}: {expr}" for name, expr in BROWSER_FEATURES.items())
    return (f"<!doctype html><pre id=features></pre><script>document.getElementById('features').textContent = "
            f"JSON.stringify({{{tests}}});</script>\n")


def browser_verdict(dom: str) -> Check:
    """The check from the page's printed DOM: pass when every feature is there."""
    found = re.search(r'<pre id="features">(.*?)</pre>', dom, re.S)
    if found is None:
        return Check("browser", "fail", "the probe page printed no result")
    features = json.loads(found.group(1).replace("&quot;", '"'))
    missing = [name for name in BROWSER_FEATURES if not features.get(name)]
    if missing:
        return Check("browser", "fail", f"missing: {', '.join(missing)}")
    return Check("browser", "pass", f"has {', '.join(BROWSER_FEATURES)}")


async def browser_check(executable: str | None = None) -> Check:
    """Chromium headless on a local page (a file: page is a secure context, as the HTTPS exam page is, so
    getUserMedia and screen.isExtended are exposed); skipped when no `chromium` is on PATH."""
    executable = executable or shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return Check("browser", "skip", "skipped: no browser (chromium not on PATH)")
    with tempfile.TemporaryDirectory(prefix="vigil-doctor-") as tmp:
        page = Path(tmp) / "probe.html"
        page.write_text(browser_probe_page(), encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={Path(tmp) / 'profile'}", "--dump-dom", page.as_uri(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), BROWSER_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return Check("browser", "fail", f"{executable} printed nothing within {BROWSER_TIMEOUT_S:g} s")
    return browser_verdict(out.decode("utf-8", "replace"))


async def network_checks(settings: Settings, redis_url: str) -> list[Check]:
    return [await redis_check(redis_url), *await turn_checks(settings, time.time())]


def render(checks: Iterable[Check], console: Console) -> None:
    table = Table(title="vigil doctor")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    style = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[yellow]skip[/]"}
    for check in checks:
        table.add_row(check.name, style[check.outcome], check.detail)
    console.print(table)
