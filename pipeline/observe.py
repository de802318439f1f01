"""From one frame's analysis to the risk engine's `Observation`.

The engine reads the stages' typed results, the same results the `analysis` message shows the
candidate and proctor (`FrameAnalysis.message_fields()`, built at the network edge), so what they
see is what the engine judged (at the message's rounding). A stage that did not produce a result
leaves its field None: "unable to assess". Gaze on screen comes from the session's calibration;
without an accepted one it is None and the engine falls back to the gaze direction.
"""
from __future__ import annotations

from pipeline.analysis import CalibratedGaze, FrameAnalysis
from pipeline.risk.messages import GAZE_DIRECTIONS, IMAGE_QUALITIES, Observation
from pipeline.stages.faces import FacesResult
from pipeline.stages.gaze import GazeResult
from pipeline.stages.head_pose import HeadPoseResult
from pipeline.stages.identity import IdentityResult
from pipeline.stages.objects import ObjectsResult
from pipeline.stages.posture import PostureResult
from pipeline.stages.quality import QualityResult


def observation_from_analysis(analysis: FrameAnalysis, gaze: CalibratedGaze | None = None) -> Observation:
    faces = analysis.result("faces", FacesResult)
    primary = faces.primary if faces is not None else None
    pose = analysis.result("head_pose", HeadPoseResult)
    direction = analysis.result("gaze", GazeResult)
    objects = analysis.result("objects", ObjectsResult)
    posture = analysis.result("posture", PostureResult)
    quality = analysis.result("quality", QualityResult)
    identity = analysis.result("identity", IdentityResult)
    return Observation(
        t=analysis.t,
        frame_id=analysis.frame_id,
        faces=None if faces is None else faces.count,
        face_confidence=None if primary is None else primary.confidence,
        head_yaw=None if pose is None else pose.yaw,
        head_pitch=None if pose is None else pose.pitch,
        gaze_direction=direction.direction if direction is not None and direction.direction in GAZE_DIRECTIONS
        else None,
        gaze_on_screen=None if gaze is None else gaze.on_screen,
        objects=() if objects is None else tuple((d.label, d.confidence) for d in objects.objects),
        persons=None if objects is None else objects.persons,
        left_seat=None if posture is None else posture.left_seat,
        image_quality=quality.status if quality is not None and quality.status in IMAGE_QUALITIES else None,
        identity_changed=None if identity is None else identity.identity_changed,
        gaze_h_deg=None if direction is None else direction.h_deg,
        gaze_v_deg=None if direction is None else direction.v_deg,
        face_box=None if primary is None else primary.box,
    )
