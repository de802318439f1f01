// The system check before the exam: browser support, the camera in a preview, a live microphone level,
// and pickers for both devices (enumerateDevices: labels are known once permission is granted). Choosing
// another device reopens the media with it. Whoever calls check() gets the open media to hand to the
// client, or a stable failure code to explain (client/media.js).
import { translator } from "../i18n/index.js";
import { browserSupport, listDevices, mediaErrorCode, openMedia, stopMedia } from "./media.js";

// The meter shows the RMS of the last analyser window on a 0..1 scale; speech is 0.02-0.3 raw.
const LEVEL_GAIN = 4;

export class SystemCheck {
  constructor({ video, meter, cameraSelect, micSelect, t = translator() }) {
    Object.assign(this, { video, meter, cameraSelect, micSelect, t });
    this.media = null;
    this.audio = null;
    this.frame = 0;
    this.heard = false; // the microphone gave a level above silence at least once
    cameraSelect.addEventListener("change", () => this.open());
    micSelect.addEventListener("change", () => this.open());
  }

  // Opens the chosen devices; resolves to { ok: true } or { ok: false, code, vars }.
  async open() {
    const support = browserSupport();
    if (!support.ok) return { ok: false, code: "status.browser_unsupported", vars: { missing: support.missing.join(", ") } };
    this.release();
    try {
      this.media = await openMedia({ cameraId: this.cameraSelect.value, microphoneId: this.micSelect.value });
    } catch (err) {
      return { ok: false, code: mediaErrorCode(err) };
    }
    this.video.srcObject = this.media;
    await this.fillPickers();
    this.meterOn();
    return { ok: true };
  }

  async fillPickers() {
    const { cameras, microphones } = await listDevices();
    const current = (kind) => this.media.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
    fill(this.cameraSelect, cameras, current("video"), this.t("check.camera"));
    fill(this.micSelect, microphones, current("audio"), this.t("check.microphone"));
  }

  meterOn() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx || this.media.getAudioTracks().length === 0) return;
    this.audio = new Ctx();
    const analyser = this.audio.createAnalyser();
    analyser.fftSize = 1024;
    this.audio.createMediaStreamSource(this.media).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const draw = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const level = Math.min(1, Math.sqrt(sum / samples.length) * LEVEL_GAIN);
      if (level > 0.02) this.heard = true;
      this.meter.value = level;
      this.meter.dataset.heard = String(this.heard);
      this.frame = requestAnimationFrame(draw);
    };
    draw();
  }

  // Hands the open media over (the meter stops, the tracks stay on).
  take() {
    const media = this.media;
    this.media = null;
    this.meterOff();
    return media;
  }

  meterOff() {
    cancelAnimationFrame(this.frame);
    if (this.audio) this.audio.close().catch(() => {});
    this.audio = null;
  }

  release() {
    this.meterOff();
    stopMedia(this.media);
    this.media = null;
  }
}

function fill(select, devices, chosen, fallback) {
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement("option");
    option.value = d.deviceId;
    option.textContent = d.label || `${fallback} ${i + 1}`;
    option.selected = d.deviceId === chosen;
    return option;
  }));
}
