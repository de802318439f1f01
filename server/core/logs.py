"""Logs: a readable line per record in a terminal, one JSON object per line otherwise.

`configure_logging` picks the console format when stderr is a terminal (a developer running `vigil
serve`) and JSON lines when it is not (a container, a service manager, a pipe to a collector). Both
carry the record's extra fields (the session id, the request id...), with secrets redacted.

Native libraries (mediapipe's absl/glog, TF Lite) write to file descriptor 2 from C++, out of reach of
Python's logging: `native_stderr_filtered` holds their lines back while models load, unless asked for
(VIGIL_LOG_LEVEL=DEBUG).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
#: never written to a log, wherever they appear as extra fields.
_SECRET_KEYS = {"token", "password", "secret", "credential", "authorization", "jwt"}
#: a line written by a native library: absl/glog (`W0000 00:00:1795999616.447051   32037 file.cc:174] ...`)
#: and TF Lite's banners
NATIVE_LINE = re.compile(r"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w.-]+:\d+\]"
                         r"|WARNING: All log messages before absl::InitializeLog"
                         r"|INFO: Created TensorFlow Lite)")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields (`extra=`), secrets redacted."""
    return {key: "[redacted]" if key.lower() in _SECRET_KEYS else value
            for key, value in record.__dict__.items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **extra_fields(record),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class ConsoleFormatter(logging.Formatter):
    """`12:04:05 WARNING server.live.session  message  key=value ...`, colored by level."""

    COLORS = {"DEBUG": "\x1b[2m", "INFO": "", "WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m"}
    RESET = "\x1b[0m"

    def __init__(self, color: bool = True) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        # a field with no value (`session_id` on a line outside any session) is left out, not `=None`
        fields = "".join(f"  {key}={value}" for key, value in extra_fields(record).items() if value is not None)
        line = f"{clock} {record.levelname:<7} {record.name}  {record.getMessage()}{fields}"
        color = self.COLORS.get(record.levelname, "") if self.color else ""
        if color:
            line = f"{color}{line}{self.RESET}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", console: bool | None = None) -> None:
    """Root logging to stderr; `console` None: the console format when stderr is a terminal, else JSON."""
    handler = logging.StreamHandler(sys.stderr)
    use_console = sys.stderr.isatty() if console is None else console
    handler.setFormatter(ConsoleFormatter() if use_console else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aioice/aiortc are chatty at INFO about every candidate pair; the access log is ours (server.http.observe)
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_native_logs()


def quiet_native_logs() -> None:
    """mediapipe/absl and TF Lite write to stderr from C++; lower their level before they load."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


#: after the block, how long the native libraries must stay silent before stderr is given back, and the
#: longest wait: mediapipe's graph threads log their start a few hundred ms after the loading call returns
NATIVE_SETTLE_S, NATIVE_SETTLE_MAX_S = 0.5, 3.0


@contextmanager
def native_stderr_filtered(show: bool = False) -> Iterator[None]:
    """While the block runs, file descriptor 2 goes to a temporary file; afterwards its lines go back
    to stderr, less the native libraries' (`NATIVE_LINE`) unless `show`. Python's own records written
    meanwhile (a model that failed to load) are kept, only delayed to the block's end. Blocks up to
    NATIVE_SETTLE_MAX_S after the block: call it off the event loop."""
    if show:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
            _wait_for_silence(held.fileno())
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not NATIVE_LINE.match(line)))
            sys.stderr.flush()


def _wait_for_silence(fd: int) -> None:
    """Until nothing was written to `fd` for NATIVE_SETTLE_S (at most NATIVE_SETTLE_MAX_S)."""
    deadline = time.monotonic() + NATIVE_SETTLE_MAX_S
    size, quiet_since = os.fstat(fd).st_size, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < NATIVE_SETTLE_S:
        time.sleep(0.05)
        if os.fstat(fd).st_size != size:
            size, quiet_since = os.fstat(fd).st_size, time.monotonic()
