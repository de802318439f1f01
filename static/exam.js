// Vigil exam page: consent, the system check, then a host of the embeddable client (vigil-client.js)
// that shows its status and warnings, and the body's data-vigil-* attributes (docs/pages.md).
import { SystemCheck } from "./client/system-check.js";
import { translatePage, translator } from "./i18n/index.js";
import { VigilClient } from "./vigil-client.js";

const body = document.body;
const $ = (id) => document.getElementById(id);
const t = translator();
translatePage(t);
let client = null;
let check = null;

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

// The system check: only after consent (the camera opens here).
async function start() {
  showCheck();
  check = check || new SystemCheck({ video: $("check-preview"), meter: $("mic-level"),
                                     cameraSelect: $("camera-select"), micSelect: $("mic-select") });
  $("begin").disabled = true;
  $("retry").hidden = true;
  say($("check-status"), t("check.opening"));
  const result = await check.open();
  if (!result.ok) {
    say($("check-status"), t(result.code, result.vars), "warn");
    $("retry").hidden = false;
    return;
  }
  say($("check-status"), t("check.ok"), "ok");
  $("begin").disabled = false;
}

function connect(media) {
  $("consent").hidden = true;
  $("check").hidden = true;
  $("live").hidden = false;
  client = VigilClient.start({
    server: "", candidateId: $("candidate").value.trim(), joinCode: $("joincode").value.trim(),
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
