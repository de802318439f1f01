"""First run: how a fresh install gets its first admin (`server.cli.serve.bootstrap_admin`).

A fresh `vigil serve` in `dev` mode (its own data dir, so its own embedded Valkey) prints a one-time
login for `admin@vigil.local`; that login works against `/api/auth/login` as an admin, and a restart
on the same data prints no password again. In production, `VIGIL_ADMIN_EMAIL` with
`VIGIL_ADMIN_PASSWORD_FILE` creates that admin once.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from server.cli.serve import DEV_ADMIN_EMAIL, bootstrap_admin
from server.core.config import Settings
from tests.conftest import free_port
from tests.test_accounts import call, login, unique_email

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180  # loading the models on a busy 2-core machine


async def _serve(data_dir: Path, port: int) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "REDIS_URL"))}
    env.update(VIGIL_DATA_DIR=str(data_dir), VIGIL_ENV="dev", VIGIL_ANALYSIS_THREADS="1")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "serve", "--port", str(port), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)


async def _read_until(proc: asyncio.subprocess.Process, pattern: str) -> str:
    """stdout up to and including the first line matching `pattern`."""
    assert proc.stdout is not None
    seen = ""
    while not re.search(pattern, seen):
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        assert line, f"vigil serve exited before printing {pattern!r}:\n{seen}"
        seen += line.decode()
    return seen


async def _stop(proc: asyncio.subprocess.Process) -> str:
    """Stop the server; the rest of its stdout."""
    assert proc.stdout is not None
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    rest = await asyncio.wait_for(proc.stdout.read(), 60)
    await asyncio.wait_for(proc.wait(), 60)
    return rest.decode()


async def test_a_fresh_dev_server_prints_a_one_time_admin_login_that_works(tmp_path: Path) -> None:
    port = free_port()
    proc = await _serve(tmp_path, port)
    try:
        out = await _read_until(proc, r"password +\S+\n")
        email = re.search(r"^ +email +(\S+)$", out, re.M)
        password = re.search(r"^ +password +(\S+)$", out, re.M)
        assert email and password, out
        assert email.group(1) == DEV_ADMIN_EMAIL and "listening on" in out
        async with aiohttp.ClientSession() as http:
            status, body = await call(http, "POST", f"http://127.0.0.1:{port}/api/auth/login",
                                      json={"email": email.group(1), "password": password.group(1)})
            assert status == 200, body
            assert body["user"]["role"] == "admin"
            status, _ = await call(http, "GET", f"http://127.0.0.1:{port}/api/exams", body["token"])
            assert status == 200
    finally:
        await _stop(proc)

    # a restart on the same data: the account exists, no password is printed again
    again = await _serve(tmp_path, port)
    try:
        out = await _read_until(again, "listening on")
    finally:
        out += await _stop(again)
    assert "password" not in out, out


async def test_production_bootstraps_the_admin_from_the_environment_once(vigil_server, tmp_path: Path) -> None:
    email = unique_email("boss")
    secret = tmp_path / "admin_password"
    secret.write_text("a long production password\n")
    settings = Settings(env="production", admin_email=email.upper(), admin_password_file=secret)
    said = await bootstrap_admin(settings, vigil_server.store)
    assert said == f"vigil: created admin {email} (VIGIL_ADMIN_EMAIL)"
    assert await bootstrap_admin(settings, vigil_server.store) is None  # it exists: nothing to do
    async with aiohttp.ClientSession() as http:
        token = await login(http, vigil_server.url, email, "a long production password")
        status, profile = await call(http, "GET", vigil_server.url + "/api/auth/profile", token)
        assert status == 200 and profile["role"] == "admin"
    # production without the variables creates nothing (the CLI's `vigil user add` is the other way)
    assert await bootstrap_admin(Settings(env="production"), vigil_server.store) is None


def test_the_two_admin_variables_come_together() -> None:
    with pytest.raises(ValueError, match="VIGIL_ADMIN_EMAIL and VIGIL_ADMIN_PASSWORD_FILE"):
        Settings.from_env({"VIGIL_ADMIN_EMAIL": "a@b.org"})
    settings = Settings.from_env({"VIGIL_ADMIN_EMAIL": "a@b.org", "VIGIL_ADMIN_PASSWORD_FILE": "/run/secrets/x"})
    assert settings.admin_email == "a@b.org" and settings.admin_password_file == Path("/run/secrets/x")
