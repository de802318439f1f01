"""`python -m server.tools.candidate URL VIDEO [--candidate-id ID]`: one scripted candidate that
connects, prints `{"session_id": ...}` on one line once its data channel is open, and streams until
it is killed (the liveness tests kill it with SIGKILL, like a crashed browser)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from server.tools.candidate.candidate import CandidateClient


async def _run(url: str, video: str, candidate_id: str) -> None:
    client = CandidateClient(url, video, candidate_id=candidate_id)
    await client.connect()
    print(json.dumps({"session_id": client.session_id}), flush=True)
    await asyncio.Event().wait()  # stream until killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.tools.candidate", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("video")
    parser.add_argument("--candidate-id", default="candidate-1")
    args = parser.parse_args(argv)
    asyncio.run(_run(args.url, args.video, args.candidate_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
