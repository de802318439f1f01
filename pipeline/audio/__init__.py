"""Audio analysis: silero voice activity (ONNX), speech segments, level and mute, per session.

`vad.SileroVad` (the shared model) -> `segmenter.SpeechSegmenter` (hysteresis, pure) ->
`analyzer.AudioAnalyzer` (one per session: 16 kHz blocks in, `AudioUpdate` per 32 ms chunk out).
The media edge that feeds it from a WebRTC track is `server.rtc.audio_track`.
"""
from pipeline.audio.analyzer import AudioAnalyzer, AudioUpdate
from pipeline.audio.segmenter import SegmenterConfig, SpeechEnded, SpeechStarted
from pipeline.audio.vad import SileroVad

__all__ = ["AudioAnalyzer", "AudioUpdate", "SegmenterConfig", "SileroVad", "SpeechEnded", "SpeechStarted"]
