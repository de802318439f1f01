"""`vigil`: the command line (serve, doctor, loadtest, user, apikey, token, eval).

An error the operator can fix (a bad setting, an unreachable Redis) is a `CliError`: `main` prints it as
one line, `vigil: ...`, and exits 2, never with a traceback.
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from server.core.config import Settings, redact_url, setting_docs
from server.core.version import vigil_version

if TYPE_CHECKING:
    from pipeline.audio.vad import SileroVad
    from pipeline.runner import Pipeline
    from server.store.store import Store

log = logging.getLogger("vigil")
#: the dev admin `vigil serve` creates on first start in `dev` mode (its password printed once)
DEV_ADMIN_EMAIL = "admin@vigil.local"
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


def settings_help() -> str:
    """The environment variables, for `vigil serve --help` (from the declarations in `server.core.config`)."""
    lines = ["environment variables (over a .env file in the working directory; command-line options "
             "override VIGIL_HOST and VIGIL_PORT):"]
    for doc in setting_docs():
        lines.append(f"  {doc.variable:<26} {doc.meaning.replace('`', '')} (default: {doc.default.replace('`', '')})")
    return "\n".join(lines)


#: what the commands that write to Redis (user, apikey, token) say of their environment
STORE_ENV = ("The server's Redis: REDIS_URL, or when unset the embedded Valkey of VIGIL_DATA_DIR (attached to "
             "while `vigil serve` runs, else started for the command).")
STORE_ENV_EPILOG = "\n".join([
    "environment variables (over a .env file in the working directory):",
    "  REDIS_URL                  Redis/Valkey URL; unset: the embedded Valkey of VIGIL_DATA_DIR",
    "  VIGIL_DATA_DIR             data directory (embedded Valkey, generated secrets; default ./var)",
    "  VIGIL_ENV                  dev or production (production needs VIGIL_JWT_SECRET)",
    "  VIGIL_JWT_SECRET(_FILE)    the server's signing secret (API keys and join tokens are signed with it)",
])


def _worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def bootstrap_admin(settings: Settings, store: Store) -> str | None:
    """The first admin, created once; returns what to print, or None when there is nothing to do.

    With `VIGIL_ADMIN_EMAIL` and `VIGIL_ADMIN_PASSWORD_FILE` (any mode): that account, when no account
    has the e-mail. Else, in `dev` mode only: `admin@vigil.local` with a random password, printed this
    once to the terminal (only its argon2 hash is stored; a lost password: `vigil user add` another
    admin, or delete the data dir). Workers racing to create it: one wins, the others get 409 and
    print nothing.
    """
    from server.accounts.users import Accounts
    from server.protocol.errors import ApiError

    password_file = settings.admin_password_file
    if settings.admin_email and password_file is not None:
        email = settings.admin_email.strip().lower()
    elif settings.env == "dev":
        email = DEV_ADMIN_EMAIL
    else:
        return None
    if await store.accounts.user_id_for_email(email) is not None:
        return None
    try:
        password = secrets.token_urlsafe(15) if password_file is None else \
            password_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"VIGIL_ADMIN_PASSWORD_FILE: {exc}") from None
    accounts = Accounts(store.accounts, secret="")
    try:
        user = await accounts.create_user(email, password, "admin")
    except ApiError as exc:
        if exc.status == 409:
            return None
        raise ValueError(f"cannot create the admin {email}: {exc.error}") from None
    finally:
        accounts.hashing.close()
    if password_file is not None:
        return f"vigil: created admin {user.email} (VIGIL_ADMIN_EMAIL)"
    return (f"vigil: dev admin created; this password is shown once:\n"
            f"    email    {user.email}\n    password {password}\n"
            f"    log in at http://{settings.host}:{settings.port}/dashboard.html")


def load_models_quietly(settings: Settings) -> tuple[Pipeline, SileroVad | None]:
    """The models, without the native libraries' stderr lines unless VIGIL_LOG_LEVEL=DEBUG."""
    from server.core.logs import native_stderr_filtered
    from server.models import load_models

    with native_stderr_filtered(show=settings.log_level == "DEBUG"):
        return load_models(settings)


async def run_server(settings: Settings, redis_url: str, *, shared_port: bool = False) -> None:
    """One worker: loads the models, serves the API. With `shared_port` (several workers) the public
    port is opened with SO_REUSEPORT and a private port lets the other workers proxy to this one."""
    from aiohttp import web

    from server.app import build_app
    from server.http.keys import SESSIONS
    from server.rtc import aiortc_private
    from server.store.store import Store

    aiortc_private.install()  # fails at start if aiortc moved a private name; marker-bit jitter buffer
    loop = asyncio.get_running_loop()
    store = Store(redis_url)
    if not await store.ping():  # before the models: a wrong REDIS_URL is told in a second, not after loading
        await store.close()
        raise CliError(f"cannot reach Redis at {redact_url(redis_url)} (REDIS_URL)")
    pipeline, vad = await loop.run_in_executor(None, load_models_quietly, settings)
    first_run = await bootstrap_admin(settings, store)  # before serving: a bad admin setting stops the start
    app = build_app(settings=settings, store=store, pipeline=pipeline, worker_id=_worker_id(), vad=vad)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=shared_port or None)
    try:
        await site.start()
    except OSError as exc:  # taken between `check_port_free` and now
        await runner.cleanup()
        await store.close()
        raise bind_error(settings.host, settings.port, exc) from None
    internal = web.TCPSite(runner, settings.worker_host if shared_port else "127.0.0.1", 0)
    await internal.start()
    port = internal._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    manager = app[SESSIONS]
    manager.internal_url = f"http://{settings.worker_host if shared_port else '127.0.0.1'}:{port}"
    print(f"vigil: worker {manager.worker_id} listening on http://{settings.host}:{settings.port} "
          f"(internal {manager.internal_url}, redis {redact_url(redis_url)})", flush=True)
    if first_run:
        print(first_run, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()
        await store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from server.core.logs import configure_logging
    from server.store.embedded import redis_for

    settings = settings_from_env()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.with_overrides(**overrides)
    check_secrets(settings)
    check_policy(settings)
    if not args.worker:  # a worker of several shares the port its supervisor checked
        check_port_free(settings.host, settings.port)
    configure_logging(settings.log_level)
    try:
        with redis_for(settings.redis_url, settings.data_dir) as redis_url:
            if args.workers > 1:
                from server.cluster.supervisor import supervise

                return supervise(args.workers, settings, redis_url)
            asyncio.run(run_server(settings, redis_url, shared_port=args.worker))
    except ValueError as exc:  # configuration refused at start-up (e.g. production without a secret)
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return 0


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


def cmd_doctor(args: argparse.Namespace) -> int:
    """`vigil doctor`: models, VIGIL_POLICY, Redis (the embedded Valkey attached to or started, as `vigil user
    add`), TURN, the browser."""
    from rich.console import Console

    from server.core.logs import quiet_native_logs
    from server.store.embedded import redis_for
    from server.tools.doctor import browser_check, model_checks, network_checks, policy_check, render

    settings = settings_from_env()
    quiet_native_logs()
    pipeline, vad = load_models_quietly(settings)
    models = pipeline.health()
    models["vad"] = "loaded" if vad is not None and getattr(vad, "loaded", False) else \
        f"missing: {getattr(vad, 'error', None) or 'not loaded'}"
    with redis_for(settings.redis_url, settings.data_dir) as redis_url:
        checks = [*model_checks(models), policy_check(settings), *asyncio.run(network_checks(settings, redis_url)),
                  asyncio.run(browser_check())]
    render(checks, Console())
    return 1 if any(c.outcome == "fail" for c in checks) else 0


def add_doctor_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    doctor = sub.add_parser(
        "doctor", help="check the installation: models, policy, Redis, TURN, browser",
        description="Check this installation without serving: every model loads, VIGIL_POLICY loads, Redis "
                    "answers (the embedded Valkey when REDIS_URL is unset), TURN allocates a relay with Vigil's "
                    "credentials when VIGIL_TURN_SECRET and VIGIL_TURN_URLS are set, and an installed "
                    "`chromium` has the WebRTC and screen features the exam page needs. Prints a pass/fail "
                    "table; exit 0 when every check passes, 1 otherwise, 2 on a bad setting.",
        epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    doctor.set_defaults(func=cmd_doctor)


def new_password(args: argparse.Namespace) -> str:
    """The new account's password: `--password`, `--password-stdin` (the first line of stdin),
    VIGIL_USER_PASSWORD, else typed twice at a terminal. Piped stdin never reaches the prompt (getpass
    would read the pipe, then die on its end): it is a `CliError` that names `--password-stdin`."""
    import getpass

    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise CliError("--password-stdin: stdin gave no password (one line expected)")
        return line
    password = args.password or os.environ.get("VIGIL_USER_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise CliError("no password: stdin is not a terminal to prompt on; pipe it with --password-stdin "
                       "or set VIGIL_USER_PASSWORD")
    try:
        password = getpass.getpass(f"password for {args.email}: ")
        if getpass.getpass("again: ") != password:
            raise CliError("passwords differ")
    except (EOFError, KeyboardInterrupt):
        raise CliError("no password given") from None
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    """`vigil user add`: an account of any role, written straight to Redis (embedded Valkey when unset)."""
    from server.accounts.users import Accounts

    password = new_password(args)

    async def add(store: Store, _settings: Settings) -> str:
        user = await Accounts(store.accounts, secret="").create_user(args.email, password, args.role)
        return f"created {user.role} {user.email} (user id {user.user_id})"

    return _with_store(add)


def _with_store(run: Callable[[Store, Settings], Awaitable[str]]) -> int:
    """Run `run(store, settings)` against the server's Redis (the running embedded Valkey when
    REDIS_URL is unset: attached, never a second one) and print its answer; an unreachable Redis is
    a `CliError`, an API error is printed and exits 1, a refused setting exits 2."""
    from server.protocol.errors import ApiError
    from server.store.embedded import redis_for
    from server.store.store import Store

    settings = settings_from_env()

    async def main(redis_url: str) -> str:
        store = Store(redis_url)
        try:
            if not await store.ping():
                raise CliError(f"cannot reach Redis at {redact_url(redis_url)} (REDIS_URL)")
            return await run(store, settings)
        finally:
            await store.close()

    try:
        with redis_for(settings.redis_url, settings.data_dir) as redis_url:
            print(asyncio.run(main(redis_url)))
    except ApiError as exc:
        print(f"vigil: {exc.error}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # e.g. production without VIGIL_JWT_SECRET, a data dir not writable
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_apikey(args: argparse.Namespace) -> int:
    """`vigil apikey create|list|revoke`: integrators' API keys (docs/integration.md)."""
    import json
    import time

    from server.accounts.apikeys import ApiKeys
    from server.accounts.secrets import signing_secret

    async def run(store: Store, settings: Settings) -> str:
        keys = ApiKeys(store.apikeys, store.exams, signing_secret(settings))
        if args.apikey_command == "create":
            made = await keys.create(args.name, args.exam, "cli", time.time())
            return (f"created API key {made['key_id']} for exams {', '.join(made['exams'])}; "
                    f"the key is shown once:\n{made['key']}")
        if args.apikey_command == "revoke":
            return f"revoked {(await keys.revoke(args.key_id, time.time()))['key_id']}"
        return "\n".join(json.dumps(row) for row in await keys.listing()) or "no API keys"

    return _with_store(run)


def cmd_token_create(args: argparse.Namespace) -> int:
    """`vigil token create`: a join token for one candidate, minted with an active API key's scope."""
    import time

    from server.accounts.apikeys import ApiKeys
    from server.accounts.join_tokens import JoinTokens
    from server.accounts.secrets import signing_secret
    from server.protocol.errors import ApiError

    async def run(store: Store, settings: Settings) -> str:
        secret = signing_secret(settings)
        keys = ApiKeys(store.apikeys, store.exams, secret)
        key = await keys.active(args.key)
        if key is None:
            raise ApiError(404, f"no active API key {args.key}")
        return str(JoinTokens(secret, keys).issue(key, args.exam, args.candidate_id, args.ttl, time.time())["join_token"])

    return _with_store(run)


def add_integration_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`vigil apikey ...` and `vigil token create`."""
    apikey = sub.add_parser(
        "apikey", help="integrators' API keys", description=f"Create, list and revoke integrators' API keys "
        f"(docs/integration.md), written straight to Redis. {STORE_ENV}", epilog=STORE_ENV_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter).add_subparsers(dest="apikey_command", required=True)
    create = apikey.add_parser("create", help="a key scoped to exams; its secret is printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--exam", required=True, action="append", help="an exam id it may use (repeat for several)")
    apikey.add_parser("list", help="every key, one JSON line each, without secrets")
    revoke = apikey.add_parser("revoke", help="revoke a key (its join tokens stop working too)")
    revoke.add_argument("key_id")
    for parser in (create, revoke, apikey.choices["list"]):
        parser.set_defaults(func=cmd_apikey)
    token = sub.add_parser(
        "token", help="join tokens for scripts", description=f"Mint a single-use join token for one candidate "
        f"with an active API key's scope, signed with the server's secret. {STORE_ENV}", epilog=STORE_ENV_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter).add_subparsers(dest="token_command", required=True)
    mint = token.add_parser("create", help="a single-use join token for one candidate (printed)")
    mint.add_argument("--key", required=True, help="id of an active API key scoped to the exam")
    mint.add_argument("--exam", required=True)
    mint.add_argument("--candidate-id", required=True)
    mint.add_argument("--ttl", type=int, default=300, help="seconds it stays valid (at most 3600)")
    mint.set_defaults(func=cmd_token_create)


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


if __name__ == "__main__":
    sys.exit(main())
