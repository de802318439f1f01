"""The original backends' APIs, each a thin adapter onto Vigil's pipeline, risk engine, store and reports.

One module per original API (`interview`, `proctoring`, `posture`, `calibration`), the parts they share
in `common` (the on/off setting and the caller check, base64 frames) and `state` (interview sessions held
in this worker's memory); `calibration_layout` holds the calibration API's own four dots; `shared_paths` splits the paths the calibration API shares with Vigil's routes.
Each is switched by `VIGIL_LEGACY_APIS`; `docs/legacy-apis.md` maps every field.
"""
