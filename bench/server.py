"""A Vigil server for one benchmark: `python -m server.cli serve --port P` as a subprocess, with a
temporary VIGIL_DATA_DIR (so an embedded Valkey of its own) and the models loaded before use.

`repo` picks the code it runs: this checkout, or another one (e.g. a `git worktree` of an older
commit, for before/after figures from the same machine and run, driven by the same generator)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: model loading plus Valkey start-up on a busy 2-core machine
READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BenchServer:
    def __init__(self, *, env: dict[str, str] | None = None, repo: Path = REPO, args: tuple[str, ...] = ()) -> None:
        self.repo = repo
        #: extra `vigil serve` arguments, e.g. ("--workers", "2")
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="vigil-bench-")
        self.env = {**os.environ, "VIGIL_DATA_DIR": self._tmp.name, "VIGIL_LOG_LEVEL": "WARNING",
                    "GLOG_minloglevel": "2", "PYTHONPATH": str(repo), **(env or {})}
        self.env.pop("REDIS_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(self._tmp.name) / "server.log"

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(self.port), *self.args],
                                     cwd=self.repo, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + READY_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError("server not ready")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        self._tmp.cleanup()
