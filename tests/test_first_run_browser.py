"""First run in headless Chromium: a fresh `vigil serve` (dev, its own data dir) prints a one-time login,
and that login, typed into the dashboard's login form, reaches the live dashboard.

A scripted candidate joins the demo exam (no join code in dev), so the live list has a card to show.
A proctor made with `vigil user add --password-stdin` (piped, attaching to the server's embedded Valkey)
is created meanwhile (the demo exam's candidates are an admin's to watch; a proctor makes their own exam).
The dashboard needs no camera, so Chromium gets no media permission (hence mDNS off, as in
tests/test_dashboard_browser.py). Screenshots: the test's tmp dir and /tmp/vigil-first-run-*.png.
"""
from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from server.cli.serve import DEV_ADMIN_EMAIL
from server.tools.candidate.candidate import CandidateClient
from tests.browser import chromium_missing_reason
from tests.conftest import FACE_CLIP, free_port
from tests.test_accounts import unique_email
from tests.test_dashboard_browser import CHROMIUM, FLAGS
from tests.test_first_run import ROOT, _read_until, _serve, _stop

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 30_000
SHOTS = Path("/tmp")
PROCTOR_PASSWORD = "a proctor's long password"


async def _user_add_piped(data_dir: Path, email: str, password: str) -> tuple[int, str]:
    """`vigil user add --password-stdin` with the password piped in, next to the running server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "REDIS_URL"))}
    env.update(VIGIL_DATA_DIR=str(data_dir), VIGIL_ENV="dev")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "user", "add", "--email", email, "--role", "proctor",
        "--password-stdin", cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(f"{password}\n".encode()), 120)
    return proc.returncode or 0, out.decode()


async def _log_in(browser, base: str, email: str, password: str, sid: str, shots: list[Path], name: str) -> None:  # type: ignore[no-untyped-def]
    """A fresh browser context logs in on the dashboard's form and sees the candidate `sid` live."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(base + "/dashboard.html")
        await page.wait_for_selector("#login-form", state="visible", timeout=WAIT_MS)
        assert await page.is_hidden("#main")  # nothing of the dashboard under the login form
        await page.fill("#email", email)
        await page.fill("#password", password)
        for path in shots:
            await page.screenshot(path=str(path / f"vigil-first-run-{name}-login.png"), full_page=True)
        await page.click("#login-button")
        await page.wait_for_selector("#main", state="visible", timeout=WAIT_MS)
        await page.wait_for_selector(f'li.cand[data-session-id="{sid}"][data-status="live"]', timeout=WAIT_MS)
        await page.wait_for_function("document.body.dataset.vigilLive === '1'", timeout=WAIT_MS)
        assert await page.is_hidden("#login")
        assert "dora" in await page.inner_text(f'li.cand[data-session-id="{sid}"]')
        assert "1 live" in await page.inner_text("#status")
        assert email in await page.inner_text("#who")
        for path in shots:
            await page.screenshot(path=str(path / f"vigil-first-run-{name}.png"), full_page=True)
        assert not errors, errors
    finally:
        await context.close()


async def test_the_printed_dev_login_reaches_the_dashboard_in_chromium(tmp_path: Path) -> None:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    server = await _serve(data_dir, port)
    client: CandidateClient | None = None
    try:
        out = await _read_until(server, r"password +\S+\n")
        email = re.search(r"^ +email +(\S+)$", out, re.M)
        password = re.search(r"^ +password +(\S+)$", out, re.M)
        assert email and password and email.group(1) == DEV_ADMIN_EMAIL, out

        client = CandidateClient(base, FACE_CLIP, candidate_id="dora")  # the demo exam: no join code in dev
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=30)
        sid = client.session_id
        assert sid

        proctor = unique_email("first-proctor")
        code, said = await _user_add_piped(data_dir, proctor, PROCTOR_PASSWORD)
        assert code == 0 and f"created proctor {proctor}" in said, said

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
            try:
                await _log_in(browser, base, email.group(1), password.group(1), sid, [tmp_path, SHOTS], "admin")
            finally:
                await browser.close()
    finally:
        if client is not None:
            await client.close()
        await _stop(server)
