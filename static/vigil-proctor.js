// <vigil-proctor>: Vigil's whole candidate flow as one custom element, for Vigil's own exam page
// (exam.html) and for any exam page that embeds it (embed-example.html, docs/embedding.md):
//
//   consent -> system check -> live (vigil-client.js) -> calibration -> finish, with a confirmation
//
// The exam policy's `candidate` steps (the create answer, or GET /api/sessions/{id} after a reload)
// decide what may be skipped: `system_check` "optional" shows a Skip button, "required" enables
// "Start the exam" only once the camera works and the face is found; `calibration` "required" opens
// the calibration overlay on the first `live` and keeps it open until one attempt, "off" hides it.
//
// Attributes: `server` (Vigil's origin, "" when same-origin), `candidate-id`, `join-code` (prefill the
// consent form); `session-id` and `session-token`: a session the host's backend already made (an LTI
// launch, an API key): the element makes none, hides the candidate id and join code fields and runs
// consent and the system check on that session (still `created`: the check-frame route answers it).
// Events (bubbling, `detail` as vigil-client.js's callbacks): `vigil-status`,
// `vigil-warning`, `vigil-proctor-message`, `vigil-ready` (live, and any required calibration
// attempted: the exam may begin) and `vigil-ended`. The body's data-vigil-* attributes follow the
// state (docs/pages.md). One element per page: its parts keep the ids the page's tests and CSS use.
import { ApiFailure, createApi } from "./client/api.js";
import { testConnectivity } from "./client/connectivity.js";
import { FaceCheck } from "./client/face-check.js";
import { SystemCheck } from "./client/system-check.js";
import { translatePage, translator } from "./i18n/index.js";
import { VigilClient } from "./vigil-client.js";

// The server ends a session never offered within VIGIL_CREATED_TTL (600 s by default): a check's
// session older than this is left to that and the client makes a new one.
const CHECK_SESSION_FRESH_MS = 4 * 60 * 1000;
// Answers of POST /api/sessions that only the consent step's join code can fix.
const JOIN_CODE_PROBLEMS = ["unknown_join_code", "join_code_required"];
// The policy's defaults (pipeline/risk/policy.py CandidatePolicy), for a server that does not say.
const DEFAULT_STEPS = { system_check: "required", calibration: "optional" };
// Face check answers that let a required check pass: "unavailable" means the server cannot judge
// faces at all (no model), which the candidate cannot fix.
const FACE_PASSES = ["ok", "unavailable"];
// sessionStorage: the session whose required calibration was attempted (a reload does not ask again).
const CALIBRATED_KEY = "vigil.calibration-attempted";

const TEMPLATE = `
  <section id="consent" class="card">
    <h2 data-i18n="consent.title"></h2>
    <p data-i18n="consent.intro"></p>
    <ul>
      <li><strong data-i18n="consent.kept_label"></strong> <span data-i18n="consent.kept"></span></li>
      <li><strong data-i18n="consent.how_long_label"></strong> <span data-i18n="consent.how_long"></span></li>
      <li><strong data-i18n="consent.who_label"></strong> <span data-i18n="consent.who"></span></li>
    </ul>
    <label class="field"><span data-i18n="consent.candidate"></span>
      <input id="candidate" autocomplete="username" value="" required></label>
    <label class="field"><span data-i18n="consent.join_code"></span>
      <input id="joincode" autocomplete="off" data-i18n-placeholder="consent.join_code_hint"></label>
    <div id="consent-status" class="status" role="status" aria-live="polite" hidden></div>
    <button id="agree" type="button" data-i18n="consent.agree"></button>
  </section>

  <section id="check" class="card" hidden>
    <h2 data-i18n="check.title"></h2>
    <div class="preview"><video id="check-preview" autoplay muted playsinline></video></div>
    <label class="field"><span data-i18n="check.camera"></span> <select id="camera-select"></select></label>
    <label class="field"><span data-i18n="check.microphone"></span> <select id="mic-select"></select></label>
    <label class="field"><span data-i18n="check.level"></span>
      <meter id="mic-level" min="0" max="1" low="0.05" optimum="0.3" value="0"></meter></label>
    <div id="check-status" class="status" role="status" aria-live="polite"></div>
    <div id="check-face" class="status" role="status" aria-live="polite" hidden></div>
    <div id="check-network" class="status" role="status" aria-live="polite" hidden></div>
    <button id="retry" type="button" hidden data-i18n="check.retry"></button>
    <button id="begin" type="button" disabled data-i18n="check.begin"></button>
    <button id="skip-check" type="button" class="secondary" hidden data-i18n="check.skip"></button>
  </section>

  <section id="live" class="card" hidden>
    <div id="camera-box" class="preview"><video id="preview" autoplay muted playsinline></video></div>
    <div id="status" class="status" role="status" aria-live="polite" data-i18n="status.connecting"></div>
    <dl class="facts">
      <dt data-i18n="fact.camera"></dt><dd id="fact-camera">-</dd>
      <dt data-i18n="fact.face"></dt><dd id="fact-face">-</dd>
      <dt data-i18n="fact.connection"></dt><dd id="fact-connection">-</dd>
    </dl>
    <ul id="warnings" class="warnings" aria-live="polite"></ul>
    <section id="proctor-messages" class="proctor-messages" aria-labelledby="proctor-messages-title" hidden>
      <h2 id="proctor-messages-title" data-i18n="exam.proctor_messages"></h2>
      <ol id="proctor-messages-list" role="log" aria-live="assertive"></ol>
    </section>
    <button id="calibrate" type="button" data-i18n="exam.calibrate"></button>
    <button id="finish" type="button" data-i18n="exam.finish"></button>
  </section>

  <dialog id="finish-confirm" aria-labelledby="finish-question">
    <p id="finish-question" data-i18n="finish.confirm"></p>
    <button id="finish-yes" type="button" data-i18n="finish.yes"></button>
    <button id="finish-no" type="button" data-i18n="finish.no" autofocus></button>
  </dialog>`;

function say(el, text, kind) {
  el.textContent = text;
  el.dataset.kind = kind || "info";
}

// The calibration overlay is a classic script (it predates modules): loaded once, next to this module,
// unless the page already has it.
function loadCalibration() {
  if (window.VigilCalibration || document.querySelector('script[src$="/calibration.js"]')) return;
  const script = document.createElement("script");
  script.src = new URL("./calibration.js", import.meta.url).href;
  document.head.append(script);
}

export class VigilProctor extends HTMLElement {
  connectedCallback() {
    if (this.client !== undefined) return; // moved in the page: already running
    this.t = translator();
    this.client = null;
    this.check = null;
    this.checkSession = null; // made during the check (its ICE servers are what the network test needs)
    this.faceCheck = null; // "Face found" during the check, from stills sent with the check's session
    this.faceCode = "";
    this.cameraOk = false;
    this.steps = null; // the exam policy's candidate steps, once a session told them
    this.liveSeen = false;
    this.readySent = false;
    this.waitingForCalibration = false;
    this.innerHTML = TEMPLATE;
    translatePage(this.t, this);
    this.$("candidate").value = this.getAttribute("candidate-id") || "";
    this.$("joincode").value = this.getAttribute("join-code") || "";
    const given = this.givenSession();
    // the host's backend said who the candidate is and which exam: nothing for the candidate to type
    // (a style, not `hidden`: `.field`'s display would win over it)
    if (given) for (const id of ["candidate", "joincode"]) this.$(id).closest("label").style.display = "none";
    this.$("agree").addEventListener("click", () => this.runCheck());
    this.$("retry").addEventListener("click", () => this.runCheck());
    this.$("begin").addEventListener("click", () => this.connect(this.check.take()));
    this.$("skip-check").addEventListener("click", () => this.connect(this.check?.take() || null));
    this.$("finish").addEventListener("click", () => this.askFinish());
    this.$("finish-no").addEventListener("click", () => this.$("finish-confirm").close());
    this.$("finish-yes").addEventListener("click", () => { this.$("finish-confirm").close(); this.client?.finish(); });
    document.addEventListener("vigil-calibration-attempt", () => this.calibrationAttempted());
    loadCalibration();
    document.body.dataset.vigilState = "consent";
    // A reload of this tab during the exam: consent was given, the session resumes (when the host
    // gives a session, only that one: another this tab held is not the candidate's current exam).
    const saved = VigilClient.savedSession();
    if (saved && (!given || saved.id === given.id)) this.connect(null);
  }

  $(id) { return this.querySelector("#" + id); }
  get server() { return this.getAttribute("server") || ""; }
  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true })); }

  // The session the host made ({id, token, candidate}), or null: the element then makes its own.
  givenSession() {
    const id = this.getAttribute("session-id");
    const token = this.getAttribute("session-token");
    return id && token ? { id, token, candidate: this.getAttribute("candidate-id") || "" } : null;
  }

  // "Finish exam" asks first; a host's own finish button calls this too.
  askFinish() {
    if (this.client && this.client.state !== "ended") this.$("finish-confirm").showModal();
  }

  // -- the system check ---------------------------------------------------------------------------
  showCheck() {
    this.$("consent").hidden = true;
    this.$("live").hidden = true;
    this.$("check").hidden = false;
    document.body.dataset.vigilState = "checking";
  }

  // Only after consent (the camera opens here), then the session and the network test, then the face.
  async runCheck() {
    this.showCheck();
    this.check = this.check || new SystemCheck({ video: this.$("check-preview"), meter: this.$("mic-level"),
      cameraSelect: this.$("camera-select"), micSelect: this.$("mic-select"), t: this.t });
    this.cameraOk = false;
    this.updateBegin();
    this.$("retry").hidden = true;
    this.$("check-network").hidden = true;
    say(this.$("check-status"), this.t("check.opening"));
    const result = await this.check.open();
    if (!result.ok) {
      say(this.$("check-status"), this.t(result.code, result.vars), "warn");
      this.$("retry").hidden = false;
      return;
    }
    say(this.$("check-status"), this.t("check.ok"), "ok");
    this.cameraOk = true;
    if (!(await this.checkNetwork())) { this.$("retry").hidden = false; return; }
    this.startFaceCheck();
    this.updateBegin();
  }

  // "Start the exam" once the camera works, the session is made and, when the check is required, the
  // face is found; "Skip" whenever the policy makes the check optional.
  updateBegin() {
    const optional = this.steps?.system_check === "optional";
    const passed = this.cameraOk && this.checkSession && (optional || FACE_PASSES.includes(this.faceCode));
    this.$("begin").disabled = !passed;
    this.$("skip-check").hidden = !optional;
  }

  // Makes (or reuses) the exam's session and tests the network through its ICE servers. A network
  // that fails the test is explained but does not block the start: the real connection may still work
  // (a direct path), and the client keeps trying. False when no session could be made (the candidate
  // must fix something first).
  async checkNetwork() {
    const line = this.$("check-network");
    line.hidden = false;
    say(line, this.t("net.testing"));
    line.dataset.code = "";
    try {
      if (!this.freshCheckSession()) this.checkSession = await this.makeSession();
    } catch (err) {
      const code = err instanceof ApiFailure ? err.data.code : null;
      if (JOIN_CODE_PROBLEMS.includes(code)) { this.backToConsent("check." + code); return false; }
      // a refused given session cannot be fixed here (ended, or never offered in time): say so
      const failed = this.givenSession() && err instanceof ApiFailure && err.status < 500
        ? "status.session_gone" : "status.start_failed";
      say(line, this.t(failed), "warn");
      line.dataset.code = failed;
      return false;
    }
    this.steps = this.checkSession.steps;
    this.updateBegin();
    const net = await testConnectivity(this.checkSession.iceServers);
    say(line, this.t(net.code), net.ok ? "ok" : "warn");
    line.dataset.code = net.code;
    return true;
  }

  freshCheckSession() {
    const made = this.checkSession;
    return made && Date.now() - made.madeAt <= CHECK_SESSION_FRESH_MS ? made : null;
  }

  startFaceCheck() {
    const line = this.$("check-face");
    if (!this.faceCheck) {
      this.faceCheck = new FaceCheck({
        video: this.$("check-preview"), session: () => this.checkSession, server: this.server,
        onresult: ({ code }) => {
          say(line, this.t("face." + code), code === "ok" ? "ok" : "warn");
          line.dataset.code = code;
          this.faceCode = code;
          this.updateBegin();
        },
      });
    }
    line.hidden = false;
    if (!line.dataset.code) say(line, this.t("face.looking"));
    this.faceCheck.start();
  }

  async makeSession() {
    const given = this.givenSession();
    if (given) { // made already: its ICE servers and the exam's steps, as after a reload
      const info = await createApi(this.server).get(`/api/sessions/${given.id}`, given.token);
      // ended (finished, or never offered within the server's VIGIL_CREATED_TTL): as good as gone
      if (info.status === "ended") throw new ApiFailure(410, "the session has ended");
      return { ...given, iceServers: info.ice_servers || [], steps: info.candidate || DEFAULT_STEPS, madeAt: Date.now() };
    }
    const candidate = this.$("candidate").value.trim() || "candidate-" + Math.random().toString(36).slice(2, 8);
    const joinCode = this.$("joincode").value.trim();
    const made = await createApi(this.server).post("/api/sessions",
      joinCode ? { candidate_id: candidate, join_code: joinCode } : { candidate_id: candidate });
    return { id: made.session_id, token: made.token, candidate, iceServers: made.ice_servers || [],
             steps: made.candidate || DEFAULT_STEPS, madeAt: Date.now() };
  }

  // Something only the consent step can fix (the join code): back to it, with the reason.
  backToConsent(code) {
    this.faceCheck?.stop();
    this.check.release();
    this.$("check").hidden = true;
    this.$("consent").hidden = false;
    this.$("consent-status").hidden = false;
    say(this.$("consent-status"), this.t(code), "warn");
    document.body.dataset.vigilState = "consent";
  }

  // -- live ---------------------------------------------------------------------------------------
  connect(media) {
    this.faceCheck?.stop(); // before the session is offered: the server would refuse its frames from then on
    this.$("consent").hidden = true;
    this.$("check").hidden = true;
    this.$("live").hidden = false;
    const made = this.freshCheckSession() || this.givenSession();
    this.checkSession = null; // the client owns it now
    this.client = VigilClient.start({
      server: this.server, candidateId: made ? made.candidate : this.$("candidate").value.trim(),
      joinCode: this.$("joincode").value.trim(), sessionId: made ? made.id : "", joinToken: made ? made.token : "",
      container: this.$("camera-box"), media, t: this.t,
      onstatus: (detail) => { this.showStatus(detail); this.emit("vigil-status", detail); },
      onwarning: (detail) => { this.showWarning(detail); this.emit("vigil-warning", detail); },
      onproctormessage: (detail) => { this.showProctorMessage(detail); this.emit("vigil-proctor-message", detail); },
    });
    window.vigilClient = this.client; // for tests and support: the session id, the state
  }

  showStatus({ state, code, kind, message, faces, sessionId }) {
    const body = document.body;
    // the calibration overlay owns the state while it is open and the session is live (calibration.js)
    if (!(state === "live" && body.dataset.vigilState === "calibrating")) body.dataset.vigilState = state;
    body.dataset.vigilFaces = faces === null || faces === undefined ? "" : String(faces);
    body.dataset.vigilSession = sessionId || "";
    const t = this.t;
    say(this.$("status"), message, kind);
    this.$("fact-camera").textContent = state === "ended" ? "-" : t("fact.on");
    this.$("fact-connection").textContent = state === "live" ? t("fact.live")
      : state === "reconnecting" ? t("fact.reconnecting") : "-";
    this.$("fact-face").textContent = faces === 1 ? t("fact.found") : faces === 0 ? t("fact.not_found")
      : faces > 1 ? t("fact.faces", { n: faces }) : "-";
    if (state === "live" && !this.liveSeen) { this.liveSeen = true; this.firstLive(); }
    if (state === "ended" || state === "error") {
      this.$("finish").hidden = true;
      this.$("calibrate").hidden = true;
    }
    if (state === "ended") this.emit("vigil-ended", { sessionId, code });
    if (state === "error" && code.startsWith("media.")) this.runCheck(); // pick other devices, try again
  }

  // The first `live`: the calibration the policy asks for, then the exam may begin.
  firstLive() {
    const steps = this.client.candidateSteps || this.steps || DEFAULT_STEPS;
    this.$("calibrate").hidden = steps.calibration === "off";
    if (steps.calibration === "required" && !this.calibratedHere()) {
      if (window.VigilCalibration) {
        this.waitingForCalibration = true;
        window.VigilCalibration.require();
        return;
      }
      console.warn("vigil: the exam requires calibration but calibration.js did not load");
    }
    this.ready();
  }

  calibratedHere() {
    try { return sessionStorage.getItem(CALIBRATED_KEY) === this.client.sessionId; } catch (_) { return false; }
  }

  calibrationAttempted() {
    if (!this.client) return;
    try { sessionStorage.setItem(CALIBRATED_KEY, this.client.sessionId); } catch (_) { /* asked again after a reload */ }
    if (this.waitingForCalibration) { this.waitingForCalibration = false; this.ready(); }
  }

  ready() {
    if (this.readySent) return;
    this.readySent = true;
    this.emit("vigil-ready", { sessionId: this.client.sessionId });
  }

  // One list item per open warning code, removed when it ends.
  showWarning({ code, active, message }) {
    const list = this.$("warnings");
    const item = [...list.children].find((li) => li.dataset.code === code);
    if (!active) { if (item) item.remove(); return; }
    if (item) { item.textContent = message; return; }
    const li = document.createElement("li");
    li.dataset.code = code;
    li.textContent = message;
    list.prepend(li);
  }

  // A proctor's message: appended to the log (aria-live), newest last, with the time it was sent.
  showProctorMessage({ text, at }) {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = new Date(at * 1000).toISOString();
    time.textContent = new Date(at * 1000).toLocaleTimeString();
    li.append(time, " ", text);
    this.$("proctor-messages-list").append(li);
    this.$("proctor-messages").hidden = false;
    document.body.dataset.vigilMessages = String(this.$("proctor-messages-list").children.length);
  }
}

if (!customElements.get("vigil-proctor")) customElements.define("vigil-proctor", VigilProctor);
