"""Start-up checks of `vigil`: the settings, the JWT secret, VIGIL_POLICY and the public port, each told
before Valkey or a model loads, and the argparse types of `vigil serve`'s options. A problem the operator
can fix is a `CliError`: `main` prints it as one line, `vigil: ...`, and exits 2, never with a traceback.
"""
from __future__ import annotations

import argparse
import errno
import socket

from server.core.config import Settings

#: `vigil serve --workers` at most
MAX_WORKERS = 64


class CliError(Exception):
    """A problem the operator can fix: printed as `vigil: <message>`, exit 2."""


def settings_from_env() -> Settings:
    """The settings, with VIGIL_DATA_DIR created: every command writes there (secrets, Valkey, evidence)."""
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise CliError(f"bad setting: {exc}") from None
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create VIGIL_DATA_DIR {settings.data_dir}: {exc.strerror or exc}") from None
    return settings


def check_policy(settings: Settings) -> None:
    """Load VIGIL_POLICY once, at start (the sessions then share it), or stop with a `CliError`."""
    from server.live.risk import default_policy

    try:
        default_policy(settings)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def check_port_free(host: str, port: int) -> None:
    """Bind the public port once and let it go, so a port in use is told before Valkey and the models load."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise CliError(f"cannot listen on {host} (--host / VIGIL_HOST): {exc}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds: TIME_WAIT is no obstacle
            try:
                probe.bind(address)
            except OSError as exc:
                raise bind_error(host, port, exc) from None


def bind_error(host: str, port: int, exc: OSError) -> CliError:
    if exc.errno == errno.EADDRINUSE:
        return CliError(f"port {port} is in use (--port / VIGIL_PORT)")
    return CliError(f"cannot listen on {host}:{port} (--host / VIGIL_HOST, --port / VIGIL_PORT): "
                    f"{exc.strerror or exc}")


def workers_count(text: str) -> int:
    """argparse type of `--workers`: 1 to 64 processes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_WORKERS}, not {value}")
    return value


def port_number(text: str) -> int:
    """argparse type of `--port`: VIGIL_PORT's declaration decides."""
    try:
        return Settings().with_overrides(port=text).port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("VIGIL_PORT ")) from None


def check_secrets(settings: Settings) -> None:
    """Refuse a missing or short JWT secret in production before any model or Valkey loads."""
    from server.accounts.secrets import signing_secret

    try:
        signing_secret(settings)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # dev keeps its generated secret in the data dir
        raise CliError(f"cannot keep the JWT secret in {settings.data_dir} (VIGIL_DATA_DIR): "
                       f"{exc.strerror or exc}") from None
