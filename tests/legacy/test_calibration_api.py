"""The original gaze calibration API's contract, from its description: a calibration session over HTTP
(create, status, resume, link, start, frame, frames batch, complete, verify, download, diagnostics; screen
detect) with base64 frames of a real
candidate (the face clip) and real photos, against a real server."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aiohttp

from tests.legacy.images import clip_frame_b64, jpeg_b64
from tests.legacy.test_interview_api import post

SCREEN = {"screen_w": 1536, "screen_h": 864, "dpr": 1.25}
#: frames of the clip's first 5 s: the candidate looks at the screen's centre the whole time
CENTRE_FRAMES = range(5, 70)
PER_POINT = 4


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def test_a_candidate_who_looks_at_one_spot_is_refused_with_the_errors_per_dot(
        vigil_server, shared_data: Path) -> None:
    base = vigil_server.url
    api = base + "/api/calibration"
    async with aiohttp.ClientSession() as http:
        st, created = await post(http, api + "/session/create")
        assert st == 200 and created["status"] == "created", created
        run = created["calibration_session_id"]
        st, status = await get(http, f"{api}/session/{run}")
        assert st == 200 and status["status"] == "created" and status["targets"] == []

        st, error = await post(http, api + "/frame", {"calibration_session_id": run, "point_index": 0,
                                                     "frame": clip_frame_b64(5)})
        assert st == 409, error  # no dots before start

        st, started = await post(http, api + "/start", {"calibration_session_id": run, "points": 5, **SCREEN})
        assert st == 200, started
        targets = started["targets"]
        assert started["total"] == len(targets) == 8  # 5 fit dots and 3 validation dots
        assert sum(t["validation"] for t in targets) == 3
        assert all(0 < t["x"] < 1536 and 0 < t["y"] < 864 for t in targets)

        # one frame at a time: a candidate's frame counts, a crowd's or an empty room's does not
        st, one = await post(http, api + "/frame", {"calibration_session_id": run, "point_index": 0,
                                                   "frame": clip_frame_b64(5)})
        assert st == 200 and one == {"accepted": True, "reason": None, "point_index": 0, "samples": 1}, one
        st, crowd = await post(http, api + "/frame", {"calibration_session_id": run, "point_index": 0,
                                                     "image": jpeg_b64(shared_data / "images/multi_face/two_people.jpg")})
        assert st == 200 and crowd["accepted"] is False and crowd["reason"] == "several_faces", crowd
        st, empty = await post(http, api + "/frame", {"calibration_session_id": run, "point_index": 0,
                                                     "frame": jpeg_b64(shared_data / "images/no_face/skimage_coffee.png")})
        assert st == 200 and empty["reason"] == "no_face" and empty["samples"] == 1

        # then batches, one per dot, every frame looking at the centre
        frames = iter(CENTRE_FRAMES)
        for target in targets:
            batch = [clip_frame_b64(next(frames)) for _ in range(PER_POINT)]
            st, added = await post(http, api + "/frames", {"calibration_session_id": run,
                                                          "point_index": target["index"], "frames": batch})
            assert st == 200 and added["accepted"] == PER_POINT, added
        st, error = await post(http, api + "/frames", {"calibration_session_id": run, "point_index": 99,
                                                      "frames": [clip_frame_b64(5)]})
        assert st == 400, error

        st, status = await get(http, f"{api}/session/{run}")
        assert status["status"] == "running" and status["rejected"] == {"several_faces": 1, "no_face": 1}
        assert status["samples_per_point"]["0"] == PER_POINT + 1

        st, result = await post(http, api + "/complete", {"calibration_session_id": run})
        assert st == 200, result
        # every dot predicted at the same spot: far from the corners, so the map is not accepted
        assert result["ok"] is False and result["status"] == "refused", result
        assert result["mean_error_px"] > 100 and result["mean_error_deg"] is None  # screen size unknown
        assert result["mean_error_screen_fraction"] > result["limit_screen_fraction"]
        assert {p["index"] for p in result["points"]} == {t["index"] for t in targets}
        assert result["rejected_frames"] == {"several_faces": 1, "no_face": 1}
        st, again = await post(http, api + "/complete", {"calibration_session_id": run})
        assert st == 409

        async with http.get(f"{api}/session/{run}/download") as resp:
            assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
            download = await resp.json()
        assert download["status"] == "refused" and download["result"] == {k: v for k, v in result.items()
                                                                            if k != "calibration_session_id"}
        assert set(download["model"]) >= {"feature_names", "mean", "scale"}


async def test_a_run_links_to_an_interview_session_and_unknown_ids_are_404(vigil_server) -> None:
    base = vigil_server.url
    api = base + "/api/calibration"
    async with aiohttp.ClientSession() as http:
        _, interview = await post(http, base + "/start-session", {"candidate_id": "linked"})
        st, created = await post(http, api + "/session/create", {"candidate_id": "linked"})
        run = created["calibration_session_id"]
        st, linked = await post(http, f"{api}/session/{run}/link", {"session_id": interview["session_id"]})
        assert st == 200 and linked["session_id"] == interview["session_id"], linked
        st, _ = await post(http, f"{api}/session/{run}/link", {"session_id": "0" * 32})
        assert st == 404
        st, _ = await get(http, f"{api}/session/{'0' * 32}")
        assert st == 404
        st, _ = await post(http, api + "/session/create", {"session_id": "f" * 32})
        assert st == 404


async def test_detect_resume_verify_diagnostics_and_download_by_candidate(vigil_server) -> None:
    """The rest of the original API, as docs/legacy-apis.md's examples show it."""
    base = vigil_server.url
    api = base + "/api/calibration"
    candidate = f"verify-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as http:
        st, detected = await post(http, base + "/api/screen/detect", {
            "screen_width_px": 1920, "screen_height_px": 1080, "diagonal_inches": 24, "distance_cm": "60"})
        assert st == 200 and detected == {
            "valid": True, "problems": [], "mm_per_px": 0.27673, "diagonal_in": 24.0,
            "screen": {"screen_w": 1920, "screen_h": 1080, "dpr": None, "width_mm": 531.3, "height_mm": 298.9,
                       "viewing_distance_mm": 600.0}}, detected
        st, small = await post(http, base + "/api/screen/detect", {"screen_w": 1536, "screen_h": 864, "width_mm": 40})
        assert st == 200 and small["valid"] is False and small["problems"] == ["width_mm must be 80-2500 mm, got 40.0"]
        st, _ = await post(http, base + "/api/screen/detect", {"screen_h": 864})
        assert st == 400

        st, nobody = await get(http, f"{api}/verify/nobody-{candidate}")
        assert st == 200 and nobody == {"exists": False, "candidate_id": f"nobody-{candidate}", "calibrated": False}
        st, _ = await get(http, f"{api}/download/nobody-{candidate}")
        assert st == 404

        _, created = await post(http, api + "/session/create", {"candidate_id": candidate})
        run = created["calibration_session_id"]
        st, error = await post(http, f"{api}/session/{run}/resume")
        assert st == 409, error  # nothing started: nothing to resume
        _, started = await post(http, api + "/start", {"calibration_session_id": run, "points": 5, **SCREEN})
        targets = started["targets"]
        frames = iter(CENTRE_FRAMES)

        async def at(index: int) -> None:
            st, added = await post(http, api + "/frames", {"calibration_session_id": run, "point_index": index,
                                                          "frames": [clip_frame_b64(next(frames)) for _ in range(PER_POINT)]})
            assert st == 200 and added["accepted"] == PER_POINT, added

        await at(0)
        st, resumed = await post(http, f"{api}/session/{run}/resume")
        assert st == 200 and resumed["status"] == "running", resumed
        assert resumed["samples_per_point"] == {"0": PER_POINT}
        assert resumed["remaining_points"] == [t["index"] for t in targets][1:]
        for index in resumed["remaining_points"]:
            await at(index)
        st, result = await post(http, api + "/complete", {"calibration_session_id": run})
        assert st == 200 and result["status"] == "refused", result

        st, verified = await get(http, f"{api}/verify/{candidate}")
        assert st == 200 and verified["exists"] is True and verified["calibration_session_id"] == run, verified
        assert verified["status"] == "refused" and verified["calibrated"] is False
        assert verified["has_screen_info"] is True and verified["has_calibration_data"] is True
        assert verified["mean_error_px"] == result["mean_error_px"] and verified["basis"] == result["basis"]

        st, diagnostics = await get(http, f"{api}/session/{run}/diagnostics")
        assert st == 200 and diagnostics["status"] == "refused"
        assert [p["samples"] for p in diagnostics["points"]] == [PER_POINT] * len(targets)
        assert [p["error"]["error_px"] for p in diagnostics["points"]] == [p["error_px"] for p in result["points"]]

        async with http.get(f"{api}/download/{candidate}") as resp:
            assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
            download = await resp.json()
        assert download["calibration_session_id"] == run and download["result"]["status"] == "refused"
