"""`vigil`: the command line (serve, doctor, loadtest, user, apikey, token, eval).

An error the operator can fix (a bad setting, an unreachable Redis) is a `CliError`: `main` prints it as
one line, `vigil: ...`, and exits 2, never with a traceback.

The package by job: `checks` (start-up checks and option types), `help_text` (what the help says of the
environment), `serve` (serve and doctor: the commands that load models), `accounts` (user, apikey and
token: the commands that write to Redis); here the parser and `main` (`__main__`: `python -m server.cli`).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from server.cli.accounts import add_integration_parsers, cmd_user_add
from server.cli.checks import MAX_WORKERS, CliError, port_number, workers_count
from server.cli.help_text import STORE_ENV, STORE_ENV_EPILOG, settings_help
from server.cli.serve import add_doctor_parser, cmd_serve
from server.core.version import vigil_version


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Real-time WebRTC proctoring media server")
    parser.add_argument("--version", action="version", version=f"vigil {vigil_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the server (embedded Valkey when REDIS_URL is unset)",
        description="Serve the exam page, the dashboard, the HTTP API and WebRTC sessions. Settings come "
                    "from the environment (below); REDIS_URL unset starts or attaches to an embedded "
                    "Valkey in VIGIL_DATA_DIR. A bad setting stops it before anything loads (exit 2).",
        epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default=None, help="listen address (default VIGIL_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=None, help="listen port (default VIGIL_PORT or 8080)")
    serve.add_argument("--workers", type=workers_count, default=1,
                       help=f"media worker processes sharing the port, 1 to {MAX_WORKERS} (default 1)")
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of several, started by --workers
    serve.set_defaults(func=cmd_serve)
    add_doctor_parser(sub)
    from server.tools.loadtest import add_parser as add_loadtest_parser

    add_loadtest_parser(sub)
    user_add = sub.add_parser(
        "user", help="manage accounts", description=f"Manage accounts, written straight to Redis. {STORE_ENV}",
        epilog=STORE_ENV_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="user_command", required=True).add_parser(
        "add", help="create an account (the way to make the first admin)",
        description="Create an account of any role (the way to make the first admin in production). The "
                    f"password comes from --password, VIGIL_USER_PASSWORD or a prompt. {STORE_ENV}",
        epilog=STORE_ENV_EPILOG + "\n  VIGIL_USER_PASSWORD        the new account's password (else --password or "
                                  "the prompt)", formatter_class=argparse.RawDescriptionHelpFormatter)
    user_add.add_argument("--email", required=True)
    user_add.add_argument("--role", required=True, choices=("admin", "proctor", "candidate"))
    user_add.add_argument("--password", default=None,
                          help="visible to other local users in the process list; prefer VIGIL_USER_PASSWORD, "
                               "--password-stdin or the prompt")
    user_add.add_argument("--password-stdin", action="store_true",
                          help="read the password from the first line of stdin (for scripts: "
                               "`printf '%%s\\n' \"$PW\" | vigil user add ...`)")
    user_add.set_defaults(func=cmd_user_add)
    add_integration_parsers(sub)
    from server.tools.evaluate import add_parser as add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from server.store.embedded import EmbeddedValkeyError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, EmbeddedValkeyError) as exc:  # the embedded Valkey's data dir or lock: said in one line
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
