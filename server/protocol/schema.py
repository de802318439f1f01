"""JSON Schema of every message that crosses the network, generated from the models in this package.

    python -m server.protocol.schema          # (re)write docs/schema/*.json
    python -m server.protocol.schema --check  # exit 1, naming the stale files, when they differ

One file per surface (docs/README.md): HTTP bodies and session answers, the data channel from the
client and from the server, the live fan-out, and the items of a session's event stream. The files
are committed so clients can read the contract without running Vigil; a test fails when they drift.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from server.protocol import answers, http
from server.protocol.datachannel import ClientMessage, ServerMessage
from server.protocol.events import VerdictSummary
from server.protocol.fanout import FanoutMessage
from server.protocol.stream import StreamItem

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "python -m server.protocol.schema"
REF = "#/$defs/{model}"

HTTP_MODELS: tuple[type[BaseModel], ...] = (
    http.CreateSession, http.SessionDescription, http.SessionCreated, http.SessionAnswer, VerdictSummary,
    http.SessionState, http.SessionList, http.LoginBody, http.RegisterBody, http.CreateExam, http.ScreenInfo,
    http.ReviewPatch, http.ReviewState, http.CheckFrame, http.CheckFrameResult, *answers.ANSWER_MODELS)


@dataclass(frozen=True)
class Surface:
    file: str
    title: str
    description: str
    build: Callable[[], dict[str, Any]]


def _union(annotation: Any) -> Callable[[], dict[str, Any]]:
    return lambda: TypeAdapter(annotation).json_schema(ref_template=REF)


def _definitions(models: tuple[type[BaseModel], ...]) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        _, schema = models_json_schema([(m, "validation") for m in models], ref_template=REF)
        return schema

    return build


SURFACES: tuple[Surface, ...] = (
    Surface("http.json", "Vigil HTTP bodies",
            "Request bodies Vigil reads and the JSON answers of the API (docs/http-api.md); one definition each.",
            _definitions(HTTP_MODELS)),
    Surface("datachannel-client.json", "Vigil data channel, client to server",
            "One message on the `vigil` data channel from the candidate's page or client (docs/data-channel.md).",
            _union(ClientMessage)),
    Surface("datachannel-server.json", "Vigil data channel, server to client",
            "One message on the `vigil` data channel from Vigil, discriminated by `type` (docs/data-channel.md).",
            _union(ServerMessage)),
    Surface("fanout.json", "Vigil live fan-out",
            "One message on Redis pub/sub `vigil:channel:live`, relayed by `GET /api/live/stream` as a "
            "server-sent event named by `type` (docs/http-api.md).",
            _union(FanoutMessage)),
    Surface("stream.json", "Vigil event-stream item",
            "One item of a session's event stream, discriminated by `kind` (`GET /api/sessions/{id}/events`, "
            "docs/redis-keys.md).",
            _union(StreamItem)),
)


def _drop_null_defaults(node: Any) -> None:
    """`Absent` keys carry pydantic's `default: null` although null is not allowed: drop it."""
    if isinstance(node, dict):
        if node.get("default", 0) is None and "anyOf" not in node:
            del node["default"]
        for value in node.values():
            _drop_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_null_defaults(value)


def document(surface: Surface) -> dict[str, Any]:
    body = surface.build()
    _drop_null_defaults(body)
    return {"$schema": DIALECT, "$id": f"https://vigil.invalid/schema/{surface.file}", "title": surface.title,
            "description": surface.description, **body}


def render(surface: Surface) -> str:
    return json.dumps(document(surface), indent=2, ensure_ascii=False) + "\n"


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """Files whose committed text differs from what the models generate (or that are missing)."""
    out = []
    for surface in SURFACES:
        path = directory / surface.file
        if not path.is_file() or path.read_text(encoding="utf-8") != render(surface):
            out.append(surface.file)
    return out


def write(directory: Path = SCHEMA_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for surface in SURFACES:
        (directory / surface.file).write_text(render(surface), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        files = stale()
        if files:
            print(f"stale in {SCHEMA_DIR}: {', '.join(files)}; regenerate with `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
