"""Builds face_then_empty_640x480.mp4: 6 s of the face clip, then 6 s of the empty tree scene.

Run from the repo root with shared/ beside it: .venv/bin/python tests/data/make_face_then_empty.py
"""
from fractions import Fraction
from pathlib import Path

import av

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "video"
OUT = Path(__file__).resolve().parent / "face_then_empty_640x480.mp4"
PARTS = [("proctoringai_center_left_center_640x480.mp4", 0.0, 6.0), ("opencv_tree_no_person_640x480.mp4", 2.0, 8.0)]

with av.open(str(OUT), "w") as out:
    stream = out.add_stream("libx264", rate=15)
    stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
    stream.options = {"crf": "30", "preset": "veryfast"}
    n = 0
    for name, start, end in PARTS:
        with av.open(str(SHARED / name)) as src:
            vs = src.streams.video[0]
            for frame in src.decode(vs):
                t = float(frame.pts * vs.time_base)
                if t < start:
                    continue
                if t >= end:
                    break
                f = frame.reformat(width=640, height=480, format="yuv420p")
                f.pts = n
                f.time_base = Fraction(1, 15)
                n += 1
                for packet in stream.encode(f):
                    out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
print(OUT, OUT.stat().st_size)
