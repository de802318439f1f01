"""Other voice: speech heard while the candidate's mouth is still.

Video and audio share one clock at the edge (wall-clock seconds: a video frame is stamped when it
arrives, an audio chunk by its sample position anchored at the first audio frame's arrival; see
`server.rtc.audio_track`). Both arrive after similar network and jitter-buffer delays, so a chunk
at time t is compared with the mouth openings of the frames received in [t - LOOKBACK_S,
t + LOOKAHEAD_S].

Talking moves the lips: across a second of speech the inner-lip opening (normalised by face
height, from the landmarks stage) ranges over more than MOVING_RANGE. A still mouth under speech
means someone else is talking (or audio is played). With no face in the window we cannot tell,
so the answer is None, never "other voice".
"""
from __future__ import annotations

from collections import deque

#: how far back the mouth is looked at for a chunk of speech: about two analysed frames at 5 fps
#: would be too few to see lips move; a second holds five.
LOOKBACK_S = 1.0
#: frames arriving shortly after the audio chunk still show the same utterance.
LOOKAHEAD_S = 0.3
#: lip-opening range (fraction of face height) that counts as moving; closed-mouth jitter of the
#: landmark model is about 0.005-0.01, syllables open the mouth by 0.03-0.1.
MOVING_RANGE = 0.02
#: fewer frames than this in the window: cannot judge.
MIN_FRAMES = 3
#: keep a few seconds of mouth samples.
HISTORY_S = 5.0


class MouthActivity:
    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, t: float, mouth_open: float | None) -> None:
        """Record one analysed frame; None (no face) is remembered as a gap."""
        if mouth_open is None:
            return
        self._samples.append((t, mouth_open))
        while self._samples and self._samples[0][0] < t - HISTORY_S:
            self._samples.popleft()

    def moving(self, t: float) -> bool | None:
        values = [m for ts, m in self._samples if t - LOOKBACK_S <= ts <= t + LOOKAHEAD_S]
        if len(values) < MIN_FRAMES:
            return None
        return max(values) - min(values) >= MOVING_RANGE


def other_voice(speaking: bool, mouth_moving: bool | None) -> bool | None:
    """True when speech is heard and the mouth is still; None when the mouth cannot be judged."""
    if not speaking:
        return False
    if mouth_moving is None:
        return None
    return not mouth_moving
