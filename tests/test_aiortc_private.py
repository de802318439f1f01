"""Every aiortc private name Vigil uses is checked at start: present on the pinned aiortc, named
clearly when one is gone."""
from __future__ import annotations

import types
from dataclasses import replace

import aiortc.jitterbuffer
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest

from server.rtc import aiortc_private
from server.rtc.aiortc_private import AiortcChanged, Modules, check


def test_the_pinned_aiortc_has_every_private_name() -> None:
    check()
    aiortc_private.install()
    aiortc_private.install()  # idempotent, and the check still passes with the patch installed
    buffer = aiortc.rtcrtpreceiver.JitterBuffer(capacity=128, is_video=True)
    assert isinstance(buffer, aiortc_private.MarkerJitterBuffer)


def fake_receiver_module(**overrides: object) -> types.ModuleType:
    """aiortc.rtcrtpreceiver as it is, but with the classes or names in `overrides` replaced."""
    fake = types.ModuleType("aiortc.rtcrtpreceiver")
    fake.__dict__.update(vars(aiortc.rtcrtpreceiver))
    fake.__dict__.update(overrides)
    return fake


def test_a_renamed_decoder_queue_fails_with_its_name() -> None:
    class RTCRtpReceiver:  # a receiver whose __init__ no longer sets __decoder_queue
        def __init__(self) -> None:
            self.__jobs: list[object] = []

        async def _send_rtcp_pli(self, media_ssrc: int) -> None: ...

        async def _handle_rtp_packet(self, packet: object) -> None:
            packet._data = b""  # type: ignore[attr-defined]

    modules = replace(Modules(), receiver=fake_receiver_module(RTCRtpReceiver=RTCRtpReceiver))
    with pytest.raises(AiortcChanged) as failure:
        check(modules)
    message = str(failure.value)
    assert "RTCRtpReceiver.__decoder_queue: used to shed the decode backlog" in message
    assert "JitterBuffer (built by RTCRtpReceiver.__init__)" in message
    assert "RemoteStreamTrack._queue" not in message  # only what changed is named


def test_a_missing_module_name_fails_with_its_name() -> None:
    sender = types.ModuleType("aiortc.rtcrtpsender")
    sender.RTCRtpSender = aiortc.rtcrtpsender.RTCRtpSender  # type: ignore[attr-defined]  # random32 gone
    with pytest.raises(AiortcChanged, match=r"rtcrtpsender.random32 .*RTP timestamps at 0"):
        check(replace(Modules(), sender=sender))


def test_a_changed_signature_fails_with_its_name() -> None:
    class JitterBuffer(aiortc.jitterbuffer.JitterBuffer):
        def _remove_frame(self, first: int, last: int) -> None:  # type: ignore[override]
            return None

    jitterbuffer = types.ModuleType("aiortc.jitterbuffer")
    jitterbuffer.JitterBuffer = JitterBuffer  # type: ignore[attr-defined]
    with pytest.raises(AiortcChanged, match=r"JitterBuffer._remove_frame\(sequence_number\)"):
        check(replace(Modules(), jitterbuffer=jitterbuffer))
