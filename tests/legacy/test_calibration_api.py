"""The original gaze calibration API's contract, from its description: a calibration session over HTTP
(create, status, resume, link, start, frame, frames batch, complete, verify, download, diagnostics; screen
detect, save and get) with base64 frames of a real candidate (the face clip) and real photos, against a real
server; and the three paths it shares with Vigil's own routes, which keep answering Vigil's clients."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from server.core.strict_json import dumps
from tests.legacy.images import clip_frame_b64, jpeg_b64
from tests.legacy.test_interview_api import post
from tests.test_accounts import call, logged_in, new_exam

SCREEN = {"screen_w": 1536, "screen_h": 864, "dpr": 1.25}
#: the original README's `POST /api/screen/info` example (a Dell U2419H: 23.8", 527 x 296 mm with its bezel)
ORIGINAL_SCREEN = {"screen_width_px": 1920, "screen_height_px": 1080, "screen_width_mm": 510.0,
                   "screen_height_mm": 287.0, "dpi": 96.0, "diagonal_inches": 23.8, "monitor_name": "Dell U2419H",
                   "camera_position": "top-center", "distance_cm": "60", "collection_method": "automatic"}
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
        # the original's own path, which Vigil's sessions share: a run's id is the run's
        st, same = await get(http, f"{api}/diagnostics/{run}")
        assert st == 200 and same == diagnostics

        async with http.get(f"{api}/download/{candidate}") as resp:
            assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
            download = await resp.json()
        assert download["calibration_session_id"] == run and download["result"]["status"] == "refused"


async def test_the_original_screen_save_and_get_on_the_paths_vigils_sessions_use(vigil_server) -> None:
    """docs/legacy-apis.md's screen info examples; a session token still gets Vigil's own routes."""
    base = vigil_server.url
    candidate = f"screen-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as http:
        st, saved = await post(http, base + "/api/screen/info", {"candidate_id": candidate, **ORIGINAL_SCREEN})
        assert st == 200 and saved == {"success": True, "candidate_id": candidate, "timestamp": saved["timestamp"],
                                       "message": "Screen information saved successfully"}, saved
        assert datetime.fromisoformat(saved["timestamp"]).tzinfo is None  # the original's naive UTC time
        st, got = await get(http, f"{base}/api/screen/info/{candidate}")
        assert st == 200 and got == {"candidate_id": candidate, **ORIGINAL_SCREEN, "timestamp": saved["timestamp"]}

        # the original's defaults, and its size from the dpi when neither size nor diagonal is given
        st, _ = await post(http, base + "/api/screen/info", {"candidate_id": candidate, "screen_width_px": 1920,
                                                              "screen_height_px": 1080})
        assert st == 200
        st, got = await get(http, f"{base}/api/screen/info/{candidate}")
        assert st == 200 and {k: got[k] for k in ORIGINAL_SCREEN} == {
            "screen_width_px": 1920, "screen_height_px": 1080, "screen_width_mm": 508.0, "screen_height_mm": 285.8,
            "dpi": 96.0, "diagonal_inches": None, "monitor_name": "Unknown", "camera_position": "top-center",
            "distance_cm": "60", "collection_method": "automatic"}, got
        # a diagonal alone gives both sides (square pixels), as screen/detect does
        st, _ = await post(http, base + "/api/screen/info", {"candidate_id": candidate, "screen_width_px": 1920,
                                                              "screen_height_px": 1080, "diagonal_inches": 24})
        st, got = await get(http, f"{base}/api/screen/info/{candidate}")
        assert (got["screen_width_mm"], got["screen_height_mm"]) == (531.3, 298.9)

        # refusals: the original's validation, and Vigil's screen rules
        st, error = await post(http, base + "/api/screen/info", {"candidate_id": candidate, **ORIGINAL_SCREEN,
                                                                  "camera_position": "behind"})
        assert st == 400, error
        st, error = await post(http, base + "/api/screen/info", {"candidate_id": candidate, **ORIGINAL_SCREEN,
                                                                  "screen_width_mm": 40, "screen_height_mm": 22})
        assert st == 400 and error["error"] == "implausible screen description", error
        st, error = await post(http, base + "/api/screen/info", {"candidate_id": candidate, **ORIGINAL_SCREEN,
                                                                  "distance_cm": "far"})
        assert st == 400, error
        # a candidate nobody saved a screen for, without credentials: Vigil's answer, as before
        st, error = await get(http, f"{base}/api/screen/info/nobody-{candidate}")
        assert st == 401, error

        # a Vigil session of the same candidate id: its token always reaches Vigil's routes
        st, created = await call(http, "POST", base + "/api/sessions", json={"candidate_id": candidate})
        assert st == 201
        token = created["token"]
        st, error = await call(http, "POST", base + "/api/screen/info", token,
                               json={"candidate_id": candidate, **ORIGINAL_SCREEN})
        assert st == 400, error  # Vigil's body has screen_w, screen_h
        st, error = await call(http, "GET", f"{base}/api/screen/info/{candidate}", token)
        assert st == 404, error  # the session's own document: none yet (never the original's)
        st, stored = await call(http, "POST", base + "/api/screen/info", token, json={"candidate_id": candidate, **SCREEN})
        assert st == 200 and stored["session_id"] == created["session_id"], stored
        st, own = await call(http, "GET", f"{base}/api/screen/info/{candidate}", token)
        assert st == 200 and own["screen_w"] == 1536 and own["session_id"] == created["session_id"]
        # and the original's is as its caller left it
        st, got = await get(http, f"{base}/api/screen/info/{candidate}")
        assert st == 200 and got["screen_width_px"] == 1920 and "session_id" not in got


async def test_in_production_the_shared_paths_are_the_callers_own_and_vigils_refusals_stand(
        vigil_server_factory) -> None:
    server = await vigil_server_factory(env="production", jwt_secret="x" * 32, legacy_apis=("calibration",))
    base = server.url
    _, owner = await logged_in(server, "proctor")
    _, other = await logged_in(server, "proctor")
    candidate = f"prod-{uuid.uuid4().hex[:8]}"
    body = {"candidate_id": candidate, **ORIGINAL_SCREEN}
    async with aiohttp.ClientSession() as http:
        st, error = await call(http, "POST", base + "/api/screen/info", json=body)
        assert st == 401, error  # no credentials: no original API, and Vigil's wants a session token
        st, saved = await call(http, "POST", base + "/api/screen/info", owner, json=body)
        assert st == 200 and saved["success"] is True, saved
        st, got = await call(http, "GET", f"{base}/api/screen/info/{candidate}", owner)
        assert st == 200 and got["monitor_name"] == "Dell U2419H"
        st, error = await call(http, "GET", f"{base}/api/screen/info/{candidate}", other)
        assert st == 400 and "session_id" in error["error"], error  # Vigil's: name the session
        st, error = await call(http, "GET", f"{base}/api/screen/info/{candidate}")
        assert st == 401, error

        st, created = await call(http, "POST", base + "/api/calibration/session/create", owner, json={})
        run = created["calibration_session_id"]
        st, diagnostics = await call(http, "GET", f"{base}/api/calibration/diagnostics/{run}", owner)
        assert st == 200 and diagnostics["calibration_session_id"] == run and diagnostics["points"] == []
        st, error = await call(http, "GET", f"{base}/api/calibration/diagnostics/{run}", other)
        assert st == 404, error  # not theirs: Vigil's unknown session
        st, error = await call(http, "GET", f"{base}/api/calibration/diagnostics/{run}")
        assert st == 401, error

        # Vigil's own reads on the same paths: the owning proctor names a session of their exam
        exam = await new_exam(http, base, owner)
        st, session = await call(http, "POST", base + "/api/sessions",
                                 json={"candidate_id": candidate, "join_code": exam["join_code"]})
        assert st == 201
        st, diag = await call(http, "GET", f"{base}/api/calibration/diagnostics/{session['session_id']}", owner)
        assert st == 200 and diag == {"session_id": session["session_id"], "candidate_id": candidate,
                                      "calibration": None}
        st, error = await call(http, "GET", f"{base}/api/screen/info/{candidate}?session_id={session['session_id']}",
                               owner)
        assert st == 404, error  # the session's own document: none (the original's is not it)


async def test_the_shared_paths_answer_as_before_when_the_original_api_is_off(vigil_server_factory) -> None:
    server = await vigil_server_factory(env="production", jwt_secret="x" * 32)
    _, proctor = await logged_in(server, "proctor")
    async with aiohttp.ClientSession() as http:
        st, error = await call(http, "POST", server.url + "/api/screen/info", proctor,
                               json={"candidate_id": "off", **ORIGINAL_SCREEN})
        assert st == 401 and error["error"].startswith("session token required"), error
        st, error = await call(http, "GET", server.url + "/api/screen/info/off", proctor)
        assert st == 400, error
        st, error = await call(http, "GET", f"{server.url}/api/calibration/diagnostics/{'0' * 32}", proctor)
        assert st == 404 and error["error"] == "unknown session", error


async def test_the_original_clients_whole_flow_with_its_own_bodies(vigil_server) -> None:
    """An original client, unchanged: it saves the screen, creates a run, starts it naming only the run and
    the candidate, sends frames of the clip at each dot of its config in batches on its path (and one alone),
    completes, then verifies and downloads; every body is the original's, every answer has its fields."""
    base = vigil_server.url
    api = base + "/api/calibration"
    candidate = f"original-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as http:
        _, created = await post(http, api + "/session/create", {"candidate_id": candidate})
        session_id = created["session_id"]
        assert created["candidate_id"] == candidate and session_id == created["calibration_session_id"], created
        ids = {"session_id": session_id, "candidate_id": candidate}
        st, error = await post(http, api + "/start", ids)
        assert st == 400 and error["error"].startswith("Screen information must be saved first"), error

        st, _ = await post(http, base + "/api/screen/info", {"candidate_id": candidate, **ORIGINAL_SCREEN})
        assert st == 200
        st, error = await post(http, api + "/start", {**ids, "candidate_id": f"other-{candidate}"})
        assert st == 400 and error["error"] == "Candidate ID mismatch", error
        st, started = await post(http, api + "/start", ids)
        assert st == 200 and started["status"] == "ready" and started["session_id"] == session_id, started
        assert started["screen_info"]["monitor_name"] == "Dell U2419H"
        config = started["calibration_config"]
        # the original's config exactly as its README gives it: 3 s per dot, 30 frames, its four corners in its order
        assert config == {"target_display_time": 3000, "max_frames_per_target": 30, "targets": [
            {"index": 0, "position": {"x": 0.1, "y": 0.1}}, {"index": 1, "position": {"x": 0.9, "y": 0.1}},
            {"index": 2, "position": {"x": 0.1, "y": 0.9}}, {"index": 3, "position": {"x": 0.9, "y": 0.9}}]}
        assert started["total"] == 4 and not any(t["validation"] for t in started["targets"])
        # the dots as fractions of the saved 1920 x 1080 screen, the same as Vigil's pixels
        assert [(t["index"], round(t["position"]["x"] * 1920, 1), round(t["position"]["y"] * 1080, 1))
                for t in config["targets"]] == [(t["index"], t["x"], t["y"]) for t in started["targets"]]

        frames = iter(CENTRE_FRAMES)

        def frame(target: dict[str, Any]) -> dict[str, Any]:
            index = next(frames)
            return {**ids, "frame_data": clip_frame_b64(index), "frame_index": index,
                    "target_position": target["position"], "target_index": target["index"]}

        first, *rest = config["targets"]
        st, one = await post(http, api + "/frame", frame(first))
        assert st == 200 and one["success"] is True and "error" not in one, one
        assert (one["target_index"], one["target_position"]) == (first["index"], first["position"])
        assert one["accepted"] is True and one["samples"] == 1
        st, batch = await post(http, api + "/frames/batch", {**ids, "frames": [frame(first) for _ in range(3)]})
        assert st == 200 and batch["batch_size"] == batch["successful_frames"] == 3, batch
        for target in rest:
            st, batch = await post(http, api + "/frames/batch",
                                   {**ids, "frames": [frame(target) for _ in range(PER_POINT)]})
            assert st == 200 and batch["successful_frames"] == PER_POINT, batch
            assert [r["target_index"] for r in batch["results"]] == [target["index"]] * PER_POINT
            assert all(r["success"] for r in batch["results"])

        st, done = await post(http, api + "/complete", ids)
        assert st == 200 and done["session_id"] == session_id and done["candidate_id"] == candidate, done
        # the candidate looked at the centre throughout: not accepted, said in the original's `success`
        assert done["success"] is False and done["ok"] is False and done["status"] == "refused"
        assert done["calibration_stats"]["mean_error_px"] == done["mean_error_px"] > 100
        assert done["mean_error_deg"] is not None  # the saved screen's size in mm gives degrees
        assert done["validation_metrics"]["frames"] == PER_POINT * len(config["targets"])
        assert done["validation_metrics"]["coverage"] == [True] * 4  # every one of its dots had frames
        # no check dots among the original's four: each corner is judged by the map fitted on the other three
        assert done["basis"] == "leave-one-point-out" and len(done["points"]) == 4

        st, verified = await get(http, f"{api}/verify/{candidate}")
        assert st == 200 and verified["exists"] is True and verified["candidate_id"] == candidate, verified
        assert verified["has_screen_info"] is True and verified["has_calibration_data"] is True
        async with http.get(f"{api}/download/{candidate}") as resp:
            assert resp.status == 200
            download = await resp.json()
        assert download["screen"]["width_mm"] == 510.0 and download["viewing_distance_mm"] == 600.0
        checksum = hashlib.sha256(dumps(download["model"]).encode()).hexdigest()
        assert done["file_checksums"] == {f"calibration-{session_id}.json": checksum}


async def test_the_original_layout_refuses_clearly_with_a_corner_missing_and_vigils_layout_on_request(
        vigil_server) -> None:
    """Four dots are the fit's minimum: a run of the original's whose fourth corner got no frame fails with
    the reason (where the original answered 400), and says which dot was not covered; an index past its
    four is refused; an original body naming `points` gets Vigil's layout with its check dots."""
    base = vigil_server.url
    api = base + "/api/calibration"
    candidate = f"corners-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as http:
        st, _ = await post(http, base + "/api/screen/info", {"candidate_id": candidate, **ORIGINAL_SCREEN})
        assert st == 200
        _, created = await post(http, api + "/session/create", {"candidate_id": candidate})
        ids = {"session_id": created["session_id"], "candidate_id": candidate}
        st, started = await post(http, api + "/start", ids)
        assert st == 200 and [t["index"] for t in started["calibration_config"]["targets"]] == [0, 1, 2, 3]
        frames = iter(CENTRE_FRAMES)
        for target in started["calibration_config"]["targets"][:3]:
            body = [{**ids, "frame_data": clip_frame_b64(next(frames)), "target_index": target["index"],
                     "target_position": target["position"]} for _ in range(PER_POINT)]
            st, batch = await post(http, api + "/frames/batch", {**ids, "frames": body})
            assert st == 200 and batch["successful_frames"] == PER_POINT, batch
        st, error = await post(http, api + "/frame", {**ids, "frame_data": clip_frame_b64(5), "target_index": 4})
        assert st == 400 and error["context"]["total"] == 4, error
        st, done = await post(http, api + "/complete", ids)
        assert st == 200 and done["success"] is False and done["status"] == "failed", done
        assert "only 3 of 4 dots" in done["message"] and done["validation_metrics"]["coverage"] == [True, True, True, False]

        st, started = await post(http, api + "/start", {**ids, "points": 9})
        assert st == 200 and started["total"] == 12 and sum(t["validation"] for t in started["targets"]) == 3
        assert len(started["calibration_config"]["targets"]) == 12
