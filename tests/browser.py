"""Headless Chromium with a real video as its camera and a real recording as its microphone.

Facts this relies on (verified, see shared/BROWSER.md):

- Debian's `/usr/bin/chromium`, driven by the `playwright` Python package through `executable_path`.
  `playwright install` is never run: it downloads its own browser and fails here.
- Chromium's fake camera reads a `.y4m` file, and only a 4:2:0 one: a 4:4:4 y4m or an mp4 gives
  `NotFoundError: Requested device not found`. The file loops and starts playing when the camera opens.
  We write it at test time from a committed mp4 (raw video is ~460 kB a frame; never commit it).
- `--use-fake-ui-for-media-stream` grants the camera and microphone; without it getUserMedia fails with
  `NotAllowedError`.
- ICE: with media permission granted, Chromium's offer carries raw host IP candidates, and this machine
  has a non-loopback network interface, so Chromium and aioice pair up without
  `--allow-loopback-in-peer-connection`. On a loopback-only host both sides skip 127.0.0.1 and ICE never
  completes: that host would need the flag plus aioice told to offer 127.0.0.1.
- `/usr/bin/chromium` is a shell wrapper that prints a harmless `[: unexpected operator`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

CHROMIUM = Path("/usr/bin/chromium")

#: Chromium's y4m reader wants the plain stream header; colour-range tags and extensions are not needed.
_Y4M_HEADER = "YUV4MPEG2 W{w} H{h} F{num}:{den} Ip A1:1 C420jpeg\n"

#: Flags for every launch: no sandbox (we run as root in a container), no GPU, nothing that phones home or
#: updates behind the test's back, and media permission granted with fake devices.
BASE_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
)
#: grants the camera and microphone without a prompt; left out, getUserMedia fails with NotAllowedError
GRANT_MEDIA = "--use-fake-ui-for-media-stream"


def chromium_missing_reason() -> str | None:
    """None when Chromium is usable, else why the browser tests skip (installed only when we are root)."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    if os.geteuid() != 0:
        return f"{CHROMIUM} is absent and we are not root to apt-get it (run `make browser-deps` as root)"
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True,
                       timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{CHROMIUM} is absent and could not be installed: {exc}"
    return None if CHROMIUM.is_file() else f"{CHROMIUM} still absent after apt-get install chromium"


def make_y4m(video: Path, out: Path, *, seconds: float = 8.0) -> Path:
    """The first `seconds` of `video` as a 4:2:0 y4m at the source's size and frame rate (PyAV decode)."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if rate is None:
            raise ValueError(f"{video}: no frame rate")
        limit = int(round(float(rate) * seconds))
        written = 0
        with out.open("wb") as fh:
            for frame in container.decode(stream):
                if written == 0:
                    fh.write(_Y4M_HEADER.format(w=frame.width, h=frame.height, num=rate.numerator,
                                                den=rate.denominator).encode("ascii"))
                planes = frame.to_ndarray(format="yuv420p")  # (h * 3/2, w): Y then U then V, tightly packed
                fh.write(b"FRAME\n")
                fh.write(planes.tobytes())
                written += 1
                if written >= limit:
                    break
    if written == 0:
        raise ValueError(f"{video}: no frames decoded")
    return out


def make_wav(source: Path, out: Path, *, silence_s: float = 1.0) -> Path:
    """`source` (16-bit PCM) followed by `silence_s` of silence, so the looping fake mic has pauses."""
    with wave.open(str(source), "rb") as src:
        if src.getsampwidth() != 2 or src.getcomptype() != "NONE":
            raise ValueError(f"{source}: expected 16-bit PCM")
        params = src.getparams()
        frames = src.readframes(src.getnframes())
    pad = b"\0" * (int(params.framerate * silence_s) * params.nchannels * 2)
    with wave.open(str(out), "wb") as dst:
        dst.setnchannels(params.nchannels)
        dst.setsampwidth(2)
        dst.setframerate(params.framerate)
        dst.writeframes(frames + pad)
    return out


def chromium_flags(camera: Path, microphone: Path | None = None, *, grant_media: bool = True) -> list[str]:
    flags = [*BASE_FLAGS, *([GRANT_MEDIA] if grant_media else []), f"--use-file-for-fake-video-capture={camera}"]
    if microphone is not None:
        flags.append(f"--use-file-for-fake-audio-capture={microphone}")
    return flags


@asynccontextmanager
async def launch_chromium(camera: Path, microphone: Path | None = None, *,
                          grant_media: bool = True) -> AsyncIterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile, the y4m as camera and the WAV as microphone
    (`grant_media=False`: the candidate's camera permission is denied).

    Playwright refuses `--user-data-dir` in `args`; a persistent context on a new temporary directory is
    how it takes a profile directory of ours (removed afterwards), so nothing of a developer's leaks in.
    """
    from playwright.async_api import async_playwright

    profile = Path(tempfile.mkdtemp(prefix="vigil-chromium-"))
    try:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), headless=True,
                args=chromium_flags(camera, microphone, grant_media=grant_media), viewport={"width": 900, "height": 900},
                timeout=60_000)
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
