"""Builds the Proctoring-AI clips in this folder from the repository's originals.

The originals (github vardanagarwal/Proctoring-AI, `eye_tracking/*.mp4`, MIT) are 848x480 with a
-90 degree display rotation that decoders do not apply. Each is turned upright, scaled to 480 px
high, pillarboxed to 640x480 and resampled to 15 fps (the frame shown at each step), as
`shared/data/video/proctoringai_center_left_center_640x480.mp4` was: this script applied to
`center_left_center.mp4` reproduces it within 1 luma level on average.

    .venv/bin/python bench/data/video/make_proctoringai_clips.py ORIGINAL.mp4 OUT_640x480.mp4
"""
import sys

import av
import cv2
import numpy as np

FPS = 15
#: quarter turns (numpy.rot90) that make the originals upright
QUARTER_TURNS = 3


def convert(src: str, dst: str) -> int:
    with av.open(src) as inp:
        stream = inp.streams.video[0]
        duration = float(stream.duration * stream.time_base)
        frames = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in inp.decode(video=0)]
    n, i = 0, 0
    with av.open(dst, "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
        video.options = {"crf": "23"}
        while n / FPS <= duration - 1e-6:
            t = n / FPS
            while i + 1 < len(frames) and frames[i + 1][0] <= t + 1e-6:
                i += 1
            upright = np.ascontiguousarray(np.rot90(frames[i][1], k=QUARTER_TURNS))
            h, w = upright.shape[:2]
            width = round(w * 480 / h)
            canvas = np.zeros((480, 640, 3), np.uint8)
            x0 = (640 - width) // 2
            canvas[:, x0:x0 + width] = cv2.resize(upright, (width, 480), interpolation=cv2.INTER_AREA)
            for packet in video.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
            n += 1
        for packet in video.encode():
            out.mux(packet)
    return n


if __name__ == "__main__":
    print(sys.argv[2], convert(sys.argv[1], sys.argv[2]), "frames")
