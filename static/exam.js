// Vigil exam page: consent, the system check, then a host of the embeddable client (vigil-client.js)
// that shows its status and warnings, and the body's data-vigil-* attributes (docs/pages.md).
import { ApiFailure, createApi } from "./client/api.js";
import { testConnectivity } from "./client/connectivity.js";
import { FaceCheck } from "./client/face-check.js";
import { SystemCheck } from "./client/system-check.js";
import { translatePage, translator } from "./i18n/index.js";
import { VigilClient } from "./vigil-client.js";

const body = document.body;
const $ = (id) => document.getElementById(id);
const t = translator();
translatePage(t);
let client = null;
let check = null;
// The session is made during the system check (its ICE servers are what the network test needs) and
// handed to the client at "Start the exam". The server ends a session never offered within
// VIGIL_CREATED_TTL (600 s by default): an older one is left to that and the client makes a new one.
const CHECK_SESSION_FRESH_MS = 4 * 60 * 1000;
let checkSession = null;
// "Face found" during the check, from stills of the preview sent with the check's session (still `created`).
let faceCheck = null;
// Answers of POST /api/sessions that only the consent step's join code can fix.
const JOIN_CODE_PROBLEMS = ["unknown_join_code", "join_code_required"];

function say(el, text, kind) {
  el.textContent = text;
  el.dataset.kind = kind || "info";
}

function showStatus({ state, code, kind, message, faces, sessionId }) {
  // the calibration overlay owns the state while it is open and the session is live (calibration.js)
  if (!(state === "live" && body.dataset.vigilState === "calibrating")) body.dataset.vigilState = state;
  body.dataset.vigilFaces = faces === null || faces === undefined ? "" : String(faces);
  body.dataset.vigilSession = sessionId || "";
  say($("status"), message, kind);
  $("fact-camera").textContent = state === "ended" ? "-" : t("fact.on");
  $("fact-connection").textContent = state === "live" ? t("fact.live") : state === "reconnecting" ? t("fact.reconnecting") : "-";
  $("fact-face").textContent = faces === 1 ? t("fact.found") : faces === 0 ? t("fact.not_found")
    : faces > 1 ? t("fact.faces", { n: faces }) : "-";
  if (state === "ended" || state === "error") {
    $("finish").hidden = true;
    $("calibrate").hidden = true;
  }
  if (state === "error" && code.startsWith("media.")) showCheck(); // pick other devices, try again
}

// One list item per open warning code, removed when it ends.
function showWarning({ code, active, message }) {
  const list = $("warnings");
  const item = [...list.children].find((li) => li.dataset.code === code);
  if (!active) { if (item) item.remove(); return; }
  if (item) { item.textContent = message; return; }
  const li = document.createElement("li");
  li.dataset.code = code;
  li.textContent = message;
  list.prepend(li);
}

// A proctor's message: appended to the page's log (aria-live), newest last, with the time it was sent.
function showProctorMessage({ text, at }) {
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = new Date(at * 1000).toISOString();
  time.textContent = new Date(at * 1000).toLocaleTimeString();
  li.append(time, " ", text);
  $("proctor-messages-list").append(li);
  $("proctor-messages").hidden = false;
  body.dataset.vigilMessages = String($("proctor-messages-list").children.length);
}

function showCheck() {
  $("consent").hidden = true;
  $("live").hidden = true;
  $("check").hidden = false;
  body.dataset.vigilState = "checking";
}

// The system check: only after consent (the camera opens here), then the network test.
async function start() {
  showCheck();
  check = check || new SystemCheck({ video: $("check-preview"), meter: $("mic-level"),
                                     cameraSelect: $("camera-select"), micSelect: $("mic-select"), t });
  $("begin").disabled = true;
  $("retry").hidden = true;
  $("check-network").hidden = true;
  say($("check-status"), t("check.opening"));
  const result = await check.open();
  if (!result.ok) {
    say($("check-status"), t(result.code, result.vars), "warn");
    $("retry").hidden = false;
    return;
  }
  say($("check-status"), t("check.ok"), "ok");
  if (!(await checkNetwork())) { $("retry").hidden = false; return; }
  startFaceCheck();
  $("begin").disabled = false;
}

// Makes (or reuses) the exam's session and tests the network through its ICE servers. A network
// that fails the test is explained but does not block the start: the real connection may still work
// (a direct path), and the client keeps trying. False when no session could be made (the candidate
// must fix something first).
async function checkNetwork() {
  const line = $("check-network");
  line.hidden = false;
  say(line, t("net.testing"));
  line.dataset.code = "";
  try {
    if (!checkSession || Date.now() - checkSession.madeAt > CHECK_SESSION_FRESH_MS) checkSession = await makeSession();
  } catch (err) {
    const code = err instanceof ApiFailure ? err.data.code : null;
    if (JOIN_CODE_PROBLEMS.includes(code)) { backToConsent("check." + code); return false; }
    say(line, t("status.start_failed"), "warn");
    line.dataset.code = "status.start_failed";
    return false;
  }
  const net = await testConnectivity(checkSession.iceServers);
  say(line, t(net.code), net.ok ? "ok" : "warn");
  line.dataset.code = net.code;
  return true;
}

function startFaceCheck() {
  const line = $("check-face");
  if (!faceCheck) {
    faceCheck = new FaceCheck({
      video: $("check-preview"), session: () => checkSession,
      onresult: ({ code }) => { say(line, t("face." + code), code === "ok" ? "ok" : "warn"); line.dataset.code = code; },
    });
  }
  line.hidden = false;
  if (!line.dataset.code) say(line, t("face.looking"));
  faceCheck.start();
}

async function makeSession() {
  const candidate = $("candidate").value.trim() || "candidate-" + Math.random().toString(36).slice(2, 8);
  const joinCode = $("joincode").value.trim();
  const made = await createApi("").post("/api/sessions",
    joinCode ? { candidate_id: candidate, join_code: joinCode } : { candidate_id: candidate });
  return { id: made.session_id, token: made.token, candidate, iceServers: made.ice_servers || [], madeAt: Date.now() };
}

// Something only the consent step can fix (the join code): back to it, with the reason.
function backToConsent(code) {
  faceCheck?.stop();
  check.release();
  $("check").hidden = true;
  $("consent").hidden = false;
  $("consent-status").hidden = false;
  say($("consent-status"), t(code), "warn");
  body.dataset.vigilState = "consent";
}

function connect(media) {
  faceCheck?.stop(); // before the session is offered: the server would refuse its frames from then on
  $("consent").hidden = true;
  $("check").hidden = true;
  $("live").hidden = false;
  const made = checkSession && Date.now() - checkSession.madeAt <= CHECK_SESSION_FRESH_MS ? checkSession : null;
  checkSession = null; // the client owns it now
  client = VigilClient.start({
    server: "", candidateId: made ? made.candidate : $("candidate").value.trim(), joinCode: $("joincode").value.trim(),
    sessionId: made ? made.id : "", joinToken: made ? made.token : "",
    container: $("camera-box"), media, onstatus: showStatus, onwarning: showWarning,
    onproctormessage: showProctorMessage, t,
  });
  window.vigilClient = client; // for tests and support: the session id, the state
}

$("agree").addEventListener("click", start);
$("retry").addEventListener("click", start);
$("begin").addEventListener("click", () => connect(check.take()));
$("finish").addEventListener("click", () => $("finish-confirm").showModal());
$("finish-no").addEventListener("click", () => $("finish-confirm").close());
$("finish-yes").addEventListener("click", () => { $("finish-confirm").close(); client?.finish(); });

// A reload of this tab during the exam: consent was given, the session resumes.
if (VigilClient.savedSession()) connect(null);
