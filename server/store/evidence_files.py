"""Where a session's evidence lives on disk: `<evidence root>/<session id>/<event id>.jpg` (snapshots) and
`<event id>.webm` (clips).

One layout for the writer (`server/live/evidence.py`), the reports that read it and the routes that
serve it; the names are checked so a request can never reach outside a session's folder.
"""
from __future__ import annotations

import re
from pathlib import Path

EVIDENCE_NAME = re.compile(r"[A-Za-z0-9_]{1,40}-[0-9]{1,9}\.(?:jpg|webm)")
#: what each kind of evidence file is served as
CONTENT_TYPES = {".jpg": "image/jpeg", ".webm": "video/webm"}
SESSION_ID = re.compile(r"[A-Za-z0-9]{1,64}")


def session_dir(evidence_root: Path, session_id: str) -> Path | None:
    if not SESSION_ID.fullmatch(session_id):
        return None
    return evidence_root / session_id


def evidence_file(evidence_root: Path, session_id: str, name: str) -> Path | None:
    """The existing evidence file `name` of this session, or None for anything else (no path tricks)."""
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
