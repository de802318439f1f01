"""Proctoring-AI eye_tracking clips -> upright, pillarboxed 640x480, 15 fps H.264 (like shared/data's)."""
import sys
import av, numpy as np, cv2

def convert(src, dst, rot):
    inp = av.open(src); out = av.open(dst, "w")
    st = out.add_stream("libx264", rate=15); st.width, st.height = 640, 480; st.pix_fmt = "yuv420p"
    st.options = {"crf": "23"}
    vs = inp.streams.video[0]
    dur = float(vs.duration * vs.time_base); n = 0
    frames = []
    for fr in inp.decode(video=0):
        t = float(fr.pts * fr.time_base)
        frames.append((t, fr.to_ndarray(format="rgb24")))
    i = 0
    while True:
        t = n / 15.0
        if t > dur - 1e-6: break
        while i + 1 < len(frames) and frames[i + 1][0] <= t + 1e-6: i += 1
        img = np.rot90(frames[i][1], k=rot)
        h, w = img.shape[:2]; nw = round(w * 480 / h)
        img = cv2.resize(np.ascontiguousarray(img), (nw, 480), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((480, 640, 3), np.uint8); x0 = (640 - nw) // 2; canvas[:, x0:x0 + nw] = img
        for p in st.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")): out.mux(p)
        n += 1
    for p in st.encode(): out.mux(p)
    out.close()
    print(dst, n)

if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2], int(sys.argv[3]))
