"""Logs: console in a terminal, JSON otherwise; an access log with request and session ids; the native
libraries' stderr lines held back while models load."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from server.core.logs import NATIVE_LINE, ConsoleFormatter, JsonFormatter, configure_logging

REPO = Path(__file__).resolve().parents[1]
ABSL_LINE = ("W0000 00:00:1795999616.458272   32039 inference_feedback_manager.cc:114] Feedback manager requires "
             "a model with a single signature inference.")


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("server.live.session", logging.WARNING, __file__, 1, "video lost after %d s", (3,), None)
    record.__dict__.update(extra)
    return record


def test_the_console_format_is_one_readable_line_and_json_stays_json() -> None:
    record = _record(session_id="abc123", token="secret-token")
    line = ConsoleFormatter(color=False).format(record)
    assert " WARNING server.live.session  video lost after 3 s  session_id=abc123  token=[redacted]" in line
    assert "\n" not in line and "secret-token" not in line
    assert json.loads(JsonFormatter().format(record))["session_id"] == "abc123"


def test_the_console_leaves_out_a_field_without_a_value() -> None:
    line = ConsoleFormatter(color=False).format(_record(session_id=None, request_id="r1"))
    assert line.endswith("video lost after 3 s  request_id=r1") and "None" not in line, line


def test_the_format_follows_whether_stderr_is_a_terminal(monkeypatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for tty, formatter in ((True, ConsoleFormatter), (False, JsonFormatter)):
            stream = io.StringIO()
            stream.isatty = lambda tty=tty: tty  # type: ignore[method-assign]
            monkeypatch.setattr(sys, "stderr", stream)
            configure_logging("INFO")
            assert isinstance(root.handlers[0].formatter, formatter)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_native_lines_are_recognised() -> None:
    assert NATIVE_LINE.match(ABSL_LINE) and NATIVE_LINE.match("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert not NATIVE_LINE.match('{"ts": 1.0, "level": "warning", "msg": "stage objects: missing"}')


def test_model_loading_keeps_pythons_lines_and_drops_the_native_ones() -> None:
    """In a subprocess (the redirection is of file descriptor 2): one line of each kind written to fd 2."""
    script = (
        "import os, sys\n"
        "from server.core.logs import native_stderr_filtered\n"
        "with native_stderr_filtered(show=len(sys.argv) > 1):\n"
        f"    os.write(2, {ABSL_LINE!r}.encode() + b'\\n')\n"
        "    print('stage objects: missing: no file', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n")
    quiet = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert quiet.stderr.splitlines() == ["stage objects: missing: no file", "after"], quiet.stderr
    shown = subprocess.run([sys.executable, "-c", script, "debug"], cwd=REPO, capture_output=True, text=True,
                           timeout=60, env={**os.environ})
    assert ABSL_LINE in shown.stderr.splitlines(), shown.stderr


async def test_the_access_log_has_request_and_session_ids(vigil_server, caplog) -> None:
    sid = "0123456789abcdef"
    with caplog.at_level(logging.DEBUG, logger="vigil.access"):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{vigil_server.url}/api/sessions/{sid}?token=do-not-log",
                                headers={"X-Request-Id": "client-chosen-1"}) as resp:
                assert resp.status == 401 and resp.headers["X-Request-Id"] == "client-chosen-1"
            async with http.get(vigil_server.url + "/livez", headers={"X-Request-Id": "bad id with spaces"}) as resp:
                generated = resp.headers["X-Request-Id"]
    records = {r.request_id: r for r in caplog.records if r.name == "vigil.access"}  # type: ignore[attr-defined]
    session_call = records["client-chosen-1"]
    assert (session_call.levelno, session_call.session_id, session_call.status) == (logging.INFO, sid, 401)  # type: ignore[attr-defined]
    assert f"GET /api/sessions/{sid} 401" in session_call.getMessage() and "do-not-log" not in session_call.getMessage()
    assert generated != "bad id with spaces" and records[generated].levelno == logging.DEBUG  # a probe: DEBUG
