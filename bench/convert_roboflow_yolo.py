"""Object-boxes CSV (docs/evaluation.md) from a Roboflow YOLO export kept in a git repository.

A Roboflow export holds `<split>/images/*.jpg`, `<split>/labels/*.txt` (one `class cx cy w h` line
per box, fractions of the image) and `data.yaml` (`names`, `license`). This takes the unaugmented
splits (`valid`, `test`: Roboflow augments only `train`), resizes each image to `--size` (an
export stretched to a square is put back to its camera's 4:3) as JPEG, and writes one CSV row per
box with its COCO label (`--label phone="cell phone"`) or, for an image whose classes are all
unmapped, one row with an empty label (an honest image for the classes scored). The source class
is the row's `group`, so every metric is also reported per source class.

    .venv/bin/python -m bench.convert_roboflow_yolo GIT_DIR EXPORT_DIR OUT_DIR NAME \\
        --size 640x480 --label phone="cell phone"
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
from pathlib import Path

import cv2
import numpy as np

SPLITS = ("valid", "test")


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True).stdout


def class_names(data_yaml: str) -> list[str]:
    """`names` of a Roboflow data.yaml (its block list form), without a YAML dependency."""
    names, inside = [], False
    for line in data_yaml.splitlines():
        if line.startswith("names:"):
            inside = True
            continue
        if inside and line.startswith("- "):
            names.append(line[2:].strip().strip("'\""))
        elif inside:
            break
    return names


def convert(git_dir: Path, export: str, out: Path, name: str, size: tuple[int, int],
            labels: dict[str, str]) -> list[list[object]]:
    names = class_names(_git(git_dir, "show", f"HEAD:{export}/data.yaml").decode())
    width, height = size
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[list[object]] = []
    manifest: list[str] = []
    for split in SPLITS:
        listing = _git(git_dir, "ls-tree", "-r", "--name-only", "HEAD", f"{export}/{split}/images/").decode()
        for image_path in sorted(listing.split()):
            stem = Path(image_path).stem.split(".rf.")[0]
            label_path = f"{export}/{split}/labels/{Path(image_path).stem}.txt"
            boxes = [line.split() for line in _git(git_dir, "show", f"HEAD:{label_path}").decode().splitlines()
                     if line.strip()]
            bgr = cv2.imdecode(np.frombuffer(_git(git_dir, "show", f"HEAD:{image_path}"), np.uint8),
                               cv2.IMREAD_COLOR)
            assert bgr is not None, f"{image_path} is not an image"
            target = folder / f"{split}_{stem}.jpg"
            ok, jpeg = cv2.imencode(".jpg", cv2.resize(bgr, size, interpolation=cv2.INTER_AREA),
                                    [cv2.IMWRITE_JPEG_QUALITY, 80])
            assert ok
            target.write_bytes(jpeg.tobytes())
            manifest.append(f"{hashlib.sha256(jpeg.tobytes()).hexdigest()}  {target.name}  <- {image_path}")
            rel = target.relative_to(out).as_posix()
            source_classes = sorted({names[int(b[0])] for b in boxes})
            group = "+".join(source_classes) or "none"
            scored = [b for b in boxes if names[int(b[0])] in labels]
            for b in scored:
                cx, cy, w, h = (float(v) for v in b[1:5])
                rows.append([rel, labels[names[int(b[0])]], round((cx - w / 2) * width), round((cy - h / 2) * height),
                             round(w * width), round(h * height), group])
            if not scored:
                rows.append([rel, "", "", "", "", "", group])
    (folder / "MANIFEST.sha256").write_text("\n".join(manifest) + "\n")
    with open(out / f"{name}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "x", "y", "w", "h", "group"])
        writer.writerows(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir", type=Path)
    parser.add_argument("export", help="the export's folder in the repository (holds data.yaml)")
    parser.add_argument("out", type=Path)
    parser.add_argument("name", help="image folder and CSV name under OUT")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--label", action="append", default=[], help='source class -> COCO label: phone="cell phone"')
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    labels = dict(item.split("=", 1) for item in args.label)
    rows = convert(args.git_dir, args.export, args.out, args.name, (w, h), labels)
    print(len(rows), "rows")


if __name__ == "__main__":
    main()
