"""The original gaze calibration API over HTTP, on `pipeline/calibration/` (features, fit, evaluation).

    POST /api/calibration/session/create         {"candidate_id"?, "session_id" | "interview_id"?}
                                                  -> {"calibration_session_id", "status", "session_id", "candidate_id"}
    GET  /api/calibration/session/{id}            -> the run: status, screen, targets, samples per point, result
    POST /api/calibration/session/{id}/link       {"session_id"}  -> the run, linked to an interview session
    POST /api/calibration/start                   {"calibration_session_id", "screen_w", "screen_h", "dpr"?,
                                                   "screen_mm_w"?, "screen_mm_h"?, "viewing_distance_mm"?, "points"?: 5|9|13|16}
                                                  -> {"targets": [{"index", "x", "y", "validation"}], "total"}
    POST /api/calibration/frame                   {"calibration_session_id", "point_index", "frame"}
                                                  -> {"accepted", "reason", "point_index", "samples"}
    POST /api/calibration/frames[/batch]          {"calibration_session_id", "point_index", "frames": [...]}
                                                  -> {"accepted", "rejected": {reason: n}, "point_index", "samples"}
    POST /api/calibration/complete                {"calibration_session_id"}  -> the result (as the data channel's
                                                  `calibration.result`: ok, status, errors in px/deg/mm, per point)
    GET  /api/calibration/session/{id}/download   -> the run with its fitted model, as a JSON download
    POST /api/calibration/session/{id}/resume     -> the running run and the dots still without a frame
    GET  /api/calibration/session/{id}/diagnostics -> samples and rejections per dot, the per-dot errors
    GET  /api/calibration/verify/{candidate_id}   -> whether the candidate has a run, and its verdict
    GET  /api/calibration/download/{candidate_id} -> the candidate's newest run, as the download above
    POST /api/screen/detect                       {"screen_w" | "screen_width_px", "screen_h" | ..., "dpr"?,
                                                   sizes in mm or "diagonal_inches"?, "distance_cm"?}
                                                  -> {"valid", "problems", "screen", "mm_per_px"?, "diagonal_in"?}
    POST /api/screen/info                         {"candidate_id", "screen_width_px", "screen_height_px", ...}
                                                  -> {"success", "candidate_id", "timestamp", "message"}
    GET  /api/screen/info/{candidate_id}          -> the screen saved above
    GET  /api/calibration/diagnostics/{id}        -> the run's diagnostics, as .../session/{id}/diagnostics

The original's own bodies are taken too (one model per request, its names as aliases): it calls the run
`session_id`, sends `candidate_id` with every call (a body with it is the original's: the id must be the
run's, and the answer adds the original's fields, `_original_frame_result`, `_original_result`), sends
each frame as `frame_data` at `target_index`, batches frames of several dots, and names no screen in
`start`, which then takes the screen saved for the candidate (`_run_screen`) and sets out the original's
four dots (`calibration_layout`).

The last three paths are also Vigil's own routes: `server.http.legacy.shared_paths` gives each call to
one or the other (`is_original_screen`, `saved_screen`, `visible_run` say when it is this API's).

The client shows the dots itself, so each frame says which dot it was taken at (`point_index`): no
timing is inferred, unlike the data-channel calibration (`server.live.calibration`), whose result fields
this API answers with (`result_fields`). Each frame is analysed on its own (faces, landmarks, head pose,
gaze) and becomes a `FeatureSample` or a counted rejection (`analysis_sample`: no face, several faces,
blink, ...). `complete` fits on the fit dots and judges on the validation dots (`evaluate`).

A run is one JSON document in the store (`calibration_run_key`, `RETENTION_S`), changed under a per-run
lock on this worker; in production it is seen by whoever created it and admins. "By candidate" (verify,
download) means the newest run the caller made for that candidate id (`latest_calibration_run_key`):
candidate ids are the client's words, so one caller's runs never answer for another's. `screen/detect`
checks a browser's screen description with the rules of Vigil's own `POST /api/screen/info`
(`screen_geometry.screen_problems`) and stores nothing; the original `POST /api/screen/info` checks
with the same rules and saves the screen for the caller and candidate (`legacy_screen_key`), never in a
session's screen document. Linking records the
interview session's id in the run; Vigil's interview API does not apply the map to that session's gaze.

The package by job: `models` (the request bodies, Vigil's names and the original's as aliases), `runs`
(the run document: who sees it, its samples, its status and diagnostics), `original` (the original's
answer shapes and its screen info save and read) and `handlers` (the routes).
"""
