"""`vigil loadtest`: scripted candidates against a running server, WebRTC and/or the WebSocket baseline.

    vigil loadtest --url http://127.0.0.1:8080 --clients 8 --duration 30 \\
        --video tests/data/proctoringai_center_left_center_640x480.mp4 [--audio FILE] [--ramp 5] \\
        [--transport webrtc|ws|both] [--processes P] [--json results.json]

Modules, one job each: `options` (what a run is), `runner` (processes, schedule, collection),
`worker` (one generator process), `webrtc_client` and `ws_client` (one candidate of each
transport), `progress` (live per-client state), `server_probe` (/metrics samples), `stats`
(results and percentiles), `report` (the JSON document and the tables; its docstring is the
JSON's documentation).

This module stays light: the CLI imports it to register the subcommand.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `loadtest` on the CLI's subparsers."""
    from server.tools.loadtest.options import add_arguments

    parser = subparsers.add_parser("loadtest", help="scripted candidates against a running server")
    add_arguments(parser)
    parser.set_defaults(func=cmd_loadtest)
    return parser


def cmd_loadtest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from server.tools.loadtest.options import from_args
    from server.tools.loadtest.report import print_summary, progress_table
    from server.tools.loadtest.runner import run_loadtest

    try:
        options = from_args(args)
    except ValueError as exc:
        print(f"vigil loadtest: {exc}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    total_s = options.ramp_s + options.duration_s
    began = time.time()

    async def run() -> dict[str, Any]:
        if args.quiet or not console.is_terminal:
            return await run_loadtest(options)
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            def show(progress: dict[str, dict[str, Any]]) -> None:
                live.update(progress_table(progress, elapsed_s=time.time() - began, total_s=total_s))
            return await run_loadtest(options, on_progress=show)

    console.print(f"vigil loadtest: {options.total_clients()} client(s) ({options.transport}) on "
                  f"{options.process_count()} process(es), {options.ramp_s:g} s ramp + "
                  f"{options.duration_s:g} s against {options.url}")
    report = asyncio.run(run())
    print_summary(report, Console() if sys.stdout.isatty() else Console(width=150))
    if args.json_out is not None:
        try:
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(json.dumps(report, indent=1))
        except OSError as exc:
            print(f"vigil loadtest: cannot write --json: {exc}", file=sys.stderr)
            return 2
        console.print(f"wrote {args.json_out}")
    return 0 if not report["failures"] else 1
