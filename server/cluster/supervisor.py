"""`vigil serve --workers N`: N worker processes on one port, one Redis, restarted if they die.

Each worker is a whole Vigil server (`vigil serve --worker`) opening the public port with
SO_REUSEPORT, so the kernel spreads connections over them; session calls that land on the wrong
worker are proxied (see `server.cluster.placement`). The supervisor only starts, watches and stops them:
a worker that exits unexpectedly is restarted after RESTART_DELAY_S; its sessions are marked
disconnected by the surviving workers (heartbeats) and candidates resume on any worker.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from server.core.config import Settings

RESTART_DELAY_S = 2.0
STOP_TIMEOUT_S = 10.0


def _spawn(settings: Settings, redis_url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, REDIS_URL=redis_url)
    cmd = [sys.executable, "-m", "server.cli", "serve", "--worker", "--host", settings.host, "--port", str(settings.port)]
    return subprocess.Popen(cmd, env=env)


def supervise(count: int, settings: Settings, redis_url: str) -> int:
    workers = [_spawn(settings, redis_url) for _ in range(count)]
    print(f"vigil: supervising {count} workers on port {settings.port} (pids {[w.pid for w in workers]})", flush=True)
    stopping = threading.Event()  # a plain process (no event loop): waiting on an Event wakes at once

    def stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping.wait(0.5):
        for i, proc in enumerate(workers):
            if proc.poll() is not None and not stopping.is_set():
                print(f"vigil: worker pid {proc.pid} exited with {proc.returncode}; restarting", flush=True)
                if stopping.wait(RESTART_DELAY_S):
                    break
                workers[i] = _spawn(settings, redis_url)
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in workers:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0
