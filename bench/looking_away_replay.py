"""Looking away on real video, replayed: the face path's observations once, the risk engine many times.

`vigil eval` runs every stage on every frame, minutes per clip on a shared CPU. The looking-away
reading depends only on the face path (faces, head pose, gaze, quality), so this tool runs that
path once per video at the analysis rate (5 fps, `pipeline.default.face_stages`, the same
`observation_from_analysis` the live session uses) and writes the observations as JSON lines;
`replay` then feeds them to whatever `RiskEngine` is importable and scores `looking_away` like
`vigil eval` does (frame-level counts of the engine's reading, events overlapping a span, false
events on honest time), except that frames whose reading is unknown are left out and `ignore`
spans are not (a transition frame counts). The final numbers are `vigil eval`'s; this is for
comparing baselines.

    .venv/bin/python -m bench.looking_away_replay dump VIDEO OUT.jsonl
    .venv/bin/python -m bench.looking_away_replay replay OUT.jsonl SPANS.csv [...pairs]
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

FPS = 5.0


def dump(video: Path, out: Path) -> int:
    from pipeline.default import face_stages
    from pipeline.frame import VideoFrame
    from pipeline.observe import observation_from_analysis
    from pipeline.runner import Pipeline
    from server.tools.candidate.media_files import rgb_frames

    pipeline = Pipeline(face_stages())
    pipeline.load()
    session = pipeline.new_session()
    n = 0
    with out.open("w") as f:
        for frame_id, (t, rgb) in enumerate(rgb_frames(video, FPS), start=1):
            obs = observation_from_analysis(session.analyse(VideoFrame(rgb, t=t, frame_id=frame_id)))
            f.write(json.dumps(dataclasses.asdict(obs)) + "\n")
            n += 1
    return n


def replay(observations: Path, spans_csv: Path) -> dict[str, Any]:
    import csv

    from pipeline.risk import Observation, RiskEngine
    from pipeline.risk.events import EVENT_SPECS

    known = {f.name for f in dataclasses.fields(Observation)}
    rows = [json.loads(line) for line in observations.read_text().splitlines() if line.strip()]
    spans = [(float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(spans_csv.open())
             if r["label"] == "looking_away"]
    inside = lambda t: any(a <= t < b for a, b in spans)  # noqa: E731
    engine = RiskEngine()
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for row in rows:
        obs = Observation.from_dict({k: v for k, v in row.items() if k in known})
        engine.observe(obs)
        reading = EVENT_SPECS["looking_away"].reader(obs, engine.policy, engine.baseline)  # type: ignore[misc]
        if reading is None:
            continue
        truth, said = inside(obs.t), reading.holding
        counts[("t" if truth == said else "f") + ("p" if said else "n")] += 1
    end = rows[-1]["t"] + 1.0 / FPS
    events = [(e.start, e.end if e.end is not None else end) for e in engine.finish(end).events
              if e.type == "looking_away"]
    false = [e for e in events if not any(e[0] < b and a < e[1] for a, b in spans)]
    found = sum(1 for a, b in spans if any(e[0] < b and a < e[1] for e in events))
    pos, neg = counts["tp"] + counts["fn"], counts["tn"] + counts["fp"]
    parts = [counts["tp"] / pos if pos else None, counts["tn"] / neg if neg else None]
    known_parts = [p for p in parts if p is not None]
    return {**counts, "ba": round(sum(known_parts) / len(known_parts), 3) if known_parts else None,
            "spans": len(spans), "found": found, "false_events": [[round(a, 1), round(b, 1)] for a, b in false]}


def main(argv: list[str]) -> int:
    if argv[:1] == ["dump"]:
        print(dump(Path(argv[1]), Path(argv[2])), "frames")
        return 0
    if argv[:1] == ["replay"]:
        pairs = argv[1:]
        for obs, spans in zip(pairs[::2], pairs[1::2], strict=True):
            print(Path(obs).name, json.dumps(replay(Path(obs), Path(spans))))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
