"""`vigil eval`: the product's own pipeline, risk engine and calibration on labelled media.

    vigil eval --video clip.mp4 --spans clip_spans.csv [--video ... --spans ...]
               [--boxes objects.csv] [--gaze targets.csv]
               [--fps 5] [--hold 5] [--detector yolox|yolox-whole|nanodet] [--threshold "cell phone=0.3"]
               [--confirm 2/3] [--policy policy.toml] [--json results.json] [--quiet]

The formats are documented in docs/evaluation.md. Modules, one job each: `formats` (the CSV
readers), `metrics` (pure metric functions), `labels` (what a span label means to the product),
`video`, `objects` and `gaze` (the runners and their pure scoring), `run` (one whole run and its
JSON), `report` (the JSON's fields and the rich tables).

This module stays light: the CLI imports it to register the subcommand.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _threshold(text: str) -> tuple[str, float]:
    label, sep, value = text.rpartition("=")
    if not sep or not label:
        raise argparse.ArgumentTypeError(f"expected LABEL=VALUE, got {text!r}")
    try:
        return label.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number in {text!r}") from None


def _confirm(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        pair = (int(k), int(n))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 2/3), got {text!r}") from None
    if not sep or not 1 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= K <= N, got {text!r}")
    return pair


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `eval` on the CLI's subparsers."""
    parser = subparsers.add_parser("eval", help="measure the pipeline and risk engine on labelled media",
                                   description="Formats: docs/evaluation.md")
    parser.add_argument("--video", type=Path, action="append", default=[], help="a video; pair each with --spans")
    parser.add_argument("--spans", type=Path, action="append", default=[], help="spans CSV of the video before it")
    parser.add_argument("--boxes", type=Path, action="append", default=[], help="object boxes CSV (images)")
    parser.add_argument("--gaze", type=Path, action="append", default=[], help="gaze-target CSV (images)")
    parser.add_argument("--fps", type=_positive, default=5.0, help="analysed frames per second (default 5)")
    parser.add_argument("--hold", type=_positive, default=5.0,
                        help="seconds each object image is held in front of a session for events (default 5)")
    parser.add_argument("--detector", default=None, help="object detector backend (default: the stage's)")
    parser.add_argument("--threshold", type=_threshold, action="append", default=[], metavar="LABEL=VALUE",
                        help="override one class's detection threshold (repeatable)")
    parser.add_argument("--confirm", type=_confirm, default=None, metavar="K/N",
                        help="objects must be seen in K of the last N detector passes (default: the stage's)")
    parser.add_argument("--policy", type=Path, default=None, help="risk policy file (TOML or JSON)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--quiet", action="store_true", help="no tables")
    parser.set_defaults(func=cmd_eval)
    return parser


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.console import Console

    from server.core.logs import quiet_native_logs
    from server.tools.evaluate.formats import FormatError
    from server.tools.evaluate.report import print_report
    from server.tools.evaluate.run import EvalOptions, run_eval

    quiet_native_logs()
    if len(args.video) != len(args.spans):
        print("vigil eval: give one --spans per --video", file=sys.stderr)
        return 2
    if not (args.video or args.boxes or args.gaze):
        print("vigil eval: nothing to evaluate (--video/--spans, --boxes or --gaze)", file=sys.stderr)
        return 2
    options = EvalOptions(videos=list(zip(args.video, args.spans, strict=True)), boxes=args.boxes, gaze=args.gaze,
                          fps=args.fps, hold_s=args.hold, detector=args.detector, thresholds=dict(args.threshold),
                          confirm=args.confirm, policy=args.policy)
    console = Console(stderr=True)
    try:
        doc = run_eval(options, progress=lambda msg: None if args.quiet else console.print(f"[dim]{msg}[/dim]"))
    except (FormatError, OSError, ValueError, RuntimeError) as exc:  # OSError: a directory, no permission...
        print(f"vigil eval: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_report(doc, Console())
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"vigil eval: cannot write --json: {exc}", file=sys.stderr)
            return 2
    return 0
