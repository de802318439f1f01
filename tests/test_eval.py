"""`vigil eval`: its metrics on hand-made inputs with known answers, its readers, and the command end to end.

The end-to-end tests run `python -m server.cli eval` as a subprocess on real media: the labelled
clip in tests/data (centre 0-5.0 s, left 5.5-10.0 s, centre 11.0-15.33 s; the transitions are
`ignore` spans) and the real photos in shared/data. The gaze metrics are checked on a small set the
test builds from one real face photo pasted at known places, so the right answer is known.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.risk.debounce import Reading
from server.tools.evaluate import formats
from server.tools.evaluate.formats import FormatError, SpanRow
from server.tools.evaluate.gaze import Dot, group_dots, score_dots
from server.tools.evaluate.labels import FrameView, label_spec
from server.tools.evaluate.metrics import (
    BoxCounts,
    FrameCounts,
    GazeError,
    angle_deg,
    covered_seconds,
    false_events,
    gaze_error,
    gaze_summary,
    iou,
    match_boxes,
    per_minute,
    span_detected,
)
from server.tools.evaluate.objects import ImageRecord, ImageTruth, score_boxes, score_events
from server.tools.evaluate.video import EventSpan, VideoRecord, score_video

REPO = Path(__file__).resolve().parent.parent
CLIP = REPO / "tests/data/proctoringai_center_left_center_640x480.mp4"


# -- metrics on hand-made inputs ------------------------------------------------------------------

def test_frame_counts_and_rates() -> None:
    pairs = [(True, True)] * 3 + [(True, False)] + [(False, True)] * 2 + [(False, False)] * 6
    c = FrameCounts.of(pairs)
    assert (c.tp, c.fn, c.fp, c.tn) == (3, 1, 2, 6)
    assert c.precision == pytest.approx(3 / 5)
    assert c.recall == pytest.approx(3 / 4)
    assert c.specificity == pytest.approx(6 / 8)
    assert c.balanced_accuracy == pytest.approx((3 / 4 + 6 / 8) / 2)


def test_balanced_accuracy_cannot_be_gamed_by_always_saying_no() -> None:
    c = FrameCounts.of([(True, False)] * 5 + [(False, False)] * 95)
    assert c.recall == 0.0 and c.specificity == 1.0 and c.balanced_accuracy == 0.5
    assert c.precision is None  # nothing predicted: undefined, not 0 or 1


def test_one_class_only_gives_that_class_rate() -> None:
    assert FrameCounts.of([(False, False)] * 3 + [(False, True)]).balanced_accuracy == pytest.approx(0.75)


def test_events_against_spans() -> None:
    spans = [(5.5, 10.0), (20.0, 22.0)]
    events = [(6.0, 8.0), (12.0, 13.0), (22.0, 22.0), (30.0, 31.0)]  # the third touches a span's end
    assert span_detected(spans[0], events) and span_detected(spans[1], events)
    assert not span_detected((40.0, 41.0), events)
    assert false_events(events, spans) == 2
    assert covered_seconds([(0.0, 5.0), (3.0, 7.0), (20.0, 40.0)], (0.0, 30.0)) == pytest.approx(17.0)
    assert per_minute(2, 30.0) == pytest.approx(4.0)
    assert per_minute(2, 0.0) is None


def test_iou_and_box_matching() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    truth = [(0, 0, 10, 10), (100, 100, 10, 10)]
    predicted = [(0.9, (1, 1, 10, 10)),      # IoU 81/119 = 0.68 with the first: a hit
                 (0.8, (0, 0, 10, 10)),      # the first is taken: a duplicate is a false positive
                 (0.7, (104, 100, 10, 10))]  # IoU 60/140 = 0.43 with the second: below 0.5
    assert match_boxes(truth, predicted) == BoxCounts(tp=1, fp=2, fn=1)
    assert match_boxes([], [(0.5, (0, 0, 1, 1))]) == BoxCounts(0, 1, 0)
    total = BoxCounts(1, 2, 1) + BoxCounts(3, 0, 0)
    assert total.precision == pytest.approx(4 / 6) and total.recall == pytest.approx(4 / 5)


def test_gaze_error_units() -> None:
    e = gaze_error((100.0, 100.0), (130.0, 140.0), mm_per_px=0.25, distance_mm=600.0)
    assert e.px == pytest.approx(50.0)
    assert e.mm == pytest.approx(12.5)
    assert e.deg == pytest.approx(math.degrees(2 * math.atan(6.25 / 600.0)))
    assert angle_deg(10.47, 600.0) == pytest.approx(1.0, abs=0.01)  # 1 deg at 60 cm is ~10.5 mm
    px_only = gaze_error((0.0, 0.0), (3.0, 4.0), mm_per_px=None, distance_mm=600.0)
    assert px_only.px == 5.0 and px_only.mm is None and px_only.deg is None
    summary = gaze_summary([GazeError(float(v), None, None) for v in range(1, 11)])
    assert summary["px"] == {"mean": 5.5, "median": 5.5, "p90": pytest.approx(9.1), "n": 10}
    assert summary["mm"] is None


# -- scoring a video record (pure) ----------------------------------------------------------------

def _view(faces: int, away: bool) -> FrameView:
    return FrameView(faces, {"looking_away": Reading(away), "phone": Reading(False), "no_face": Reading(faces == 0)})


def test_score_video_frames_events_and_ignore() -> None:
    # 10 s at 1 fps; looking away truly 3-6 s; 6.5-7.5 s unsure (ignore)
    spans = [SpanRow(3.0, 6.0, "looking_away"), SpanRow(6.5, 7.5, "ignore"), SpanRow(0.0, 10.0, "face_count=1")]
    predicted_away = {2.0, 3.0, 4.0, 7.0}  # one false frame (2), one miss (5, 6), one ignored (7)
    frames = tuple((float(t), _view(1, float(t) in predicted_away)) for t in range(10))
    events = (EventSpan("looking_away", 3.0, 5.0), EventSpan("looking_away", 7.0, 7.2),
              EventSpan("looking_away", 8.5, 9.0), EventSpan("phone", 1.0, 2.0))
    labels, skipped = score_video(VideoRecord(frames, events, 10.0), spans)
    away = labels["looking_away"]
    assert (away.frames.tp, away.frames.fn, away.frames.fp, away.frames.tn) == (2, 2, 1, 4)  # t=7 not scored
    assert (away.spans, away.detected, away.false_events) == (1, 1, 1)  # 7.0 touches ignore; 8.5 is false
    assert away.honest_s == pytest.approx(10.0 - 3.0 - 1.0)
    assert labels["phone"].false_events == 1 and labels["phone"].honest_s == pytest.approx(9.0)
    assert labels["face_count=1"].frames.tp == 9 and not labels["face_count=1"].evented
    assert labels["absent"].frames.fp == 0
    assert skipped == []


def test_unknown_labels_are_refused_and_speaking_is_listed_as_not_scored() -> None:
    with pytest.raises(ValueError, match="unknown span label"):
        label_spec("cheating")
    assert label_spec("face_count=2") is not None and label_spec("speaking") is None
    record = VideoRecord(((0.0, _view(1, False)),), (), 1.0)
    _, skipped = score_video(record, [SpanRow(0.0, 1.0, "speaking")])
    assert skipped == ["speaking"]


# -- objects scoring (pure) -----------------------------------------------------------------------

def test_score_boxes_and_events_per_image() -> None:
    phone = ImageTruth(Path("a.jpg"), None, {"cell phone": ((10, 10, 20, 20),)})
    empty = ImageTruth(Path("b.jpg"), None, {})
    records = [
        ImageRecord(phone, (("cell phone", 0.6, (11, 11, 20, 20)), ("person", 0.9, (0, 0, 50, 50))), frozenset({"phone"}), 20.0),
        ImageRecord(empty, (("cell phone", 0.4, (0, 0, 5, 5)),), frozenset({"phone"}), 20.0),
    ]
    boxes = score_boxes(records, ["cell phone"])
    assert boxes["cell phone"] == BoxCounts(tp=1, fp=1, fn=0)
    events = score_events(records, ["cell phone"])["phone"]
    assert (events.images_with, events.raised, events.images_without, events.false_events) == (1, 1, 1, 1)


# -- readers --------------------------------------------------------------------------------------

def test_readers_and_kind(tmp_path: Path) -> None:
    spans = tmp_path / "s.csv"
    spans.write_text("start_s,end_s,label,group\n0,1.5,phone,A\n2,3,ignore,\n")
    assert formats.kind_of(spans) == "spans"
    assert formats.read_spans(spans) == [SpanRow(0.0, 1.5, "phone", "A"), SpanRow(2.0, 3.0, "ignore", None)]
    boxes = tmp_path / "b.csv"
    boxes.write_text("file,label,x,y,w,h\nimg/a.jpg,cell phone,1,2,3,4\nimg/b.jpg,,,,,\n")
    rows = formats.read_boxes(boxes)
    assert rows[0].file == tmp_path / "img/a.jpg" and rows[0].box == (1.0, 2.0, 3.0, 4.0)
    assert rows[1].label is None and rows[1].box is None
    gaze = tmp_path / "g.csv"
    gaze.write_text("file,session,target_x_px,target_y_px,screen_w_px,screen_h_px,screen_w_mm,screen_h_mm,distance_mm\n"
                    "x.png,s1,10,20,1000,500,250,,600\nx.png,s1,10,20,1000,500,,,\n")
    g = formats.read_gaze(gaze)
    assert g[0].mm_per_px == pytest.approx(0.25) and g[0].distance_mm == 600.0
    assert g[1].mm_per_px is None and g[1].distance_mm is None and g[1].person is None


@pytest.mark.parametrize("text, message", [
    ("start_s,label\n0,phone\n", "missing column"),
    ("start_s,end_s,label\n3,1,phone\n", "not 0 <= start_s <= end_s"),
    ("start_s,end_s,label\n0,x,phone\n", "'end_s' is not a number"),
    ("start_s,end_s,label\n", "no rows"),
])
def test_bad_span_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        formats.read_spans(path)


# -- gaze: a set whose answer is known ------------------------------------------------------------

def _gaze_set(tmp_path: Path, face: np.ndarray) -> Path:
    """The face pasted on a grey 1280x960 canvas at a 3x3 grid of places, twice per place (1 px
    apart) per sitting, two sittings. The target moves with the face (twice its offset on a
    1920x1440 screen), so the head-position features predict it and the fit's held-out errors are
    small, while the centre guess's errors are exactly the targets' distances from the centre."""
    small = cv2.resize(face, (480, 480))  # smaller pasted faces are missed by the face detector
    rows = ["file,session,target_x_px,target_y_px,screen_w_px,screen_h_px,screen_w_mm,screen_h_mm,distance_mm"]
    for session in ("s1", "s2"):
        for gx in range(3):
            for gy in range(3):
                tx, ty = 160 + gx * 800, 200 + gy * 520  # 160..1760 x 200..1240; the centre is (960, 720)
                for rep in range(2):
                    x, y = 40 + gx * 360 + rep, 20 + gy * 220 + rep
                    canvas = np.full((960, 1280, 3), 128, np.uint8)
                    canvas[y:y + 480, x:x + 480] = small
                    name = f"{session}_{gx}{gy}_{rep}.png"
                    cv2.imwrite(str(tmp_path / name), canvas)
                    rows.append(f"{name},{session},{tx},{ty},1920,1440,480,360,600")
    path = tmp_path / "gaze.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_centre_guess_and_grouping_on_known_dots() -> None:
    from pipeline.calibration.features import FeatureSample

    def sample(v: float) -> FeatureSample:
        return FeatureSample(0.0, (v, v, 0.0, 0.0, 0.0, 0.0, 0.0), 0.2, 0.0)

    rows = [formats.GazeRow(Path("a"), "s1", (x, y), (1000.0, 500.0), (250.0, 125.0), 600.0, None, "p")
            for x, y in ((100.0, 100.0), (100.0, 100.0), (900.0, 400.0), (900.0, 400.0))]
    dots = group_dots(rows, [sample(0.1), "blink", sample(0.2), sample(0.2)])
    assert [len(d.samples) for d in dots] == [1, 2] and [d.rejected for d in dots] == [1, 0]
    errors, notes = score_dots(dots)
    centre = sorted(e.error.px for e in errors if e.method == "centre")
    assert centre == pytest.approx(sorted([math.hypot(400, 150), math.hypot(400, 150)]))
    assert notes  # two dots cannot be fitted: said, not hidden
    assert all(isinstance(d, Dot) for d in dots)


def test_across_sittings_only_on_the_same_screen() -> None:
    """A map predicts in its own sitting's pixels, so a sitting on another screen size (or browser
    zoom) is not scored across: it is named in the notes instead."""
    from pipeline.calibration.features import FeatureSample

    def rows_and_samples(session: str, screen: tuple[float, float]
                         ) -> tuple[list[formats.GazeRow], list[FeatureSample | str]]:
        rows: list[formats.GazeRow] = []
        samples: list[FeatureSample | str] = []
        for gx in range(3):
            for gy in range(3):
                target = ((0.1 + 0.4 * gx) * screen[0], (0.1 + 0.4 * gy) * screen[1])
                for rep in range(2):
                    h, v = 0.1 * gx + 0.001 * rep, 0.1 * gy - 0.001 * rep
                    rows.append(formats.GazeRow(Path("a"), session, target, screen, (None, None), None, None, "p"))
                    samples.append(FeatureSample(0.0, (h, v, 0.0, 0.0, 0.0, 0.0, 0.0), 0.2, 0.0))
        return rows, samples

    rows: list[formats.GazeRow] = []
    samples: list[FeatureSample | str] = []
    for session, screen in (("s1", (1000.0, 500.0)), ("s2", (1000.0, 500.0)), ("zoomed", (1250.0, 625.0))):
        r, s = rows_and_samples(session, screen)
        rows += r
        samples += s
    errors, notes = score_dots(group_dots(rows, samples))
    across = [e for e in errors if e.method == "across"]
    assert sorted({e.session for e in across}) == ["s1", "s2"] and len(across) == 18
    assert sum("not scored, screen" in n for n in notes) == 4
    assert len([e for e in errors if e.method == "within" and e.session == "zoomed"]) == 9


def test_gaze_end_to_end_on_a_built_set(tmp_path: Path, shared_data: Path) -> None:
    face = cv2.imread(str(shared_data / "images/faces/skimage_astronaut.png"))
    assert face is not None
    csv_path = _gaze_set(tmp_path, face)
    out = tmp_path / "out.json"
    done = _eval("--gaze", str(csv_path), "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    g = json.loads(out.read_text())["gaze"][0]
    assert g["images"] == 36 and g["rejected"] == 0, g
    centre = g["methods"]["centre"]
    # centre guess: 4 corner dots at (+-800, +-520) px, 2 at 800, 2 at 520, the centre dot at 0
    expected = [math.hypot(800, 520)] * 4 + [800.0, 800.0, 520.0, 520.0, 0.0]
    assert centre["px"]["n"] == 18
    assert centre["px"]["mean"] == pytest.approx(sum(expected) / 9)
    assert centre["px"]["median"] == pytest.approx(800.0)
    assert centre["mm"]["mean"] == pytest.approx(sum(expected) / 9 * 0.25)
    within, across = g["methods"]["within"], g["methods"]["across"]
    assert within["px"]["n"] == 18 and across["px"]["n"] == 18
    # the face's position carries the whole answer: far better than guessing the centre
    assert within["px"]["mean"] < 0.25 * centre["px"]["mean"], within
    assert across["px"]["mean"] < 0.25 * centre["px"]["mean"], across
    assert within["deg"]["mean"] is not None


# -- the command end to end on real media ---------------------------------------------------------

def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", "eval", "--quiet", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_eval_on_the_labelled_clip(tmp_path: Path) -> None:
    spans = tmp_path / "clip_spans.csv"
    spans.write_text("start_s,end_s,label,group\n"
                     "0,15.4,face_count=1,clip\n5.5,10.0,looking_away,clip\n5.0,5.5,ignore,clip\n10.0,11.0,ignore,clip\n")
    out = tmp_path / "eval.json"
    done = _eval("--video", str(CLIP), "--spans", str(spans), "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(out.read_text())
    video = doc["videos"][0]
    assert video["frames"] == 77 and video["duration_s"] == pytest.approx(15.4, abs=0.1)
    labels = video["labels"]
    faces = labels["face_count=1"]["frames"]
    assert faces["fn"] + faces["tp"] == 68  # 77 frames, 9 in the ignored transitions
    assert faces["recall"] >= 0.95
    away = labels["looking_away"]
    assert away["spans"] == 1 and away["frames"]["tp"] + away["frames"]["fn"] == 22
    assert away["detected"] == 1  # the 4.5 s look to the left raises a looking_away event
    assert away["frames"]["balanced_accuracy"] >= 0.8
    # an honest clip for everything else: no phone, no book, nobody else, never absent
    for label in ("phone", "book", "other_person", "absent"):
        assert labels[label]["false_events"] == 0, (label, video["events"])
    assert doc["video_summary"]["groups"]["clip"]["looking_away"]["detected"] == 1
    assert doc["settings"]["detector"] == "yolox"


def test_eval_on_the_real_object_photos(tmp_path: Path, shared_data: Path) -> None:
    images = shared_data / "images"
    boxes = tmp_path / "objects.csv"
    boxes.write_text(
        "file,label,x,y,w,h,group\n"
        f"{images}/phone/pexels_0071_phone_in_hand.jpeg,cell phone,170,248,80,52,phone\n"
        f"{images}/no_face/skimage_chelsea_cat.png,,,,,,none\n"
        f"{images}/no_face/skimage_coffee.png,,,,,,none\n"
        f"{images}/faces/skimage_astronaut.png,,,,,,none\n")
    out = tmp_path / "objects.json"
    done = _eval("--boxes", str(boxes), "--json", str(out), "--hold", "4")
    assert done.returncode == 0, done.stderr[-2000:]
    o = json.loads(out.read_text())["objects"][0]
    assert o["images"] == 4
    assert o["classes"]["cell phone"] == {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert o["events"]["phone"] == {"images_with": 1, "raised": 1, "recall": 1.0, "images_without": 3,
                                    "false_events": 0, "honest_min": 0.2, "false_events_per_honest_min": 0.0}
    assert o["groups"]["none"]["classes"]["cell phone"]["fp"] == 0


def test_eval_refuses_unpaired_video_and_bad_csv(tmp_path: Path) -> None:
    done = _eval("--video", str(CLIP))
    assert done.returncode == 2 and "--spans" in done.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("start_s,end_s,label\n0,1,cheating\n")
    done = _eval("--video", str(CLIP), "--spans", str(bad))
    assert done.returncode == 2 and "unknown span label" in done.stderr
