"""`vigil loadtest`: a short real run (2 candidates per transport, ~6 s) against a live server."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from server.cli import main
from server.tools.loadtest.options import LoadTestOptions
from server.tools.loadtest.runner import plan
from server.tools.loadtest.stats import (
    MIN_TIMED_SHARE,
    Window,
    latency_summary,
    percentile,
    split,
    window_summary,
    withheld_reason,
)
from tests.conftest import FACE_CLIP

CLIENT_KEYS = {"name", "transport", "process", "ok", "error", "session_id", "setup_s", "streaming_s",
               "frames_sent", "analyses", "analysed_fps", "dropped_share", "server_counters", "bytes_sent",
               "video_bytes_per_s", "errors_received", "latency_ms", "waits_ms"}
SUMMARY_KEYS = {"clients", "ok", "failures", "latency_ms", "analysed_fps_per_client", "analysed_fps_total",
                "target_fps", "fps_shortfall", "frames_sent", "frames_analysed", "dropped_share", "setup_s",
                "video_bytes_per_s_per_client", "errors_received", "waits_ms"}


@pytest.mark.slow
async def test_a_short_run_writes_a_complete_report(vigil_server, tmp_path: Path) -> None:
    out = tmp_path / "loadtest.json"
    argv = ["loadtest", "--url", vigil_server.url, "--clients", "2", "--duration", "6", "--ramp", "1",
            "--transport", "both", "--processes", "1", "--video", str(FACE_CLIP), "--json", str(out), "--quiet"]
    code = await asyncio.to_thread(main, argv)  # the server runs on this test's event loop
    report = json.loads(out.read_text())
    assert code == 0, report["failures"]

    assert report["version"] == 2
    assert set(report) >= {"started_at", "finished_at", "t0", "options", "generator", "server", "overall",
                           "clients", "failures"}
    assert report["options"]["clients"] == 2 and report["options"]["transport"] == "both"
    assert report["generator"]["processes"] == 1 and report["generator"]["machine_cores"] >= 1
    assert report["generator"]["kind"] == "replay" and report["generator"]["cpu_per_client_cores"] > 0
    assert set(report["overall"]) == {"all", "webrtc", "ws"}
    for summary in report["overall"].values():
        assert set(summary) == SUMMARY_KEYS
        # the latency rests on (nearly) every analysis: replayed packets keep their pts exact
        lat = summary["latency_ms"]
        assert lat["analyses"] >= 1 and lat["timed_share"] >= MIN_TIMED_SHARE and lat["withheld"] is None, lat
    assert report["overall"]["all"]["clients"] == 4 and report["overall"]["all"]["failures"] == 0

    assert len(report["clients"]) == 4
    for client in report["clients"]:
        assert set(client) == CLIENT_KEYS, client["name"]
        assert client["ok"], client
        lat = client["latency_ms"]
        assert lat["analyses"] == client["analyses"] and lat["count"] <= lat["analyses"]
        assert lat["count"] >= 1 and 0 < lat["p50"] <= lat["p95"] <= lat["p99"] < 10_000
        assert client["analyses"] >= 1 and client["analysed_fps"] > 0
        assert client["frames_sent"] >= 6 * 15 * 0.7  # ~15 fps for ~6 s, on a busy machine
        counters = client["server_counters"]
        assert 0 < counters["frames_analysed"] <= counters["frames_received"] <= client["frames_sent"]
        assert 0 < client["dropped_share"] < 1
        assert client["bytes_sent"]["video"] > 0 and client["setup_s"] > 0
    webrtc = [c for c in report["clients"] if c["transport"] == "webrtc"]
    assert all(c["bytes_sent"]["audio"] > 0 for c in webrtc)  # audio goes along
    assert set(report["overall"]["webrtc"]["waits_ms"]) == {"to_server", "in_server", "back"}

    server = report["server"]
    assert server["metrics_ok"] and server["rss_start_bytes"] > 0 and server["rss_end_bytes"] > 0
    assert server["cpu_cores_run"] is not None and server["cpu_cores_run"] > 0
    assert server["cpu_per_client_cores"] is None or server["cpu_per_client_cores"] > 0
    assert len(server["samples"]) >= 5
    # the sessions were ended, so the server holds none of them
    assert not vigil_server.sessions.live


def test_clients_are_dealt_round_robin_with_an_even_ramp() -> None:
    options = LoadTestOptions(url="http://x", clients=4, duration_s=10, video=FACE_CLIP, ramp_s=8,
                              transport="both", processes=3)
    jobs = plan(options)
    assert [len(j.specs) for j in jobs] == [3, 3, 2]
    specs = sorted((s for j in jobs for s in j.specs), key=lambda s: (s.offset_s, s.transport))
    assert [s.offset_s for s in specs] == [0, 0, 2, 2, 4, 4, 6, 6]
    assert {j.stop_s for j in jobs} == {18}


def test_percentiles_interpolate() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0], 95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert latency_summary([100.0] * 19 + [300.0])["p95"] == pytest.approx(110.0)


def test_latency_figures_are_withheld_below_the_timed_share() -> None:
    assert withheld_reason(0, 0) == "no analysis arrived"
    assert withheld_reason(9, 10) is None
    assert "only 1 of 65 analyses (2%)" in (withheld_reason(1, 65) or "")
    one_of_65 = latency_summary([96.0], 65)
    assert one_of_65["count"] == 1 and one_of_65["analyses"] == 65 and one_of_65["timed_share"] == pytest.approx(1 / 65,
                                                                                                               abs=1e-4)
    assert one_of_65["withheld"] and all(one_of_65[k] is None for k in ("p50", "p95", "p99", "mean", "max"))
    enough = latency_summary([100.0] * 9, 10)
    assert enough["withheld"] is None and enough["p50"] == 100.0 and enough["timed_share"] == 0.9


def test_windows_give_latency_and_fair_fps_per_part() -> None:
    assert split(0.0, 9.0, 3) == [Window(0.0, 3.0), Window(3.0, 6.0), Window(6.0, 9.0)]
    fast = [(0.5 + 0.2 * i, 100.0) for i in range(15)]  # 5 a second in [0.5, 3.5)
    slow = [(1.0, 200.0), (2.0, None), (4.0, 300.0)]
    first = window_summary([fast, slow], Window(0.0, 3.0))
    assert first["fps_per_client"]["max"] == pytest.approx(13 / 3, abs=0.01)
    assert first["fps_per_client"]["min"] == pytest.approx(2 / 3, abs=0.01)
    assert first["fairness"] == pytest.approx(2 / 13, abs=0.001)
    assert first["latency_ms"]["analyses"] == 15 and first["latency_ms"]["count"] == 14
    assert first["latency_ms"]["p95"] is not None  # 14 of 15 timed
    idle = window_summary([fast, slow], Window(10.0, 12.0))
    assert idle["fairness"] is None and idle["latency_ms"]["withheld"] == "no analysis arrived"


async def test_a_keyframe_request_makes_the_replay_jump_to_the_next_keyframe() -> None:
    from server.tools.candidate.encoded_media import EncodedVideo, ReplayVideoTrack

    video = EncodedVideo(packets=tuple(bytes([i]) for i in range(6)),
                         keyframes=(True, False, False, False, True, False), fps=1000.0)
    assert [video.next_keyframe(i) for i in range(6)] == [0, 4, 4, 4, 4, 6]  # 6: the loop's first frame

    class Sender:  # what aiortc's RTCRtpSender._send_keyframe sets on a PLI
        _RTCRtpSender__force_keyframe = False

    captured: list[int] = []
    track = ReplayVideoTrack(video, on_capture=lambda pts, ms: captured.append(pts))
    sender = Sender()
    track.bind(sender)
    assert bytes(await track.recv()) == b"\x00"
    sender._RTCRtpSender__force_keyframe = True
    assert bytes(await track.recv()) == b"\x04"  # the next keyframe, at once
    assert not sender._RTCRtpSender__force_keyframe and track.keyframe_jumps == 1
    assert bytes(await track.recv()) == b"\x05" and bytes(await track.recv()) == b"\x00"  # then on, looping
    assert captured == [0, 90, 180, 270]  # pts stay the capture schedule, whatever was skipped
