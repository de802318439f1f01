// Vigil's candidate client, an ES module an exam page embeds (docs/embedding.md). It owns the
// proctoring session: camera and microphone, the peer and its `vigil` data channel, the browser
// signals, the calibration overlay's channel (static/calibration.js, when the page loads it) and the
// resume after a drop or a reload. The host page gets events and decides what to show:
//
//   const client = VigilClient.start({ server: "", joinCode, candidateId, container });
//   client.onstatus = ({ state, code, message, kind, faces }) => ...;
//   client.onwarning = ({ code, message, active }) => ...;
//   client.onproctormessage = ({ text, at }) => ...;   // a proctor's words for the candidate: show them
//   client.candidateSteps                            // the exam's {system_check, calibration} steps
//
// The whole candidate flow (consent, system check, calibration, finish) around this client is the
// <vigil-proctor> element (vigil-proctor.js).
//
// States: `connecting` (camera, session, offer), `live` (the data channel is open), `reconnecting`
// (the peer or channel dropped: fresh ICE servers and POST .../resume with backoff, in the same
// session), `ended` (finished here, or an `ended` message), `error` (could not start, or the session
// cannot be resumed). `code` is a key of static/i18n/en.js, `message` its text in the page's language.
//
// Resume: the session's id and token are kept in sessionStorage (client/saved-session.js), so a reload
// of the tab resumes the same session; they are forgotten when the session ends.
import { ApiFailure, createApi } from "./client/api.js";
import { OpenWarnings, faceStatus } from "./client/candidate-view.js";
import { mediaErrorCode, openMedia, stopMedia } from "./client/media.js";
import { forgetSession, saveSession, savedSession } from "./client/saved-session.js";
import { enterExamFullscreen, leaveFullscreenQuietly, watchBrowserSignals } from "./client/signals.js";
import { translator } from "./i18n/index.js";

// Waits between resume attempts (the last repeats), each with up to 30% jitter so a worker that comes
// back is not hit by every candidate at once.
const RESUME_BACKOFF_MS = [250, 1000, 2000, 4000, 8000];
// How long ICE may sit in `disconnected` (it often recovers alone) before we resume.
const DISCONNECTED_GRACE_MS = 3000;
// A resume whose channel has not opened by then is abandoned and tried again.
const CHANNEL_OPEN_TIMEOUT_MS = 10000;
// Non-trickle ICE: the offer goes with what was gathered by then.
const ICE_GATHER_TIMEOUT_MS = 3000;
// Server `warning` messages have no end: shown this long.
const SERVER_WARNING_MS = 20000;
// The data channel's protocol version (docs/data-channel.md): sent as `v` on every message, and in the
// `hello` that opens the channel; the server's `welcome` is kept as `client.welcome`.
const DC_VERSION = 1;
const HELLO = { type: "hello", v: DC_VERSION, versions: [DC_VERSION],
                features: ["analysis", "warning", "browser", "calibration"], client: "vigil-client.js" };
// The server analyses several frames a second: this long without an analysis on a live channel, and
// the candidate is told the server is not answering (unless the server said why: their video is lost).
const SILENT_SERVER_MS = 5000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitForIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_GATHER_TIMEOUT_MS);
  });
}

export class VigilClient {
  // Creates the client and starts it at once; `client.ready` settles when the first connection is up.
  static start(options) {
    const client = new VigilClient(options);
    client.ready = client.start();
    return client;
  }

  // The session this tab holds (after a reload), or null: a host skips its consent step with it.
  static savedSession(storage) { return savedSession(storage); }

  constructor({ server = "", joinCode = "", joinToken = "", sessionId = "", candidateId = "", container = null,
                media = null, devices = {}, fullscreen = true, storage = window.sessionStorage,
                t = translator(), onstatus = null, onwarning = null, onproctormessage = null } = {}) {
    this.api = createApi(server);
    this.options = { joinCode, candidateId, container, devices, fullscreen, storage };
    this.t = t;
    this.onstatus = onstatus;
    this.onwarning = onwarning;
    this.onproctormessage = onproctormessage;
    this.media = media;
    this.state = "idle";
    this.session = joinToken && sessionId ? { id: sessionId, token: joinToken, candidate: candidateId } : null;
    // the exam policy's steps for the candidate ({system_check, calibration}), from the server's answers
    this.candidateSteps = null;
    this.pc = null;
    this.channel = null;
    this.faces = null;
    this.warnings = new OpenWarnings();
    this.stopSignals = null;
    this.resuming = null;
    this.disconnectTimer = null;
    this.lastAnalysisAt = 0;
    this.videoLost = false; // the server warned the video stopped: no analysis comes, that is why
    this.silenceTimer = null;
    this.onPageHide = () => this.closePeer();
  }

  get sessionId() { return this.session ? this.session.id : null; }

  // -- start, finish ------------------------------------------------------------------------------
  async start() {
    // Full screen first, while the click that started us still counts as a user gesture.
    if (this.options.fullscreen) enterExamFullscreen();
    window.addEventListener("pagehide", this.onPageHide);
    // a session this tab already holds (a reload) is resumed; one the host's backend made is offered
    const given = this.session;
    const saved = savedSession(this.options.storage);
    const resumable = saved && (!given || given.id === saved.id) ? saved : null;
    this.status("connecting", "status.starting_camera");
    try {
      if (!this.media) this.media = await openMedia(this.options.devices);
    } catch (err) {
      this.status("error", mediaErrorCode(err), "warn");
      return;
    }
    this.showPreview();
    if (resumable) {
      this.session = resumable;
      this.resume();
      return;
    }
    try {
      this.status("connecting", "status.connecting");
      if (given) {
        saveSession(given, this.options.storage);
        const info = await this.api.get(`/api/sessions/${given.id}`, given.token);
        this.candidateSteps = info.candidate || null;
        await this.connect(info.ice_servers || [], "offer");
        return;
      }
      const { joinCode, candidateId } = this.options;
      const candidate = candidateId || "candidate-" + Math.random().toString(36).slice(2, 8);
      const created = await this.api.post("/api/sessions",
        joinCode ? { candidate_id: candidate, join_code: joinCode } : { candidate_id: candidate });
      this.session = { id: created.session_id, token: created.token, candidate };
      this.candidateSteps = created.candidate || null;
      saveSession(this.session, this.options.storage);
      await this.connect(created.ice_servers || [], "offer");
    } catch (err) {
      this.status("error", "status.start_failed", "warn", { detail: err.message });
    }
  }

  // Ends the session for everyone (the server writes it `ended`), then releases the devices.
  async finish() {
    if (!this.session || this.state === "ended") return;
    let code = "status.finished";
    try { await this.api.post(`/api/sessions/${this.session.id}/end`, {}, this.session.token); }
    catch (_) { code = "status.finished_unconfirmed"; }
    this.end(code);
  }

  end(code) {
    this.state = "ended"; // first: the channel's close that follows is not a drop
    this.closePeer();
    stopMedia(this.media);
    this.media = null;
    if (this.stopSignals) this.stopSignals();
    this.stopSignals = null;
    window.removeEventListener("pagehide", this.onPageHide);
    forgetSession(this.options.storage);
    leaveFullscreenQuietly();
    for (const c of this.warnings.clear()) this.warning(c, false);
    const video = this.previewVideo();
    if (video) { video.srcObject = null; this.options.container.hidden = true; }
    this.status("ended", code);
  }

  // -- the peer -----------------------------------------------------------------------------------
  // One peer with the camera, the microphone and the `vigil` channel, offered to `offer` or `resume`.
  async connect(iceServers, route) {
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    for (const track of this.media.getTracks()) pc.addTrack(track, this.media);
    const channel = pc.createDataChannel("vigil");
    this.channel = channel;
    channel.onmessage = (e) => { if (this.pc === pc) this.onMessage(e.data); };
    channel.onopen = () => { if (this.pc === pc) this.opened(channel); };
    channel.onclose = () => { if (this.pc === pc) this.dropped(); };
    pc.onconnectionstatechange = () => this.peerState(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc);
    if (this.pc !== pc) return;
    const answer = await this.api.post(`/api/sessions/${this.session.id}/${route}`,
      { sdp: pc.localDescription.sdp, type: "offer" }, this.session.token);
    if (this.pc === pc) await pc.setRemoteDescription(answer);
  }

  opened(channel) {
    channel.send(JSON.stringify(HELLO));
    if (!this.stopSignals) this.stopSignals = watchBrowserSignals((event) => this.sendSignal(event));
    window.VigilCalibration?.attach(channel, { token: this.session.token, candidate: this.session.candidate });
    this.lastAnalysisAt = Date.now();
    clearInterval(this.silenceTimer);
    this.silenceTimer = setInterval(() => this.checkSilence(), 1000);
    this.status("live", this.faces === null ? "status.connected" : faceStatus(this.faces).code,
                this.faces === null ? "info" : faceStatus(this.faces).kind);
  }

  peerState(pc) {
    if (this.pc !== pc) return;
    clearTimeout(this.disconnectTimer);
    if (pc.connectionState === "failed") this.dropped();
    else if (pc.connectionState === "disconnected") {
      this.disconnectTimer = setTimeout(() => {
        if (this.pc === pc && pc.connectionState === "disconnected") this.dropped();
      }, DISCONNECTED_GRACE_MS);
    }
  }

  closePeer() {
    const pc = this.pc;
    this.pc = null;
    this.channel = null;
    clearTimeout(this.disconnectTimer);
    clearInterval(this.silenceTimer);
    if (pc) pc.close();
  }

  dropped() {
    if (this.state === "ended" || this.state === "error") return;
    this.closePeer();
    this.resume();
  }

  // -- resume -------------------------------------------------------------------------------------
  // Fresh ICE servers (TURN credentials expire) and POST .../resume, with backoff, until the channel
  // opens again, the session turns out ended, or the server refuses it for good.
  resume() {
    if (this.resuming) return this.resuming;
    this.status("reconnecting", "status.reconnecting", "warn");
    this.resuming = (async () => {
      for (let attempt = 0; this.state === "reconnecting"; attempt++) {
        const wait = RESUME_BACKOFF_MS[Math.min(attempt, RESUME_BACKOFF_MS.length - 1)];
        await sleep(wait * (1 + 0.3 * Math.random()));
        try {
          const info = await this.api.get(`/api/sessions/${this.session.id}`, this.session.token);
          if (info.status === "ended") { this.end("status.ended"); break; }
          this.candidateSteps = info.candidate || this.candidateSteps;
          await this.connect(info.ice_servers || [], "resume");
          if (await this.channelOpens(CHANNEL_OPEN_TIMEOUT_MS)) break;
          this.closePeer();
        } catch (err) {
          this.closePeer();
          if (err instanceof ApiFailure && [401, 403, 404, 409, 410].includes(err.status)) {
            forgetSession(this.options.storage);
            this.status("error", "status.session_gone", "warn", { detail: err.message });
            break;
          }
        }
      }
      this.resuming = null;
    })();
    return this.resuming;
  }

  async channelOpens(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.state === "live") return true;
      if (!this.pc || this.state !== "reconnecting") return this.state === "live";
      await sleep(100);
    }
    return false;
  }

  // A live channel on which no analysis arrives: the server (or its analysis) stalled. Said, not acted
  // on: a dead worker also fails ICE, and that resumes (peerState).
  checkSilence() {
    if (this.state !== "live" || this.videoLost || this.last?.code === "status.server_silent") return;
    if (Date.now() - this.lastAnalysisAt > SILENT_SERVER_MS) this.status("live", "status.server_silent", "warn");
  }

  // -- messages -----------------------------------------------------------------------------------
  sendSignal(event) {
    const ch = this.channel;
    if (ch && ch.readyState === "open") ch.send(JSON.stringify({ type: "browser", v: DC_VERSION, event }));
  }

  onMessage(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (window.VigilCalibration?.onMessage(msg, this.channel)) return; // calibration.* (static/calibration.js)
    if (msg.type === "analysis") {
      this.faces = msg.faces ?? null;
      this.lastAnalysisAt = Date.now();
      this.videoLost = false;
      const face = faceStatus(this.faces);
      if (this.state === "live") {
        if (face) this.status("live", face.code, face.kind);
        else if (this.last?.code === "status.server_silent") this.status("live", "status.connected");
        else this.emitStatus(); // faces unknown: the state's text stays, the faces change
      }
      const { added, removed } = this.warnings.apply(msg.events);
      for (const code of removed) this.warning(code, false);
      for (const code of added) this.warning(code, true);
    } else if (msg.type === "warning") {
      if (msg.code === "video_lost") this.videoLost = true;
      const code = msg.code ? "server." + msg.code : null;
      const text = code && this.t(code) !== code ? this.t(code) : msg.message;
      this.warning(code || "server.message", true, text);
      setTimeout(() => this.warning(code || "server.message", false, text), SERVER_WARNING_MS);
    } else if (msg.type === "ended") {
      this.end("status.ended");
    } else if (msg.type === "welcome") {
      this.welcome = msg;
    } else if (msg.type === "error") {
      console.warn(`vigil: ${msg.message}`); // a server that speaks none of our versions: messages may be misread
    } else if (msg.type === "proctor.message") {
      this.proctorMessage(msg);
    }
  }

  // -- events for the host page -------------------------------------------------------------------
  status(state, code, kind = "info", extra = {}) {
    this.state = state;
    this.last = { code, kind, ...extra };
    this.emitStatus();
  }

  emitStatus() {
    const { code, kind, ...extra } = this.last || {};
    const vars = extra.vars || {};
    const detail = { state: this.state, code, kind, message: this.t(code, vars), faces: this.faces,
                     sessionId: this.sessionId, ...extra };
    if (this.onstatus) this.onstatus(detail);
  }

  // A proctor's message, as plain text (a host shows it with textContent, never as HTML); `at` in UNIX seconds.
  proctorMessage(msg) {
    if (this.onproctormessage) this.onproctormessage({ text: String(msg.text ?? ""), at: Number(msg.at) || Date.now() / 1000 });
  }

  warning(code, active, message) {
    if (this.state === "ended" && active) return; // nothing new once the exam is over
    if (this.onwarning) this.onwarning({ code, active, message: message || this.t(code) });
  }

  // -- preview ------------------------------------------------------------------------------------
  previewVideo() {
    const box = this.options.container;
    if (!box) return null;
    let video = box.querySelector("video");
    if (!video) {
      video = document.createElement("video");
      Object.assign(video, { autoplay: true, muted: true, playsInline: true });
      box.append(video);
    }
    return video;
  }

  showPreview() {
    const video = this.previewVideo();
    if (video) { video.srcObject = this.media; this.options.container.hidden = false; }
  }
}
