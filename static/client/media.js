// Camera and microphone: open them (raw audio, devices chosen by id), list them, and turn a failure
// into a stable code the page can explain (static/i18n: "media.NotAllowedError", ...).

// Voice detection must hear the room as it is: no echo cancellation, suppression or gain control.
const RAW_AUDIO = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };

export function browserSupport() {
  const missing = [];
  if (typeof window.RTCPeerConnection !== "function") missing.push("RTCPeerConnection");
  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") missing.push("getUserMedia");
  if (!window.isSecureContext) missing.push("secure context (https)");
  return { ok: missing.length === 0, missing };
}

export async function openMedia({ cameraId, microphoneId } = {}) {
  const video = { width: 640, height: 480, frameRate: 15 };
  if (cameraId) video.deviceId = { exact: cameraId };
  const audio = { ...RAW_AUDIO };
  if (microphoneId) audio.deviceId = { exact: microphoneId };
  return navigator.mediaDevices.getUserMedia({ video, audio });
}

export async function listDevices() {
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === "videoinput"),
    microphones: all.filter((d) => d.kind === "audioinput"),
  };
}

// getUserMedia's DOMException names that need their own advice; anything else is "media.other".
const KNOWN = ["NotAllowedError", "NotFoundError", "NotReadableError", "OverconstrainedError", "SecurityError"];
export function mediaErrorCode(err) {
  const name = err && err.name;
  return "media." + (KNOWN.includes(name) ? name : "other");
}

export function stopMedia(media) {
  if (media) for (const track of media.getTracks()) track.stop();
}
