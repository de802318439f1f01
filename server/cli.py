"""`vigil`: the command line (serve, loadtest, user)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from typing import Sequence

from server.config import Settings

log = logging.getLogger("vigil")


def _worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_server(settings: Settings, redis_url: str, *, ready: "asyncio.Event | None" = None) -> None:
    from aiohttp import web

    from server.app import build_app
    from server.models import load_models
    from server.store import Store

    loop = asyncio.get_running_loop()
    pipeline, vad = await loop.run_in_executor(None, load_models, settings)
    store = Store(redis_url)
    if not await store.ping():
        raise SystemExit(f"cannot reach Redis at {redis_url}")
    app = build_app(settings=settings, store=store, pipeline=pipeline, worker_id=_worker_id(), vad=vad)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    print(f"vigil: listening on http://{settings.host}:{settings.port} (redis {redis_url})", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()
        await store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from server.embedded_redis import EmbeddedValkey
    from server.logs import configure_logging

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"vigil: bad setting: {exc}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.with_overrides(**overrides)
    configure_logging(settings.log_level)
    embedded = None
    redis_url = settings.redis_url
    if redis_url is None:
        embedded = EmbeddedValkey(settings.data_dir)
        redis_url = embedded.start()
    try:
        asyncio.run(run_server(settings, redis_url))
    except ValueError as exc:  # configuration refused at start-up (e.g. production without a secret)
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Real-time WebRTC proctoring media server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (embedded Valkey when REDIS_URL is unset)")
    serve.add_argument("--host", default=None, help="listen address (default VIGIL_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default VIGIL_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1, help="media worker processes (default 1)")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
