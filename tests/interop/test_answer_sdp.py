"""The answer's SDP edits (server/rtc/negotiate.py), on SDP text alone."""
from __future__ import annotations

from server.rtc.negotiate import answer_as_dtls_server, cap_video_bitrate

OFFER = ("v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
         "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\na=mid:0\r\n"
         "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\na=setup:passive\r\na=mid:1\r\n")
ANSWER = ("v=0\r\no=- 2 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
          "m=video 4000 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 192.0.2.2\r\nb=AS:2000\r\na=setup:active\r\na=mid:0\r\n"
          "m=audio 4000 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 192.0.2.2\r\na=setup:active\r\na=mid:1\r\n")


def test_actpass_sections_are_answered_passive_and_others_kept() -> None:
    edited = answer_as_dtls_server(OFFER, ANSWER)
    video, audio = edited.split("m=audio")
    assert "a=setup:passive" in video and "a=setup:active" not in video
    assert "a=setup:active" in audio  # that offer section asked to be the DTLS server itself


def test_session_level_actpass_applies_to_sections_without_their_own() -> None:
    offer = OFFER.replace("a=setup:actpass\r\n", "").replace("t=0 0\r\n", "t=0 0\r\na=setup:actpass\r\n")
    assert answer_as_dtls_server(offer, ANSWER).split("m=audio")[0].count("a=setup:passive") == 1


def test_video_cap_follows_the_connection_line_and_replaces_any_bandwidth() -> None:
    capped = cap_video_bitrate(ANSWER, 500)
    video, audio = capped.split("m=audio")
    assert "c=IN IP4 192.0.2.2\r\nb=AS:500\r\nb=TIAS:500000\r\na=setup:active" in video
    assert "b=AS:2000" not in capped and "b=" not in audio
    assert capped.endswith("\r\n") and "\r\n\r\n" not in capped


def test_a_rejected_video_section_gets_no_cap() -> None:
    rejected = ANSWER.replace("m=video 4000", "m=video 0")
    assert "b=TIAS" not in cap_video_bitrate(rejected, 500)
