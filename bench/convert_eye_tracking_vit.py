"""Gaze-target CSV (docs/evaluation.md) from github harryshu1997/Eye-Tracking-ViT, for `vigil eval --gaze`.

The repository (commit 04bcf2b, no licence file: measured locally, never committed here) holds
webcam snapshots of four people, each taken as the person clicked a dot of a 4 x 4 grid drawn 50
CSS px from the window's edges (`calib.html`): `data/<person>/<game>/image*.jpg` with
`capture_data.json`. What the conversion decides, because the source does not say it:

* **this game's targets** are the last 16 entries of `capture_data.json`: the page appends every
  game's clicks to one log until it is reloaded, so game k of a page load logs 16 k entries;
* **screen size** in CSS px is the grid's extent plus the 50 px margin (max target + 50): the
  logged `width`/`height` disagree with the targets for two people (swapped, or taken before the
  browser was zoomed);
* **sitting** (`session`) is one page load on one screen size: games whose logs continue one
  another (16, 32, 48... entries, the nearest folder number first). Images of one dot in a
  sitting come from successive games, minutes apart, not from one second as in a live
  calibration;
* the physical screen and the distance are unknown (blank): errors come out in px. With
  `--assume MM_PER_PX DISTANCE_MM` the mm and distance cells are filled with that assumption
  (`targets_assumed.csv`), so `vigil eval` can state degrees *under it*; the source recommends a
  14-inch MacBook, whose default 1512 px wide page is 0.2 mm per px (1470 px: 13.6-inch Air, 0.2).

`--clips` also writes, per person, an honest clip for the looking-away measure: every snapshot in
the order it was taken (sittings in order, clicks in order), each held `HOLD_S` at 10 fps, 640x480
H.264, with a spans CSV saying one face throughout and no looking away (the person was looking at
a dot on the screen, its edges and corners included, in every frame). A slideshow, not a video:
the head jumps between snapshots and each look lasts exactly `HOLD_S`.

    .venv/bin/python -m bench.convert_eye_tracking_vit GIT_DIR OUT_DIR [--assume 0.2 550 | --clips]
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEOPLE = ("hy", "khoa", "math10", "zhihao_shu")
GRID_MARGIN_PX = 50
DOTS_PER_GAME = 16
HOLD_S = 1.0
CLIP_FPS = 10


@dataclass(frozen=True)
class Game:
    person: str
    number: int
    logged: int  # entries in capture_data.json: 16 x (games so far in this page load)
    targets: tuple[tuple[str, int, int], ...]  # (file, x, y) of this game's clicks

    @property
    def screen(self) -> tuple[int, int]:
        return (max(x for _, x, _ in self.targets) + GRID_MARGIN_PX,
                max(y for _, _, y in self.targets) + GRID_MARGIN_PX)


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True).stdout


def read_games(git_dir: Path) -> list[Game]:
    games = []
    for person in PEOPLE:
        for folder in _git(git_dir, "ls-tree", "-d", "--name-only", "HEAD", f"data/{person}/").decode().split():
            log = json.loads(_git(git_dir, "show", f"HEAD:{folder}/capture_data.json"))["image_data"]
            last = log[-DOTS_PER_GAME:]
            games.append(Game(person, int(folder.rsplit("/", 1)[1]), len(log),
                              tuple((e["filename"], int(e["x"]), int(e["y"])) for e in last)))
    return games


def sittings(games: list[Game]) -> dict[tuple[str, int], str]:
    """(person, game number) -> sitting name: page loads, told apart by the growing click log."""
    chains: list[list[Game]] = []
    for g in sorted(games, key=lambda g: (g.person, g.screen, g.logged, g.number)):
        follows = [c for c in chains if c[-1].person == g.person and c[-1].screen == g.screen
                   and c[-1].logged == g.logged - DOTS_PER_GAME]
        if follows:
            min(follows, key=lambda c: abs(c[-1].number - g.number)).append(g)
        else:
            chains.append([g])
    names = {}
    for chain in chains:
        first = min(g.number for g in chain)
        w, h = chain[0].screen
        for g in chain:
            names[(g.person, g.number)] = f"{g.person}-from-game{first}-{w}x{h}"
    return names


def convert(git_dir: Path, out: Path, assume: tuple[float, float] | None = None) -> int:
    games = read_games(git_dir)
    names = sittings(games)
    rows = []
    for g in sorted(games, key=lambda g: (g.person, g.number)):
        w, h = g.screen
        for file, x, y in g.targets:
            rel = Path(g.person) / str(g.number) / file
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(_git(git_dir, "show", f"HEAD:data/{g.person}/{g.number}/{file}"))
            mm: list[object] = ["", "", ""] if assume is None else [
                round(w * assume[0], 1), round(h * assume[0], 1), assume[1]]
            rows.append([rel.as_posix(), names[(g.person, g.number)], x, y, w, h, *mm, g.person, g.person])
    with open(out / ("targets.csv" if assume is None else "targets_assumed.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "session", "target_x_px", "target_y_px", "screen_w_px", "screen_h_px",
                         "screen_w_mm", "screen_h_mm", "distance_mm", "group", "person"])
        writer.writerows(rows)
    return len(rows)


def clips(git_dir: Path, out: Path) -> list[Path]:
    """One honest slideshow clip and spans CSV per person (module docstring); returns the clips."""
    import av
    import cv2
    import numpy as np

    games = read_games(git_dir)
    names = sittings(games)
    written = []
    for person in PEOPLE:
        mine = sorted((g for g in games if g.person == person),
                      key=lambda g: (min(h.number for h in games if names[(h.person, h.number)]
                                         == names[(g.person, g.number)]), g.logged))
        path = out / f"{person}_on_screen_640x480.mp4"
        n = 0
        with av.open(str(path), "w") as video:
            stream = video.add_stream("libx264", rate=CLIP_FPS)
            stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
            stream.options = {"crf": "23"}
            for g in mine:
                for file, _, _ in g.targets:
                    data = np.frombuffer(_git(git_dir, "show", f"HEAD:data/{person}/{g.number}/{file}"), np.uint8)
                    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
                    assert bgr is not None, f"{person}/{g.number}/{file} is not an image"
                    rgb = np.ascontiguousarray(cv2.resize(bgr, (640, 480))[..., ::-1], dtype=np.uint8)
                    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    for _ in range(round(HOLD_S * CLIP_FPS)):
                        video.mux(stream.encode(frame))
                        n += 1
            video.mux(stream.encode(None))
        (out / f"{person}_on_screen.spans.csv").write_text(
            f"start_s,end_s,label,group\n0,{n / CLIP_FPS:g},face_count=1,{person}\n")
        written.append(path)
    return written


if __name__ == "__main__":
    if sys.argv[3:4] == ["--clips"]:
        print(*clips(Path(sys.argv[1]), Path(sys.argv[2])), sep="\n")
        sys.exit(0)
    assumed = (float(sys.argv[4]), float(sys.argv[5])) if sys.argv[3:4] == ["--assume"] else None
    print(convert(Path(sys.argv[1]), Path(sys.argv[2]), assumed), "rows")
