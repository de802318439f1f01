"""Evidence snapshots and session reports.

Given a real session (real Valkey, a real aiortc candidate streaming the 6 s face / 6 s empty clip),
each started event has a JPEG snapshot with its detections drawn, the PDF report names the verdict and
the events and shows the risk chart, report.json has the same events, and both still work from a new
app on the same Valkey. Only a proctor who may see the session, or an admin, gets them; file names
are checked, so no path trick reaches another file. A synthesised two-hour session renders in seconds.
"""
from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from server.live.detections import Detections, Drawn
from server.live.evidence import EvidenceLimits, EvidenceWriter, encode_snapshot
from server.live.frame_drawing import FACE_COLOUR, OBJECT_COLOUR, OTHER_FACE_COLOUR, draw_detections
from server.live.frame_ring import FrameRing, RingFrame, compress
from server.tools.candidate.candidate import CandidateClient
from tests.conftest import FACE_THEN_EMPTY, free_port

POPPLER = shutil.which("pdftotext") is not None and shutil.which("pdftoppm") is not None
needs_poppler = pytest.mark.skipif(not POPPLER,
                                   reason="poppler-utils missing (make browser-deps installs it)")


# -- helpers -------------------------------------------------------------------------------------
async def user_headers(app: Any, role: str) -> dict[str, str]:
    """A bearer for a new account with `role` (accounts module), else a stand-in resolver for one."""
    from server.http.keys import AUTH

    try:
        from server.http.keys import ACCOUNTS
    except ImportError:  # before accounts: resolve "Bearer test-<role>" to a user of that role
        from server.accounts.auth import User

        async def resolve(request: Any) -> User | None:
            header = request.headers.get("Authorization", "")
            name = header.removeprefix("Bearer test-")
            if name not in ("admin", "proctor", "candidate"):
                return None
            return User(name, f"{name}@example.org", name)  # type: ignore[arg-type]

        app[AUTH].user_resolver = resolve
        return {"Authorization": f"Bearer test-{role}"}
    accounts = app[ACCOUNTS]
    user = await accounts.create_user(f"{role}-{uuid.uuid4().hex[:8]}@example.org", "correct horse battery",
                                      role, time.time())  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {accounts.issue(user, time.time()).token}"}


async def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers or {}) as r:
            return r.status, await r.read(), r.content_type


def green_box_pixels(img_bgr: np.ndarray) -> int:
    """Pixels of the face box's pure green (drawn boxes survive JPEG as saturated green)."""
    b, g, r = (img_bgr[..., i].astype(int) for i in range(3))
    return int(np.count_nonzero((g > 190) & (r < 90) & (b < 90)))


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def chart_region_std(pdf: Path, out_dir: Path) -> float:
    """Pixel spread of the rendered page 1 between the "Risk timeline" heading and the chart's caption."""
    dpi = 100
    bbox = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    import re

    words = re.findall(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>',
                       bbox)
    top = next(float(ymax) for _, ymax, w in words if w == "timeline")
    bottom = next(float(ymin) for ymin, _, w in words if w == "one-second")
    assert bottom - top > 100, (top, bottom)  # the chart sits between them, ~3 inches tall
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", str(pdf),
                    str(out_dir / "page")], check=True)
    page = cv2.imread(str(next(out_dir.glob("page*.png"))))
    region = page[int(top * dpi / 72) + 2:int(bottom * dpi / 72) - 2]
    # the risk line is drawn in RISK_COLOUR (#c62828): some of it must be on the page
    b, g, r = (region[..., i].astype(int) for i in range(3))
    assert np.count_nonzero((r > 150) & (g < 90) & (b < 90)) > 50
    return float(region.std())


# -- the real session ----------------------------------------------------------------------------
@needs_poppler
async def test_a_real_session_gives_evidence_and_a_report_that_survive_a_restart(
        vigil_server, loaded_models, tmp_path: Path) -> None:
    admin = await user_headers(vigil_server.app, "admin")
    client = CandidateClient(vigil_server.url, FACE_THEN_EMPTY, candidate_id="frank")
    try:
        await client.connect()
        await client.wait_for(lambda m: m.get("type") == "analysis" and m.get("faces") == 1, timeout=15)
        client.send({"type": "browser", "event": "paste"})  # an event while the face is in view
        await client.wait_for(lambda m: m.get("type") == "analysis" and any(
            e["type"] == "no_face" and e["state"] == "started" for e in m.get("events", [])), timeout=25)
        await asyncio.sleep(1.2)  # at least one score point after the event
        summary = await client.end()
        sid = client.session_id
        # the session token is not enough for reports or evidence
        token = {"Authorization": f"Bearer {client.token}"}
        for path in ("report.json", "report.pdf", "evidence/paste-1.jpg"):
            status, _, _ = await fetch(f"{vigil_server.url}/api/sessions/{sid}/{path}", token)
            assert status in (401, 403), path
    finally:
        await client.close()
    assert sid is not None

    items = await vigil_server.store.events(sid)
    kinds = [i["kind"] for i in items]
    assert kinds[-1] == "verdict" and "score" in kinds and "browser" in kinds
    started = {i["event"]["id"]: i["event"] for i in items if i["kind"] == "event_started"}
    evidence = {i["event_id"]: i for i in items if i["kind"] == "evidence"}
    assert {"paste", "no_face"} <= {e["type"] for e in started.values()}
    skipped = {i["event_id"]: i["reason"] for i in items if i["kind"] == "evidence_skipped"}
    # one snapshot per started event (an audio event before the first analysed frame has none to take)
    assert set(evidence) | set(skipped) == set(started) and set(skipped.values()) <= {"no_frame"}
    assert {"paste", "no_face"} <= {i["type"] for i in evidence.values()}
    folder = vigil_server.settings.data_dir / "evidence" / sid
    for event_id, item in evidence.items():
        assert item["file"] == f"{event_id}.jpg"
        img = cv2.imread(str(folder / item["file"]))
        assert img is not None and img.shape[1] == 320, event_id
    paste = next(i for i in evidence.values() if i["type"] == "paste")
    assert green_box_pixels(cv2.imread(str(folder / paste["file"]))) > 100  # the face box is drawn
    no_face = next(i for i in evidence.values() if i["type"] == "no_face")

    # the evidence URL serves the same bytes
    base = f"{vigil_server.url}/api/sessions/{sid}"
    status, body, ctype = await fetch(f"{base}/evidence/{no_face['file']}", admin)
    assert status == 200 and ctype == "image/jpeg" and body == (folder / no_face["file"]).read_bytes()

    # report.json: the events, joined with their snapshots, and the verdict
    status, body, _ = await fetch(f"{base}/report.json", admin)
    assert status == 200
    report = json.loads(body)
    assert report["verdict"]["verdict"] == summary["verdict"]
    assert {e["id"] for e in report["events"]} == set(started)
    assert all(e["evidence"] == f"{e['id']}.jpg" for e in report["events"] if e["id"] in evidence)
    assert report["browser"] == {"paste": 1}
    assert report["calibration"] == {"status": "not calibrated"}
    assert report["timeline"] and all(0 <= p["risk"] <= 100 for p in report["timeline"])

    # report.pdf: verdict and events in its text, the chart on its first page
    status, body, ctype = await fetch(f"{base}/report.pdf", admin)
    assert status == 200 and ctype == "application/pdf" and body.startswith(b"%PDF")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(body)
    text = pdf_text(pdf)
    assert f"AI suggestion: {summary['verdict']}" in text and "frank" in text
    assert "Verdict:" not in text and "No human decision recorded yet" in text
    for event_id in started:
        assert event_id in text
    assert "Not calibrated" in text
    assert chart_region_std(pdf, tmp_path) > 20  # not a blank area

    # a new app on the same Valkey (a restart, or another worker) gives the same report
    from aiohttp import web

    from server.app import build_app
    from server.store.store import Store

    settings = vigil_server.settings.with_overrides(port=free_port())
    store = Store(vigil_server.store.url)
    pipeline, vad = loaded_models
    app = build_app(settings=settings, store=store, pipeline=pipeline, worker_id="test-worker-2", vad=vad)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    try:
        admin2 = await user_headers(app, "admin")
        url2 = f"http://127.0.0.1:{settings.port}/api/sessions/{sid}"
        status, body, _ = await fetch(f"{url2}/report.json", admin2)
        assert status == 200
        again = json.loads(body)
        assert again["events"] == report["events"] and again["verdict"] == report["verdict"]
        status, body, _ = await fetch(f"{url2}/report.pdf", admin2)
        assert status == 200 and body.startswith(b"%PDF")
    finally:
        await runner.cleanup()
        await store.close()


# -- access and path safety ----------------------------------------------------------------------
async def _session_with_a_snapshot(server: Any, candidate: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/sessions", json={"candidate_id": candidate}) as r:
            assert r.status == 201
            sid = (await r.json())["session_id"]
    folder = server.settings.data_dir / "evidence" / sid
    folder.mkdir(parents=True)
    frame = RingFrame.of(1, time.time(), np.full((240, 320, 3), 90, np.uint8))
    (folder / "paste-1.jpg").write_bytes(encode_snapshot(frame, "paste-1", 100_000) or b"")
    return sid


async def test_reports_and_evidence_need_a_proctor_or_admin_and_refuse_path_tricks(vigil_server) -> None:
    a = await _session_with_a_snapshot(vigil_server, "gina")
    b = await _session_with_a_snapshot(vigil_server, "hank")
    (vigil_server.settings.data_dir / "evidence" / b / "phone-1.jpg").write_bytes(b"only in b")
    secret = vigil_server.settings.data_dir / "secret.jpg"
    secret.write_bytes(b"not evidence")
    (vigil_server.settings.data_dir / "evidence" / a / "link-1.jpg").symlink_to(secret)
    base = f"{vigil_server.url}/api/sessions"

    for path in ("report.json", "report.pdf", "evidence/paste-1.jpg"):
        status, body, _ = await fetch(f"{base}/{a}/{path}")
        assert status == 401 and json.loads(body)["error"], path

    admin = await user_headers(vigil_server.app, "admin")
    status, body, _ = await fetch(f"{base}/{a}/evidence/paste-1.jpg", admin)
    assert status == 200 and body[:2] == b"\xff\xd8"
    tricks = ["..%2F..%2Fsecret.jpg", "%2E%2E%2Fsecret.jpg", "..%2F" + b + "%2Fphone-1.jpg", "phone-1.jpg",
              "%2Fetc%2Fpasswd", "link-1.jpg", "paste-1.jpg%00.png", "paste-2.jpg", "paste-1.JPG", "."]
    for name in tricks:
        status, body, _ = await fetch(f"{base}/{a}/evidence/{name}", admin)
        assert status == 404, (name, body)
    async with aiohttp.ClientSession() as http:  # not normalised by the client: the server sees the dots
        for raw in (f"/api/sessions/{a}/evidence/../../secret.jpg",
                    f"/api/sessions/{a}/evidence//etc/passwd"):
            async with http.get(f"{vigil_server.url}{raw}", headers=admin, allow_redirects=False) as r:
                assert r.status == 404, raw
    status, _, _ = await fetch(f"{base}/{'f' * 32}/report.json", admin)
    assert status == 404


async def test_a_candidate_or_another_exams_proctor_gets_403(vigil_server) -> None:
    pytest.importorskip("server.accounts.users")
    owner = await user_headers(vigil_server.app, "proctor")
    other = await user_headers(vigil_server.app, "proctor")
    candidate = await user_headers(vigil_server.app, "candidate")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{vigil_server.url}/api/exams", json={"title": "Statistics midterm"},
                             headers=owner) as r:
            assert r.status == 201, await r.text()
            exam = await r.json()
        async with http.post(f"{vigil_server.url}/api/sessions",
                             json={"candidate_id": "ivy", "join_code": exam["join_code"]}) as r:
            assert r.status == 201, await r.text()
            sid = (await r.json())["session_id"]
    base = f"{vigil_server.url}/api/sessions/{sid}"
    for headers in (candidate, other):
        for path in ("report.json", "report.pdf", "evidence/paste-1.jpg"):
            status, _, _ = await fetch(f"{base}/{path}", headers)
            assert status == 403, path
    status, body, _ = await fetch(f"{base}/report.json", owner)
    assert status == 200 and json.loads(body)["exam_title"] == "Statistics midterm"


# -- evidence writer: limits, errors, frame choice ----------------------------------------------
class ListOutbox:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put(self, item: dict[str, Any]) -> None:
        self.items.append(dict(item))


def _started(kind: str, n: int, frame_id: int | None = None) -> dict[str, Any]:
    return {"id": f"{kind}-{n}", "type": kind, "severity": "medium", "start": 100.0 + n, "state": "started",
            "at": 100.0 + n, "evidence_frame_id": frame_id}


async def test_evidence_is_bounded_per_type_and_per_session_and_skips_are_logged(tmp_path: Path) -> None:
    outbox = ListOutbox()
    writer = EvidenceWriter(evidence_root=tmp_path, session_id="abc123", outbox=outbox, executor=None,
                            limits=EvidenceLimits(per_type=2, per_session=3))
    writer.event_started(_started("phone", 1))  # before any frame
    writer.remember(7, 1.0, compress(np.zeros((240, 320, 3), np.uint8)), Detections())
    for n in range(2, 6):
        writer.event_started(_started("phone", n))
    writer.event_started(_started("paste", 1))
    writer.event_started(_started("book", 1))
    await writer.drain()
    kinds = [(i["kind"], i["event_id"], i.get("reason")) for i in outbox.items]
    assert ("evidence_skipped", "phone-1", "no_frame") in kinds
    assert ("evidence_skipped", "phone-4", "per_type") in kinds
    assert ("evidence_skipped", "phone-5", "per_type") in kinds
    assert ("evidence_skipped", "book-1", "per_session") in kinds
    written = sorted(i["file"] for i in outbox.items if i["kind"] == "evidence")
    assert written == ["paste-1.jpg", "phone-2.jpg", "phone-3.jpg"]
    assert sorted(p.name for p in (tmp_path / "abc123").iterdir()) == written
    assert writer.skipped == 4 and writer.written == 3


async def test_a_disk_error_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the evidence folder should be")
    outbox = ListOutbox()
    writer = EvidenceWriter(evidence_root=blocker, session_id="abc123", outbox=outbox, executor=None)
    writer.remember(1, 1.0, compress(np.zeros((240, 320, 3), np.uint8)), Detections())
    writer.event_started(_started("no_face", 1))
    await writer.drain()
    assert writer.errors == 1
    assert [i["kind"] for i in outbox.items] == ["evidence_error"]
    assert outbox.items[0]["event_id"] == "no_face-1" and "Error" in outbox.items[0]["error"]


def test_the_ring_picks_the_events_frame_else_the_nearest_else_the_newest() -> None:
    ring = FrameRing(size=3)
    assert ring.pick(5) is None
    for fid in (10, 11, 12, 13):
        ring.add(RingFrame.of(fid, float(fid), np.zeros((2, 2, 3), np.uint8)))
    assert ring.pick(12).frame_id == 12  # type: ignore[union-attr]
    assert ring.pick(3).frame_id == 11  # type: ignore[union-attr]  # left the ring: the nearest kept
    assert ring.pick(None).frame_id == 13  # type: ignore[union-attr]


def test_boxes_and_labels_are_drawn_where_the_analysis_put_them() -> None:
    rgb = np.full((240, 320, 3), 128, np.uint8)
    drawn = Detections(face=Drawn((0.25, 0.25, 0.25, 0.5), "face", 0.97),
                       objects=(Drawn((0.7, 0.5, 0.1, 0.2), "cell phone", 0.8),))
    img = draw_detections(rgb, drawn, caption="phone-1")
    assert tuple(img[120, 80]) == (0, 255, 0)  # the face box's left edge (x = 0.25 * 320)
    assert tuple(img[150, 224]) == (255, 64, 0)  # the phone box's left edge (x = 0.7 * 320)
    assert (img[64:176, 84:156] == 128).all()  # inside the face box (60..180, 80..160): untouched
    assert rgb[120, 80].tolist() == [128, 128, 128]  # the ring's frame is not drawn on


def test_every_face_of_a_multiple_faces_frame_is_boxed() -> None:
    from pipeline.analysis import FrameAnalysis
    from pipeline.stages.base import StageOutput
    from pipeline.stages.faces import FaceBox, FacesResult

    faces = FacesResult((FaceBox((0.05, 0.1, 0.2, 0.3), 0.9), FaceBox((0.4, 0.2, 0.35, 0.5), 0.95),
                         FaceBox((0.8, 0.1, 0.15, 0.2), 0.7)))
    analysis = FrameAnalysis(1, 0, 0.0, 320, 240, {"faces": StageOutput("faces", "ok", faces)}, 1.0)
    detections = Detections.of(analysis)
    assert detections.face is not None and detections.face.box == (0.4, 0.2, 0.35, 0.5)  # the largest
    assert [d.box for d in detections.other_faces] == [(0.05, 0.1, 0.2, 0.3), (0.8, 0.1, 0.15, 0.2)]
    img = draw_detections(np.full((240, 320, 3), 128, np.uint8), detections)
    assert tuple(img[100, 128]) == (0, 255, 0)  # the candidate's box, left edge x = 0.4 * 320
    for x, y in ((16, 50), (256, 40)):  # the other two faces' left edges
        assert tuple(img[y, x]) == OTHER_FACE_COLOUR, (x, y)


def _carrying(frame_id: int, t: float, persons: tuple[tuple[float, float, float, float], ...],
              objects_age: float | None, faces_age: float = 0.0) -> RingFrame:
    """A grey ring frame whose analysis carries a person pass `objects_age` s old (None: the first pass is
    still running) and a face `faces_age` s old."""
    from pipeline.analysis import FrameAnalysis
    from pipeline.stages.base import StageOutput
    from pipeline.stages.detection import Detection
    from pipeline.stages.faces import FaceBox, FacesResult
    from pipeline.stages.objects import ObjectsResult

    objects = ObjectsResult(tuple(Detection("person", 0, 0.9, box) for box in persons), len(persons))
    faces = FacesResult((FaceBox((0.4, 0.2, 0.2, 0.4), 0.9),))
    analysis = FrameAnalysis(frame_id, 0, t, 320, 240, {
        "faces": StageOutput("faces", "ok", faces, age_s=faces_age),
        "objects": StageOutput("objects", "skipped", reason="pending: first run in progress") if objects_age is None
        else StageOutput("objects", "ok", objects, age_s=objects_age)}, 1.0)
    return RingFrame.of(frame_id, t, np.full((240, 320, 3), 128, np.uint8), Detections.of(analysis))


def _drawn(frame: RingFrame) -> tuple[bool, bool, bool]:
    """Whether the snapshot of `frame` boxes the left person (x = 0.05), the right one (x = 0.75), the face."""
    img = draw_detections(frame.rgb(), frame.detections)
    return (tuple(img[120, 16]) == OBJECT_COLOUR, tuple(img[120, 240]) == OBJECT_COLOUR,
            tuple(img[100, 128]) == FACE_COLOUR)


def test_a_carried_box_is_drawn_only_near_its_pass_and_an_object_event_shows_the_passs_frame() -> None:
    """Objects every 2 s in the background: the pass on frame 10 (a person on the right; the one on the left,
    seen 2 s before, has gone) lands on frame 11. Frame 10 was remembered with the old pass: it gets its own
    result back; a frame 0.6 s after the pass shows no person box, a phone-like event's snapshot is the
    pass's frame, and a face carried 0.5 s is not drawn either."""
    left, right = (0.05, 0.3, 0.2, 0.5), (0.75, 0.3, 0.2, 0.5)
    ring = FrameRing()
    for frame in (_carrying(9, 9.8, (left,), 1.8), _carrying(10, 10.0, (left,), 2.0),
                  _carrying(11, 10.2, (right,), 0.2), _carrying(12, 10.4, (right,), 0.4, faces_age=0.2),
                  _carrying(13, 10.6, (right,), 0.6, faces_age=0.5)):
        ring.refresh_sources(frame)
        ring.add(frame)
    by_id = {fid: ring.pick(fid) for fid in range(9, 14)}
    assert _drawn(by_id[9]) == (False, False, True)  # a pass 1.8 s old: the left person is gone by now
    assert _drawn(by_id[10]) == (False, True, True)  # the pass's own frame, with its own result
    assert by_id[10].detections.objects_age_s == 0.0  # type: ignore[union-attr]
    assert _drawn(by_id[11]) == (False, True, True)  # one frame later (0.2 s): still drawn
    assert _drawn(by_id[12]) == (False, False, True)  # 0.4 s: not drawn; a face 0.2 s old is
    assert _drawn(by_id[13]) == (False, False, False)  # a face 0.5 s old is not drawn either
    assert ring.pick_for("other_person", 11).frame_id == 10  # type: ignore[union-attr]  # the pass's frame
    assert ring.pick_for("phone", 13).frame_id == 10  # type: ignore[union-attr]
    assert ring.pick_for("looking_away", 13).frame_id == 13  # type: ignore[union-attr]  # not an object event
    first = FrameRing()  # the session's first pass ran on frame 1, which was remembered without objects
    for frame in (_carrying(1, 1.0, (), None), _carrying(2, 1.2, (right,), 0.2)):
        first.refresh_sources(frame)
        first.add(frame)
    assert _drawn(first.pick(1)) == (False, True, True)  # type: ignore[arg-type]
    assert first.pick_for("other_person", 2).frame_id == 1  # type: ignore[union-attr]
    gone = FrameRing()
    gone.add(by_id[13])  # type: ignore[arg-type]  # the pass's frame has left the ring: the event's own
    assert gone.pick_for("phone", 13).frame_id == 13  # type: ignore[union-attr]


def test_the_chart_shows_attention_at_100_and_shades_unobserved_time() -> None:
    from server.reports.chart import DISCONNECTED_COLOUR, UNOBSERVED_COLOUR, risk_timeline_png
    from server.reports.document import TimelinePoint, UnobservedSpan

    points = [TimelinePoint(float(t), 20.0, 100.0) for t in range(120)]
    spans = [UnobservedSpan(30.0, 50.0, "disconnected"), UnobservedSpan(70.0, 80.0, "covered")]
    png = risk_timeline_png(points, [], t0=0.0, t_end=120.0, unobserved=spans)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    b, g, r = (img[..., i].astype(int) for i in range(3))
    blue_rows = np.nonzero((((b > 150) & (r < 60) & (g > 70) & (g < 130)).sum(axis=1)) > 300)[0]
    frame_rows = np.nonzero((((b < 60) & (g < 60) & (r < 60)).sum(axis=1)) > 600)[0]
    assert len(blue_rows) and len(frame_rows)
    assert blue_rows.min() - frame_rows.min() >= 5  # the attention line at 100 sits below the top border
    height, width = img.shape[:2]
    strip = img[int(height * 0.68):int(height * 0.88)].astype(int)  # the event strip, below the scores
    for colour, (t0, t1) in ((DISCONNECTED_COLOUR, (30, 50)), (UNOBSERVED_COLOUR, (70, 80))):
        bgr = tuple(int(colour[i:i + 2], 16) for i in (5, 3, 1))
        cols = np.nonzero((np.abs(strip - bgr).sum(axis=2) < 12).sum(axis=0) > 8)[0]
        # the band in the strip spans its time: 0..120 s over ~88 % of the width from ~10 %
        assert len(cols) and abs(cols.min() / width - (0.1 + 0.88 * t0 / 120)) < 0.02, colour
        assert abs(cols.max() / width - (0.1 + 0.88 * t1 / 120)) < 0.02, colour


def test_a_session_disconnected_now_shows_its_open_disconnection(tmp_path: Path) -> None:
    from server.reports.build import build_report
    from server.reports.document import UnobservedSpan

    session = {"session_id": "abc", "status": "disconnected", "started_at": "100", "disconnected_at": "130"}
    report = build_report(session, [], exam_title=None, evidence_root=tmp_path, now=160.0)
    assert report.unobserved_spans == [UnobservedSpan(130.0, 160.0, "disconnected")]
    ended = build_report({**session, "status": "ended"}, [{"kind": "verdict", "t": 170.0, "summary": {
        "verdict": "CLEAR", "unobserved_spans": [[130.0, 150.0, "disconnected"]]}}], exam_title=None,
        evidence_root=tmp_path, now=200.0)
    assert ended.unobserved_spans == [UnobservedSpan(130.0, 150.0, "disconnected")]  # the verdict's


# -- a two-hour session --------------------------------------------------------------------------
def synthesise_long_session(sid: str, t0: float, evidence_dir: Path, *, hours: float = 2.0, events: int = 400
                            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A session hash and stream like a two-hour session's: a score a second, hundreds of events,
    browser signals, the snapshots the limits allow (5 per type: 40 real JPEGs), skips, a disk error,
    and the verdict."""
    rng = np.random.default_rng(7)
    seconds = int(hours * 3600)
    items: list[dict[str, Any]] = [
        {"kind": "score", "t": t0 + k, "risk": round(35 + 25 * math.sin(k / 400) + rng.random() * 6, 1),
         "attention": round(75 + 15 * math.cos(k / 250), 1)} for k in range(seconds)]
    kinds = [("looking_away", "medium"), ("no_face", "medium"), ("phone", "high"), ("speaking", "low"),
             ("tab_hidden", "medium"), ("paste", "medium"), ("other_voice", "medium"), ("book", "high")]
    evidence_dir.mkdir(parents=True, exist_ok=True)
    frame = np.zeros((240, 320, 3), np.uint8)
    cv2.circle(frame, (160, 110), 60, (200, 170, 150), -1)
    drawn = Detections(face=Drawn((0.31, 0.2, 0.38, 0.5), "face", 0.95))
    per_type: dict[str, int] = {}
    kept = 0
    for i in range(events):
        kind, severity = kinds[i % len(kinds)]
        start = t0 + 5 + i * (seconds - 60) / events
        end = start + (0.0 if kind == "paste" else 4 + (i % 9))
        ev = {"id": f"{kind}-{i // len(kinds) + 1}", "type": kind, "severity": severity, "start": start,
              "end": None, "confidence": 0.9, "evidence_frame_id": int((start - t0) * 5)}
        items.append({"kind": "event_started", "t": start, "event": {**ev, "state": "started", "at": start}})
        items.append({"kind": "event_ended", "t": end,
                      "event": {**ev, "end": end, "state": "ended", "at": end}})
        per_type[kind] = per_type.get(kind, 0) + 1
        if per_type[kind] > 5 or kept >= 50:
            reason = "per_type" if per_type[kind] > 5 else "per_session"
            items.append({"kind": "evidence_skipped", "t": start, "event_id": ev["id"], "type": kind,
                          "reason": reason})
            continue
        kept += 1
        data = encode_snapshot(RingFrame.of(ev["evidence_frame_id"], start, frame, drawn), ev["id"], 100_000)
        (evidence_dir / f"{ev['id']}.jpg").write_bytes(data or b"")
        items.append({"kind": "evidence", "t": start, "event_id": ev["id"], "type": kind,
                      "file": f"{ev['id']}.jpg", "frame_id": ev["evidence_frame_id"],
                      "bytes": len(data or b"")})
    for k in range(120):
        signal = ("visibility_hidden", "visibility_visible", "paste", "fullscreen_exit")[k % 4]
        items.append({"kind": "browser", "t": t0 + 30 + k * 55, "event": signal})
    items.append({"kind": "evidence_error", "t": t0 + 99, "event_id": "no_face-99", "type": "no_face",
                  "error": "OSError: No space left on device"})
    items.sort(key=lambda item: item["t"])
    items.append({"kind": "verdict", "t": t0 + seconds, "summary": {
        "session_id": sid, "verdict": "CHEATING", "final_risk_score": 41.0, "peak_risk": 66.0,
        "mean_risk": 35.2, "total_violations": events, "duration_seconds": float(seconds), "counts": {"phone": events},
        "observed_seconds": float(seconds - 300), "coverage": round(1 - 300 / seconds, 3),
        "unobserved": {"disconnected": 180.0, "covered": 120.0},
        "unobserved_spans": [[t0 + 600, t0 + 720, "disconnected"], [t0 + 1800, t0 + 1920, "covered"],
                             [t0 + 4000, t0 + 4060, "disconnected"]],
        "reasons": ["high-severity events 100 >= 3", "phone seen 50 times (total 400 s)"]}})
    session = {"session_id": sid, "candidate_id": "long-haul", "exam_id": "demo", "status": "ended",
               "created_at": t0 - 3, "started_at": t0, "ended_at": t0 + seconds,
               "frames_analysed": seconds * 5,
               "calibration": json.dumps({"status": "calibrated", "mean_error_px": 48.5, "points": 9})}
    return session, items


@needs_poppler
async def test_a_two_hour_session_report_renders(vigil_server, tmp_path: Path) -> None:
    store = vigil_server.store
    sid = uuid.uuid4().hex
    t0 = time.time() - 7300
    # made aside and moved in once the hash exists: the retention sweep removes a folder without a session
    session, items = synthesise_long_session(sid, t0, tmp_path / sid)
    await store.create_session(sid, session, t0)
    shutil.move(tmp_path / sid, vigil_server.settings.data_dir / "evidence" / sid)
    for i in range(0, len(items), 1000):
        await store.append_events(sid, items[i:i + 1000])
    admin = await user_headers(vigil_server.app, "admin")
    base = f"{vigil_server.url}/api/sessions/{sid}"

    began = time.perf_counter()
    status, body, _ = await fetch(f"{base}/report.json", admin)
    json_s = time.perf_counter() - began
    assert status == 200
    report = json.loads(body)
    assert len(report["events"]) == 400 and len(report["timeline"]) <= 720
    assert report["timeline_source_points"] == 7200
    assert report["evidence"]["files"] == 40 and report["evidence"]["errors"] == 1
    assert report["browser"]["paste"] == 30 and report["calibration"]["mean_error_px"] == 48.5

    began = time.perf_counter()
    status, body, _ = await fetch(f"{base}/report.pdf", admin)
    pdf_s = time.perf_counter() - began
    assert status == 200
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(body)
    text = pdf_text(pdf)
    assert "AI suggestion: CHEATING" in text and "Events (400)" in text and "2:00:00" in text
    assert "No space left on device" in text and "Calibrated (9 points): gaze off by 48.5 px" in text
    assert "Phone seen" in text and "Other voice heard" in text  # readable names, not raw types
    assert "Disconnections 2 (3:00 in all)" in " ".join(text.split())
    assert len(report["unobserved_spans"]) == 3
    assert chart_region_std(pdf, tmp_path) > 20
    print(f"\n2 h session report: {len(items)} stream items, json {json_s:.2f} s, pdf {pdf_s:.2f} s, "
          f"{len(body) / 1e6:.1f} MB")
