"""Evidence a reviewer can play, end to end: a real aiortc candidate (5 s of one face, then two people) on a
real server with real models and Valkey.

The `multiple_faces` event yields a clip that PyAV decodes to the analysed frames of its window (one face
before the event's start, two after, each frame at its time) and a snapshot with a box on each of the two
faces; the clip is served as video/webm (with byte ranges) to an admin; after a dropped connection and a
resume, the PDF report names the event in words and shows the disconnection; the review page plays the
clip in headless Chromium (screenshots and the rendered PDF page go to the test's tmp dir); deleting the
session removes the clip with the rest.

Then two people who leave (an empty room): objects are detected every 2 s in the background and carried
between passes, yet the `no_face` clip draws no person box on a frame more than `MAX_BOX_AGE_S` after the
people were last seen, while a frame an object pass ran on shows its person boxes; a proctor's message sent
during that session is in report.json and on the review page (list and timeline mark; screenshot).
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Iterable
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import aiohttp
import av
import cv2
import numpy as np
import pytest

from server.live.detections import MAX_BOX_AGE_S
from server.live.frame_drawing import FACE_COLOUR, OBJECT_COLOUR, OTHER_FACE_COLOUR
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import SHARED_DATA, eventually
from tests.test_accounts import PASSWORD, make_user
from tests.test_dashboard_browser import CHROMIUM, FLAGS
from tests.test_reports import fetch, pdf_text, user_headers

ONE_FACE = SHARED_DATA / "images" / "faces" / "obama.jpg"
TWO_FACES = SHARED_DATA / "images" / "multi_face" / "two_people.jpg"
EMPTY_ROOM = SHARED_DATA / "video" / "opencv_tree_no_person_640x480.mp4"
ONE_FACE_S, TWO_FACES_S, FPS = 5.0, 9.0, 15

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
                                   reason="poppler-utils missing (make browser-deps installs it)")


def letterboxed(path: Path, width: int = 640, height: int = 480) -> np.ndarray:
    """The photo as RGB, scaled to fit width x height on black."""
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    scale = min(width / img.shape[1], height / img.shape[0])
    small = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def one_then_two_faces(out: Path) -> Path:
    """ONE_FACE_S of one face, then TWO_FACES_S of two people, as H.264 at FPS."""
    return scenes_video(out, ((letterboxed(ONE_FACE), ONE_FACE_S), (letterboxed(TWO_FACES), TWO_FACES_S)))


def scenes_video(out: Path, scenes: tuple[tuple[np.ndarray, float], ...]) -> Path:
    """Each 640x480 RGB picture held for its seconds, one after the other, as H.264 at FPS."""
    return frames_video(out, (img for img, seconds in scenes for _ in range(int(seconds * FPS))))


def frames_video(out: Path, frames: Iterable[np.ndarray]) -> Path:
    """640x480 RGB frames as H.264 at FPS."""
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for n, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def decode(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data), "r") as container:
        return list(container.decode(video=0))


def boxes_of(img_bgr: np.ndarray, rgb: tuple[int, int, int]) -> int:
    """Boxes drawn in colour `rgb`: connected shapes of that colour (a box outline with its label) large
    enough not to be JPEG noise; dilated first, so another box's 2 px line crossing one does not cut it in two."""
    target = np.array(rgb[::-1], int)
    mask = (np.abs(img_bgr.astype(int) - target).sum(axis=2) < 90).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return sum(1 for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] > 60)


def closer_to(frame: np.ndarray, a: np.ndarray, b: np.ndarray) -> str:
    """Which of two reference pictures a decoded frame shows, by mean absolute difference (caption cut)."""
    h = frame.shape[0] - 20
    da = float(np.abs(frame[:h].astype(int) - a[:h].astype(int)).mean())
    db = float(np.abs(frame[:h].astype(int) - b[:h].astype(int)).mean())
    return "a" if da < db else "b"


def render_pages(pdf: Path, prefix: Path) -> None:
    subprocess.run(["pdftoppm", "-png", "-r", "80", str(pdf), str(prefix)], check=True)


async def items_of(server: Any, sid: str) -> list[dict[str, Any]]:
    return list(await server.store.events(sid))


@needs_poppler
async def test_an_event_gives_a_playable_clip_and_a_snapshot_boxing_every_face(
        vigil_server, loaded_models, tmp_path: Path) -> None:
    video = one_then_two_faces(tmp_path / "one_then_two_faces.mp4")
    admin = await user_headers(vigil_server.app, "admin")
    client = CandidateClient(vigil_server.url, video, candidate_id="clip-candidate")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis" and m.get("faces") == 1, timeout=20)
        await client.wait_for(lambda m: m.get("type") == "analysis" and any(
            e["type"] == "multiple_faces" and e["state"] == "started" for e in m.get("events", [])), timeout=30)
        sid = client.session_id
        assert sid is not None

        async def clip_logged() -> list[dict[str, Any]]:
            return [i for i in await items_of(vigil_server, sid)
                    if i["kind"] in ("clip", "clip_skipped") and i["event_id"] == "multiple_faces-1"]
        [clip] = await eventually(clip_logged, 20, "the multiple_faces clip")  # its window closes 3 s after
        # a dropped connection and a resume: the report must show the disconnection
        await client.drop()

        async def disconnected() -> bool:
            return (await vigil_server.store.session(sid) or {}).get("status") == "disconnected"
        await eventually(disconnected, 20, "the session marked disconnected")
        await client.connect(resume=True)
        await client.wait_for(lambda m: m.get("type") == "analysis", timeout=20, after=len(client.messages))
        await client.end()
    finally:
        await client.close()

    items = await items_of(vigil_server, sid)
    event = next(i["event"] for i in items if i["kind"] == "event_started" and i["event"]["id"] == "multiple_faces-1")
    start = float(event["start"])
    folder = vigil_server.settings.data_dir / "evidence" / sid

    # -- the clip: the analysed frames from 3 s before the event's start to 3 s after, at their times ---------
    assert clip["kind"] == "clip", clip
    assert clip["file"] == "multiple_faces-1.webm" and clip["start"] < start < clip["end"]
    assert 2.0 <= start - clip["start"] <= 3.0 and 2.0 <= clip["end"] - start <= 3.0
    data = (folder / clip["file"]).read_bytes()
    assert len(data) == clip["bytes"]
    frames = decode(data)
    assert len(frames) == clip["frames"] >= 3  # at 5 fps ~30; fewer when the machine is busy
    assert frames[0].width == 320 and frames[0].height == 240
    last = frames[-1].time
    assert last is not None and abs(last - (clip["end"] - clip["start"])) < 0.002
    one, two = (cv2.resize(letterboxed(p), (320, 240), interpolation=cv2.INTER_AREA) for p in (ONE_FACE, TWO_FACES))
    shows = [(clip["start"] + (f.time or 0.0), closer_to(f.to_ndarray(format="rgb24"), one, two)) for f in frames]
    before = [s for t, s in shows if t < start - 0.5]
    after = [s for t, s in shows if t > start + 0.5]
    assert before and set(before) == {"a"}, shows  # one face before the event's start
    assert after and set(after) == {"b"}, shows  # two people after it

    # -- the snapshot: a box on each of the two faces ---------------------------------------------------------
    snapshot = cv2.imread(str(folder / "multiple_faces-1.jpg"))
    assert snapshot is not None
    assert boxes_of(snapshot, FACE_COLOUR) == 1 and boxes_of(snapshot, OTHER_FACE_COLOUR) == 1

    # -- served to an admin as video/webm, with byte ranges for seeking ----------------------------------------
    base = f"{vigil_server.url}/api/sessions/{sid}"
    status, body, ctype = await fetch(f"{base}/evidence/{clip['file']}", admin)
    assert status == 200 and ctype == "video/webm" and body == data
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/evidence/{clip['file']}", headers={**admin, "Range": "bytes=0-99"}) as r:
            assert r.status == 206 and await r.read() == data[:100]

    # -- report.json and the PDF: the clip listed, readable names, the disconnection ----------------------------
    status, body, _ = await fetch(f"{base}/report.json", admin)
    report = json.loads(body)
    row = next(e for e in report["events"] if e["id"] == "multiple_faces-1")
    assert row["clip"] == "multiple_faces-1.webm" and row["evidence"] == "multiple_faces-1.jpg"
    assert report["evidence"]["clips"] >= 1
    assert any(s["reason"] == "disconnected" for s in report["unobserved_spans"])
    status, body, _ = await fetch(f"{base}/report.pdf", admin)
    assert status == 200
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(body)
    text = " ".join(pdf_text(pdf).split())
    assert "Multiple faces seen" in text and "multiple_faces-1" in text and "multiple_faces /" not in text
    # the AI's reasons name events in words too ("kinds: multiple faces seen, ...", not "multiple_faces, ...")
    assert "kinds: multiple_faces" not in text and "multiple faces seen" in text
    assert "Disconnections 1 (" in text and "disconnected" in text
    assert "video clips (played on the review page)" in text
    render_pages(pdf, tmp_path / "report")  # to look at

    # -- the review page plays the clip -----------------------------------------------------------------------
    await play_on_the_review_page(vigil_server.url, vigil_server.store, sid, tmp_path)

    # -- deleting the session removes its clip with the rest ----------------------------------------------------
    async with aiohttp.ClientSession() as http:
        async with http.delete(base, headers=admin) as r:
            assert r.status == 200, await r.text()
    assert not (folder / clip["file"]).exists() and not folder.exists()
    status, _, _ = await fetch(f"{base}/evidence/{clip['file']}", admin)
    assert status == 404


async def play_on_the_review_page(base: str, store: Any, sid: str, out: Path) -> None:
    if not CHROMIUM.is_file():  # noqa: ASYNC240
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; `make browser-deps`)")
    from playwright.async_api import async_playwright

    email = await make_user(store, "admin")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/dashboard.html")
            await page.fill("#email", email)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_selector("#login-form", state="hidden")
            await page.goto(f"{base}/review.html?session={sid}")
            video = page.locator('#gallery figure[data-event-id="multiple_faces-1"] video')
            await video.wait_for()
            # Chromium decoded the clip: its size and length are known, and it plays to its end
            await page.wait_for_function("(v) => v.readyState >= 1 && v.videoWidth === 320", arg=await video.element_handle())
            duration = await video.evaluate("(v) => v.duration")
            assert 4.0 <= duration <= 7.0
            await video.evaluate("(v) => { v.playbackRate = 4; return v.play(); }")
            await page.wait_for_function("(v) => v.ended", arg=await video.element_handle(), timeout=20_000)
            await video.evaluate("(v) => { v.currentTime = v.duration / 2; }")
            await video.scroll_into_view_if_needed()
            await page.screenshot(path=str(out / "review.png"), full_page=True)
            cell = page.locator('#flags tr[data-event-id="multiple_faces-1"]')
            assert "clip" in await cell.inner_text()
            assert not errors, errors
        finally:
            await browser.close()


async def test_a_person_box_is_not_drawn_after_the_person_left_and_proctor_messages_are_reviewed(
        vigil_server, loaded_models, tmp_path: Path) -> None:
    people = letterboxed(TWO_FACES)
    with av.open(str(EMPTY_ROOM)) as room:  # a real camera's empty scene: no one, never frozen or covered
        empty_frames = [f.to_ndarray(format="rgb24") for f in islice(room.decode(video=0), int(8 * FPS))]
    # the still photo flickers by 2 levels a frame, as a camera's picture does, so it is not taken as frozen
    flicker = [np.clip(people.astype(int) + (2 if n % 2 else -2), 0, 255).astype(np.uint8) for n in range(2)]
    video = frames_video(tmp_path / "people_then_empty.mp4",
                         [flicker[n % 2] for n in range(int(5 * FPS))] + empty_frames)
    empty = empty_frames[0]
    admin = await user_headers(vigil_server.app, "admin")
    client = CandidateClient(vigil_server.url, video, candidate_id="leaving-candidate")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis" and (m.get("faces") or 0) >= 1, timeout=20)
        sid = client.session_id
        assert sid is not None
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{vigil_server.url}/api/sessions/{sid}/message", headers=admin,
                                 json={"text": "Please stay in view of the camera."}) as r:
                assert r.status == 200, await r.text()
        await client.wait_for(lambda m: m.get("type") == "proctor.message", timeout=10)

        async def clip_logged() -> list[dict[str, Any]]:
            return [i for i in await items_of(vigil_server, sid)
                    if i["kind"] in ("clip", "clip_skipped") and i["event_id"] == "no_face-1"]
        [clip] = await eventually(clip_logged, 40, "the no_face clip")
        await client.end()
    finally:
        await client.close()

    # -- the clip: person boxes on frames an object pass ran on, none once the people have gone --------------
    assert clip["kind"] == "clip", clip
    folder = vigil_server.settings.data_dir / "evidence" / sid
    small_people, small_empty = (cv2.resize(p, (320, 240), interpolation=cv2.INTER_AREA) for p in (people, empty))
    shown = []
    for f in decode((folder / clip["file"]).read_bytes()):
        rgb = f.to_ndarray(format="rgb24")
        shown.append((f.time or 0.0, closer_to(rgb, small_people, small_empty),
                      boxes_of(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), OBJECT_COLOUR)))
    last_people = max(t for t, scene, _ in shown if scene == "a")
    # a box drawn on a frame comes from a pass at most MAX_BOX_AGE_S earlier: after that, none can show people
    # (the frame gap is added for the clip's millisecond times)
    gone = [(t, boxes) for t, scene, boxes in shown if scene == "b" and t > last_people + MAX_BOX_AGE_S + 0.01]
    assert gone and all(boxes == 0 for _, boxes in gone), shown
    assert any(boxes > 0 for _, scene, boxes in shown if scene == "a"), shown  # a pass's own frame keeps its boxes
    # the other_person snapshot is the frame its object pass ran on, with that pass's person boxes
    snapshot = cv2.imread(str(folder / "other_person-1.jpg"))
    assert snapshot is not None and boxes_of(snapshot, OBJECT_COLOUR) >= 1

    # -- the proctor's message: in report.json, and listed and marked on the review page ---------------------
    status, body, _ = await fetch(f"{vigil_server.url}/api/sessions/{sid}/report.json", admin)
    assert status == 200
    [message] = json.loads(body)["proctor_messages"]
    assert message["text"] == "Please stay in view of the camera." and message["delivered"] is True
    assert message["by"]["user_id"] and message["t"] > 0
    await see_messages_on_the_review_page(vigil_server.url, vigil_server.store, sid, tmp_path)


async def see_messages_on_the_review_page(base: str, store: Any, sid: str, out: Path) -> None:
    if not CHROMIUM.is_file():  # noqa: ASYNC240
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; `make browser-deps`)")
    from playwright.async_api import async_playwright

    email = await make_user(store, "admin")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/dashboard.html")
            await page.fill("#email", email)
            await page.fill("#password", PASSWORD)
            await page.click("#login-button")
            await page.wait_for_selector("#login-form", state="hidden")
            await page.goto(f"{base}/review.html?session={sid}")
            await page.wait_for_selector('body[data-vigil-view="session"]')
            rows = page.locator("#messages tbody tr")
            assert await rows.count() == 1
            assert "Please stay in view of the camera." in await rows.first.inner_text()
            assert await rows.first.get_attribute("data-delivered") == "true"
            assert await page.locator("#timeline svg .proctor-message").count() == 1
            await page.screenshot(path=str(out / "review-messages.png"), full_page=True)
            assert not errors, errors
        finally:
            await browser.close()
