// What the candidate is told, from what the server sends: their status in neutral words and the few
// warnings they can act on, as stable codes (translated by static/i18n). Never a risk score, never
// the raw event names: they alarm honest candidates and teach what raises a flag.

// Event types the candidate can do something about -> the warning code shown while one is open.
// Every other type (voices, objects, tab and paste signals, identity, ...) is for the proctor only.
const ACTIONABLE = {
  no_face: "warning.face_in_view",
  left_seat: "warning.face_in_view",
  multiple_faces: "warning.only_you",
  other_person: "warning.only_you",
  camera_blocked: "warning.camera_blocked",
  audio_muted: "warning.microphone",
  video_lost: "warning.camera_blocked",
};

export function faceStatus(faces) {
  if (faces === 1) return { code: "status.face_found", kind: "ok" };
  if (faces === 0) return { code: "status.no_face", kind: "warn" };
  if (faces > 1) return { code: "status.several_faces", kind: "warn" };
  return null;
}

// Open warnings by code, each held open by the event ids that raised it: a warning goes away when
// the last event behind it ends.
export class OpenWarnings {
  constructor() { this.byCode = new Map(); }
  // Applies an analysis' event changes; returns the codes that appeared and those that went away.
  apply(events) {
    const added = []; const removed = [];
    for (const ev of events || []) {
      const code = ACTIONABLE[ev.type];
      if (!code) continue;
      const ids = this.byCode.get(code) || new Set();
      if (ev.end === null || ev.end === undefined) {
        if (ids.size === 0) added.push(code);
        ids.add(ev.id);
        this.byCode.set(code, ids);
      } else if (ids.delete(ev.id) && ids.size === 0) {
        this.byCode.delete(code);
        removed.push(code);
      }
    }
    return { added, removed };
  }
  clear() { const codes = [...this.byCode.keys()]; this.byCode.clear(); return codes; }
}
