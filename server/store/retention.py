"""Privacy: data of ended sessions expires, and deleting a session deletes all of it.

An ended session's hash and event stream get a Redis TTL of the exam policy's `retention_days`
(`expire_ended`). Evidence files are not in Redis, so `sweep` removes the evidence folder of any
session whose hash is gone (expired or deleted) and drops such ids from the `sessions:all` index.
Every worker sweeps every `SWEEP_PERIOD_S`; the sweep is idempotent, so several at once is fine.
"""
from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path

from server.store.store import Store

log = logging.getLogger(__name__)

SWEEP_PERIOD_S = 600.0
_SESSION_DIR = re.compile(r"^[0-9a-f]{32}$")


async def expire_ended(store: Store, sid: str, retention_days: float) -> None:
    await store.expire_session(sid, max(1, int(retention_days * 86400)))


def _remove_dir(path: Path) -> bool:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return True
    return False


async def delete_evidence(evidence_root: Path, sid: str) -> bool:
    if not _SESSION_DIR.match(sid):
        return False
    return await asyncio.get_running_loop().run_in_executor(None, _remove_dir, evidence_root / sid)


def _session_dirs(evidence_root: Path) -> list[str]:
    """Names of the session folders under the evidence root (blocking: run in an executor)."""
    if not evidence_root.is_dir():
        return []
    return [child.name for child in evidence_root.iterdir() if _SESSION_DIR.match(child.name)]


async def sweep(store: Store, evidence_root: Path) -> tuple[int, int]:
    """Remove evidence and index entries of sessions whose data is gone. Returns (dirs, ids)."""
    dirs = 0
    for name in await asyncio.get_running_loop().run_in_executor(None, _session_dirs, evidence_root):
        if not await store.session_exists(name):
            dirs += await delete_evidence(evidence_root, name)
    ids = await store.sweep_session_index()
    if dirs or ids:
        log.info("retention sweep removed %d evidence folders and %d expired ids", dirs, ids)
    return dirs, ids
