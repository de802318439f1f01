// The system check's "face found" test: while the check is on screen, a still of the camera preview
// goes to POST /api/sessions/{id}/check-frame every FACE_CHECK_EVERY_MS, and each answer's stable code
// (ok, no_face, several_faces, covered, dark, overexposed, blurred, unavailable) is handed to
// `onresult`. The session stays `created`: no peer, nothing logged, no proctor sees it
// (docs/http-api.md). It stops by itself when the server says the check is over (the session was
// offered, or ended) or the token is refused; a refused or failed frame is skipped, the next one tried.
import { ApiFailure, createApi } from "./api.js";

const FACE_CHECK_EVERY_MS = 1500;
// The still's width: the detector's answers at 480 px match the live stream's (640 px); at 320 px it
// took a cat photo for a face.
const STILL_WIDTH = 480;
const STILL_QUALITY = 0.8;
// Answers after which the check can no longer be asked about this session.
const FINAL_STATUSES = [401, 403, 404, 409];

export class FaceCheck {
  // `session()` gives the current { id, token } (or null while there is none yet).
  constructor({ video, session, onresult, server = "" }) {
    Object.assign(this, { video, session, onresult });
    this.api = createApi(server);
    this.canvas = document.createElement("canvas");
    this.timer = 0;
    this.busy = false;
  }

  start() {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), FACE_CHECK_EVERY_MS);
    this.tick();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
  }

  async tick() {
    const session = this.session();
    const image = this.still();
    if (this.busy || !session || !image) return;
    this.busy = true; // one frame in flight: a slow answer is not queued behind
    try {
      const answer = await this.api.post(`/api/sessions/${session.id}/check-frame`, { image }, session.token);
      if (this.timer) this.onresult(answer);
    } catch (err) {
      if (err instanceof ApiFailure && FINAL_STATUSES.includes(err.status)) this.stop();
    } finally {
      this.busy = false;
    }
  }

  // The preview's current frame as a JPEG data URL, or null before the camera gives one.
  still() {
    const { videoWidth: w, videoHeight: h } = this.video;
    if (!w || !h) return null;
    const scale = Math.min(1, STILL_WIDTH / w);
    this.canvas.width = Math.round(w * scale);
    this.canvas.height = Math.round(h * scale);
    this.canvas.getContext("2d").drawImage(this.video, 0, 0, this.canvas.width, this.canvas.height);
    return this.canvas.toDataURL("image/jpeg", STILL_QUALITY);
  }
}
