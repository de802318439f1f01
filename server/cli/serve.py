"""`vigil serve` (one worker, or `--workers` under a supervisor) and `vigil doctor`: the commands that load
the models, and the first admin a fresh install gets."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
from typing import TYPE_CHECKING

from server.cli.checks import (
    CliError,
    bind_error,
    check_policy,
    check_port_free,
    check_secrets,
    settings_from_env,
)
from server.cli.help_text import settings_help
from server.core.config import Settings, redact_url

if TYPE_CHECKING:
    from pipeline.audio.vad import SileroVad
    from pipeline.runner import Pipeline
    from server.store.store import Store

log = logging.getLogger("vigil")
#: the dev admin `vigil serve` creates on first start in `dev` mode (its password printed once)
DEV_ADMIN_EMAIL = "admin@vigil.local"


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
