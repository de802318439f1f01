"""Run a real coturn on loopback for a test, configured from turn/turnserver.test.conf.

`start_coturn(tmp_path, secret)` renders the template with a free listening port and a small free relay
range, starts `turnserver -c <conf>`, waits until it answers a STUN Binding request (coturn has no
health endpoint; an answered Binding means its UDP listener is up), yields `(turn_url, proc)` and stops
the process on exit. On a start failure the error carries coturn's log.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_CONF_TEMPLATE = REPO / "turn" / "turnserver.test.conf"

#: coturn starts in well under a second; allow for a loaded CI machine.
READY_TIMEOUT_SECS = 10.0
STOP_TIMEOUT_SECS = 5.0
#: Relay ports for one test run: each peer connection holds one allocation, so a handful is plenty.
RELAY_PORTS = 10
#: Relay ranges are drawn below Linux's ephemeral range (32768+), where aioice binds its own sockets.
RELAY_RANGE_LOW, RELAY_RANGE_HIGH = 20000, 32000

_STUN_MAGIC_COOKIE = 0x2112A442
_STUN_BINDING_REQUEST = 0x0001
_STUN_BINDING_SUCCESS = 0x0101


def turnserver_path() -> str | None:
    """The coturn binary, or None when coturn is not installed (`apt-get install coturn`)."""
    return shutil.which("turnserver") or (
        "/usr/bin/turnserver" if os.access("/usr/bin/turnserver", os.X_OK) else None
    )


def _port_is_free(port: int, kinds: tuple[int, ...]) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (coturn listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _port_is_free(port, (socket.SOCK_STREAM,)):
            return port
    raise RuntimeError("no free UDP+TCP port on 127.0.0.1")


def free_relay_range(size: int = RELAY_PORTS) -> tuple[int, int]:
    """`(min_port, max_port)`: `size` consecutive UDP ports currently free on 127.0.0.1."""
    for _ in range(200):
        low = random.randrange(RELAY_RANGE_LOW, RELAY_RANGE_HIGH - size)
        if all(_port_is_free(p, (socket.SOCK_DGRAM,)) for p in range(low, low + size)):
            return low, low + size - 1
    raise RuntimeError(f"no {size} consecutive free UDP ports on 127.0.0.1")


def render_test_conf(work_dir: Path, *, secret: str, port: int, min_port: int, max_port: int) -> Path:
    values = {
        "@LISTENING_PORT@": str(port),
        "@MIN_PORT@": str(min_port),
        "@MAX_PORT@": str(max_port),
        "@SECRET@": secret,
        "@WORK_DIR@": str(work_dir),
    }
    text = TEST_CONF_TEMPLATE.read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    settings = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    leftover = [name for line in settings for name in re.findall(r"@[A-Z_]+@", line)]
    if leftover:
        raise ValueError(f"unfilled placeholders in {TEST_CONF_TEMPLATE}: {leftover}")
    conf = work_dir / "turnserver.conf"
    conf.write_text(text)
    return conf


def stun_binding_answered(port: int, timeout: float = 0.2) -> bool:
    """Send one STUN Binding request to 127.0.0.1:port over UDP; True if a Binding success came back."""
    transaction_id = os.urandom(12)
    request = (
        _STUN_BINDING_REQUEST.to_bytes(2, "big") + (0).to_bytes(2, "big")
        + _STUN_MAGIC_COOKIE.to_bytes(4, "big") + transaction_id
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(request, ("127.0.0.1", port))
            data, _ = s.recvfrom(2048)
        except OSError:  # timeout, or ICMP port unreachable before coturn binds
            return False
    return (
        len(data) >= 20
        and int.from_bytes(data[0:2], "big") == _STUN_BINDING_SUCCESS
        and data[8:20] == transaction_id
    )


def _log_tail(work_dir: Path, lines: int = 40) -> str:
    log = work_dir / "turnserver.log"
    if not log.exists():
        return "(no turnserver.log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_SECS)


@contextmanager
def start_coturn(tmp_path: Path, secret: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run coturn on 127.0.0.1 with the TURN REST API `secret`; yield `("turn:127.0.0.1:PORT", proc)`."""
    binary = turnserver_path()
    if binary is None:
        raise FileNotFoundError("turnserver not found: apt-get install coturn")
    work_dir = tmp_path / "coturn"
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    min_port, max_port = free_relay_range()
    conf = render_test_conf(work_dir, secret=secret, port=port, min_port=min_port, max_port=max_port)
    proc = subprocess.Popen(
        [binary, "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work_dir,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECS
        while not stun_binding_answered(port):
            if proc.poll() is not None:
                raise RuntimeError(f"turnserver exited with {proc.returncode}:\n{_log_tail(work_dir)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"turnserver not ready after {READY_TIMEOUT_SECS}s:\n{_log_tail(work_dir)}"
                )
            time.sleep(0.05)
        yield f"turn:127.0.0.1:{port}?transport=udp", proc
    finally:
        _stop(proc)
