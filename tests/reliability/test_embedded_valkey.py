"""The embedded Valkey is owned once: the CLI attaches to a running server's, and a dead one comes back.

Reproduces issue 16's finding 10: `vigil user add` next to `vigil serve` (both with REDIS_URL unset,
one data directory) used to start a second Valkey on the same append-only file, and the server never
saw the account. Here a real `vigil serve` runs in a subprocess.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from server.store.embedded import read_status
from tests.conftest import REPO, free_port

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.slow


def _valkeys_serving(data_dir: Path) -> list[int]:
    """Pids of valkey-server processes whose working directory is this data dir's valkey folder."""
    want = (data_dir / "valkey").resolve()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "valkey-server" in (proc / "cmdline").read_text() and Path(os.readlink(proc / "cwd")) == want:
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(VIGIL_DATA_DIR=str(data_dir), VIGIL_LOG_LEVEL="WARNING", VIGIL_USER_PASSWORD=PASSWORD)
    return env


async def _wait_healthy(url: str, within_s: float = 120.0) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + "/health") as resp:
                    body = await resp.json()
                    if resp.status == 200:
                        return body  # type: ignore[no-any-return]
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server not healthy in time")
            await asyncio.sleep(0.5)


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=REPO,
                            env=_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _login(url: str, email: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            url + "/api/auth/login", json={"email": email, "password": PASSWORD}) as resp:
        return resp.status


async def test_cli_attaches_to_the_running_valkey_and_a_dead_one_is_restarted(tmp_path: Path, ledger) -> None:
    data_dir, port = tmp_path / "var", free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(data_dir, port)
    try:
        health = await _wait_healthy(url)
        assert len(_valkeys_serving(data_dir)) == 1
        assert health["redis_embedded"]["restarts"] == 0 and health["redis_embedded"]["last_restart_at"] is None
        assert health["redis_embedded"]["url"].startswith("redis://")

        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "server.cli", "user", "add", "--email", "first@example.org",
                             "--role", "admin"], env=_env(data_dir), capture_output=True, text=True, timeout=60,
            cwd=REPO, stdin=subprocess.DEVNULL)
        assert done.returncode == 0 and "created admin" in done.stdout, done.stderr
        assert len(_valkeys_serving(data_dir)) == 1, "the CLI must not start a second Valkey"
        assert await _login(url, "first@example.org") == 200, "the running server sees the CLI's account"
        ledger.tried("cli_beside_server")

        [pid] = _valkeys_serving(data_dir)
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        ledger.injected("embedded_valkey_killed")
        deadline = time.monotonic() + 30
        while (read_status(data_dir) or {}).get("restarts", 0) < 1:
            assert time.monotonic() < deadline, "the embedded Valkey was not restarted"
            await asyncio.sleep(0.2)
        health = await _wait_healthy(url, within_s=30)
        assert health["redis_embedded"]["restarts"] == 1, health  # /health says what happened
        assert health["redis_embedded"]["last_restart_at"] >= killed_at
        # a pooled connection to the killed Valkey may fail the first request after the restart: that is a
        # 503 with Retry-After (the store's contract), so retry as a client would, a few times
        for _ in range(5):
            status = await _login(url, "first@example.org")
            if status != 503:
                break
            await asyncio.sleep(1)
        assert status == 200, "the account survived in the append-only file"
        assert len(_valkeys_serving(data_dir)) == 1
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 30)
    assert _valkeys_serving(data_dir) == [], "the owner stops its Valkey on exit"
