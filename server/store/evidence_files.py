"""Where a session's evidence snapshots live on disk: `<evidence root>/<session id>/<name>.jpg`.

One layout for the writer (`server/live/evidence.py`), the reports that read it and the routes that
serve it; the names are checked so a request can never reach outside a session's folder.
"""
from __future__ import annotations

import re
from pathlib import Path

EVIDENCE_NAME = re.compile(r"[A-Za-z0-9_]{1,40}-[0-9]{1,9}\.jpg")
SESSION_ID = re.compile(r"[A-Za-z0-9]{1,64}")


def session_dir(evidence_root: Path, session_id: str) -> Path | None:
    if not SESSION_ID.fullmatch(session_id):
        return None
    return evidence_root / session_id


def evidence_file(evidence_root: Path, session_id: str, name: str) -> Path | None:
    """The existing snapshot `name` of this session, or None for anything else (no path tricks)."""
    folder = session_dir(evidence_root, session_id)
    if folder is None or not EVIDENCE_NAME.fullmatch(name):
        return None
    path = folder / name
    try:
        if path.is_symlink() or not path.is_file() or path.resolve().parent != folder.resolve():
            return None
    except OSError:
        return None
    return path
