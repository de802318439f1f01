// Vigil proctor dashboard: login, a grid of live candidates fed by Server-Sent Events (each card with a
// low-rate thumbnail, a message box and End), an event feed whose items open the session, and watching
// one candidate (video and audio) over WebRTC. No build step. Account auth rides on the HttpOnly cookie
// the login sets; this script never sees the token.
"use strict";
// `$` and `api` come from common.js, shared with the exams and review pages (loaded first).

const sessions = new Map();        // session_id -> row (the /api/live shape, updated by status messages)
const cards = new Map();           // session_id -> <li>
let stream = null;
let pollTimer = null;
let watching = null;               // {sid, pc}
let streamState = "connecting";
//: /api/live is re-read this often: it drops ended sessions, which send no more status messages
const RECONCILE_MS = 5000;
const MAX_FEED = 200;
//: thumbnails are re-read this often (the server renews them every 2 s from the frames it analyses)
const THUMB_MS = 2000;
let thumbTimer = null;

function setStatus(text) { $("status").textContent = text; }

function summarise() {
  let live = 0, dropped = 0;
  for (const s of sessions.values()) {
    if (s.status === "live") live += 1; else if (s.status === "disconnected") dropped += 1;
  }
  document.body.dataset.vigilLive = String(live);
  $("no-sessions").hidden = sessions.size > 0;
  setStatus(`${live} live` + (dropped ? `, ${dropped} disconnected` : "") + ` · updates ${streamState}`);
  arrange();
}

// With "Highest risk first" the cards follow the risk score (ties: by name); otherwise they stay in arrival order.
function arrange() {
  if (!$("sort-risk").checked) return;
  const name = (sid) => String(sessions.get(sid).candidate_id || sid);
  const order = [...sessions.keys()].filter((sid) => cards.has(sid)).sort((a, b) =>
    Number(sessions.get(b).risk_score || 0) - Number(sessions.get(a).risk_score || 0) || name(a).localeCompare(name(b)));
  const grid = $("grid");
  if (order.some((sid, i) => grid.children[i] !== cards.get(sid))) grid.append(...order.map((sid) => cards.get(sid)));
}

function level(risk) { return risk >= 60 ? "high" : risk >= 30 ? "medium" : "low"; }

function render(sid) {
  const s = sessions.get(sid);
  let card = cards.get(sid);
  if (!s) { if (card) { card.remove(); cards.delete(sid); } return; }
  if (!card) {
    card = $("card").content.firstElementChild.cloneNode(true);
    card.dataset.sessionId = sid;
    card.querySelector(".watch-button").addEventListener("click", () => watch(sid));
    card.querySelector(".end-button").addEventListener("click", () => endSession(sid));
    card.querySelector(".message-button").addEventListener("click", () => toggleMessage(card));
    card.querySelector(".message-form").addEventListener("submit", (e) => { e.preventDefault(); sendMessage(sid, card); });
    cards.set(sid, card);
    $("grid").appendChild(card);
  }
  const risk = Number(s.risk_score || 0);
  card.dataset.status = s.status || "";
  card.dataset.level = level(risk);
  card.querySelector(".name").textContent = s.candidate_id || sid.slice(0, 8);
  card.querySelector(".name").title = `session ${sid}, exam ${s.exam_id || "?"}`;
  card.querySelector(".state").textContent = s.status === "disconnected"
    ? `disconnected${s.disconnect_reason ? ": " + s.disconnect_reason : ""}` : (s.status || "?");
  card.querySelector(".risk").textContent = risk.toFixed(0);
  card.querySelector(".risk-label").textContent = `risk, ${level(risk)}`;
  card.querySelector(".attention").textContent = s.attention == null ? "–" : `${Math.round(s.attention)}%`;
  card.querySelector(".faces").textContent = s.faces == null ? "–" : String(s.faces);
  const flags = card.querySelector(".flags");
  flags.replaceChildren(...(s.flags || []).map((f) => {
    const li = document.createElement("li"); li.textContent = f.replace(/_/g, " "); return li;
  }));
  card.querySelector(".watch-button").disabled = s.status !== "live";
  card.querySelector(".message-button").disabled = s.status !== "live";
  card.querySelector(".thumb").alt = `${card.querySelector(".name").textContent}, live camera (a picture every few seconds)`;
  card.querySelector(".end-button").disabled = s.status === "ended";
  card.setAttribute("aria-label", `${card.querySelector(".name").textContent}: ${card.querySelector(".state").textContent}, risk ${risk.toFixed(0)}`);
}

function addFeed(sid, event, at) {
  const s = sessions.get(sid);
  const li = document.createElement("li");
  const when = new Date(((at || event.at || Date.now() / 1000)) * 1000).toLocaleTimeString();
  const who = (s && s.candidate_id) || sid.slice(0, 8);
  li.className = `sev-${event.severity || "low"}`;
  li.dataset.sessionId = sid;
  li.dataset.eventType = event.type;
  // the item opens the session's review page (its flags and timeline so far); a live one can also be watched
  li.append(el("a", { href: `/review.html?session=${encodeURIComponent(sid)}` },
    `${when} · ${who} · ${String(event.type).replace(/_/g, " ")}` +
    `${event.severity ? " (" + event.severity + ")" : ""} ${event.state || ""}`));
  if (s && s.status === "live") {
    const button = el("button", { type: "button", className: "secondary feed-watch" }, "Watch");
    button.addEventListener("click", () => watch(sid));
    li.append(button);
  }
  const list = $("events");
  list.prepend(li);
  while (list.children.length > MAX_FEED) list.lastElementChild.remove();
}

async function reconcile(first) {
  let body;
  try { body = await api("/api/live"); } catch (err) {
    if (err.status === 401) return showLogin("Your login has expired.");
    setStatus(`Could not load live sessions: ${err.message}`); return;
  }
  const seen = new Set();
  for (const row of body.sessions) {
    seen.add(row.session_id);
    const known = sessions.get(row.session_id);
    sessions.set(row.session_id, { ...(known || {}), ...row });
    if (first) for (const item of row.last_events || []) {
      if (item.event && item.event.type) addFeed(row.session_id, item.event, item.t);
    }
    render(row.session_id);
  }
  for (const sid of [...sessions.keys()]) if (!seen.has(sid)) { sessions.delete(sid); render(sid); }
  summarise();
}

function openStream() {
  if (stream) stream.close();
  stream = new EventSource("/api/live/stream");
  stream.onopen = () => { streamState = "live"; summarise(); };
  stream.onerror = () => {
    streamState = stream.readyState === EventSource.CLOSED ? "stopped" : "reconnecting";
    summarise();
    if (stream.readyState === EventSource.CLOSED) reconcile(false);  // a 401 shows the login form
  };
  stream.addEventListener("status", (e) => {
    const m = JSON.parse(e.data);
    const known = sessions.get(m.session_id) || {};
    sessions.set(m.session_id, { ...known, ...m });
    render(m.session_id); summarise();
  });
  stream.addEventListener("events", (e) => {
    const m = JSON.parse(e.data);
    const known = sessions.get(m.session_id);
    if (known && m.risk_score != null) { known.risk_score = m.risk_score; render(m.session_id); }
    for (const ev of m.events || []) addFeed(m.session_id, ev, ev.at);
  });
}

// -- thumbnails and messages ---------------------------------------------------------------------
// Every live card's picture is re-read from the API (any worker answers: the thumbnails are in Redis);
// a card whose candidate has no picture (video not analysed yet, or stopped) shows "No picture yet".
// Each picture loads off-page and replaces the shown one when complete: no blank card between two.
function refreshThumbnails() {
  for (const [sid, card] of cards) {
    if ((sessions.get(sid) || {}).status !== "live") continue;
    const next = new Image();
    next.className = "thumb";
    next.onload = () => {
      const shown = card.querySelector(".thumb");
      next.alt = shown.alt;
      shown.replaceWith(next);
      card.querySelector(".no-thumb").hidden = true;
      card.dataset.thumb = "loaded";
    };
    next.onerror = () => {
      card.querySelector(".thumb").hidden = true;
      card.querySelector(".no-thumb").hidden = false;
      card.dataset.thumb = "none";
    };
    next.src = `/api/sessions/${encodeURIComponent(sid)}/thumbnail.jpg?t=${Date.now()}`;
  }
}

function toggleMessage(card) {
  const form = card.querySelector(".message-form");
  form.hidden = !form.hidden;
  card.querySelector(".message-button").setAttribute("aria-expanded", String(!form.hidden));
  if (!form.hidden) card.querySelector(".message-text").focus();
}

// The text goes to the worker holding the candidate's peer, which shows it on the candidate's page and
// logs it (who, when, what) in the session's event stream.
async function sendMessage(sid, card) {
  const input = card.querySelector(".message-text"), status = card.querySelector(".message-status");
  const text = input.value.trim();
  if (!text) return;
  card.querySelector(".message-send").disabled = true;
  try {
    const sent = await api(`/api/sessions/${encodeURIComponent(sid)}/message`, { method: "POST", body: JSON.stringify({ text }) });
    status.textContent = sent.delivered ? `Sent at ${new Date(sent.at * 1000).toLocaleTimeString()}.`
      : "Not delivered (the candidate's connection is busy or closing); it is logged.";
    card.dataset.message = sent.delivered ? "sent" : "undelivered";
    input.value = "";
  } catch (err) {
    status.textContent = `Could not send: ${err.message}`;
    card.dataset.message = "error";
  } finally { card.querySelector(".message-send").disabled = false; }
}

// Ends the candidate's exam for them, after the proctor confirms: the verdict is made, the peer closed.
async function endSession(sid) {
  const who = (sessions.get(sid) || {}).candidate_id || sid.slice(0, 8);
  if (!window.confirm(`End ${who}'s exam now? Their camera stops and the session cannot be resumed.`)) return;
  try {
    const summary = await api(`/api/sessions/${sid}/end`, { method: "POST", body: "{}" });
    if (watching && watching.sid === sid) stopWatching("The session has ended.");
    setStatus(`Ended ${who}'s session (AI suggestion: ${summary.verdict}).`);
  } catch (err) { setStatus(`Could not end ${who}'s session: ${err.message}`); return; }
  await reconcile(false);
}

// -- watching one candidate ----------------------------------------------------------------------
function iceGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);  // send what we have: the server does not trickle either
  });
}

function stopWatching(message) {
  if (watching) { watching.pc.close(); watching = null; }
  $("watch-video").srcObject = null;
  $("watch").hidden = message == null;
  $("watch-status").textContent = message || "";
}

async function watch(sid) {
  stopWatching(null);
  const s = sessions.get(sid) || {};
  const pc = new RTCPeerConnection();
  watching = { sid, pc };
  $("watch").hidden = false;
  $("watch-title").textContent = `Watching ${s.candidate_id || sid.slice(0, 8)}`;
  $("watch-status").textContent = "Connecting…";
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });  // the candidate's microphone (the Watch click allows sound)
  $("watch-video").muted = false;
  const channel = pc.createDataChannel("vigil");
  channel.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "analysis") {
      $("watch-status").textContent = `Live · faces ${m.faces} · risk ${Number(m.risk_score).toFixed(0)}` +
        (m.attention == null ? "" : ` · attention ${Math.round(m.attention)}%`);
    } else if (m.type === "ended") stopWatching("The session has ended.");
  };
  const media = new MediaStream();  // the server's answer puts video and audio in no stream: gather them here
  pc.ontrack = (e) => {
    media.addTrack(e.track);
    if ($("watch-video").srcObject !== media) $("watch-video").srcObject = media;
  };
  pc.onconnectionstatechange = () => {
    if (watching && watching.pc === pc && ["failed", "closed", "disconnected"].includes(pc.connectionState)) {
      stopWatching("The live view stopped (the candidate may have dropped). Press Watch to try again.");
    }
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc);
    const answer = await api(`/api/sessions/${sid}/watch`, { method: "POST",
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }) });
    await pc.setRemoteDescription(answer);
  } catch (err) {
    if (watching && watching.pc === pc) stopWatching(`Could not watch: ${err.message}`);
  }
}

// -- login ---------------------------------------------------------------------------------------
function showLogin(message) {
  if (stream) { stream.close(); stream = null; }
  clearInterval(pollTimer);
  clearInterval(thumbTimer);
  stopWatching(null);
  $("main").hidden = true; $("logout").hidden = true; $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  sessions.clear(); for (const sid of [...cards.keys()]) render(sid);
  document.body.dataset.vigilLive = "0";
  setStatus("Please log in as a proctor or administrator.");
}

async function start(user) {
  if (user.role !== "proctor" && user.role !== "admin") {
    return showLogin("This dashboard is for proctors and administrators.");
  }
  $("login").hidden = true; $("main").hidden = false; $("logout").hidden = false;
  $("who").textContent = `${user.email} (${user.role})`;
  const next = new URLSearchParams(location.search).get("next");  // back to the page that asked for a login
  let back = null;                                               // never to another site ("//x", "/\\x")
  try { back = next ? new URL(next, location.origin) : null; } catch (_) { /* not a URL: stay */ }
  if (back && back.origin === location.origin) { location.assign(back.href); return; }
  await reconcile(true);
  openStream();
  clearInterval(pollTimer);
  pollTimer = setInterval(() => reconcile(false), RECONCILE_MS);
  refreshThumbnails();
  clearInterval(thumbTimer);
  thumbTimer = setInterval(refreshThumbnails, THUMB_MS);
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-button").disabled = true;
  try {
    const body = await api("/api/auth/login", { method: "POST",
      body: JSON.stringify({ email: $("email").value, password: $("password").value }) });
    $("password").value = "";
    await start(body.user);
  } catch (err) {
    $("login-error").textContent = err.status === 429 ? "Too many failed attempts; wait a few minutes." : err.message;
  } finally { $("login-button").disabled = false; }
});

$("logout").addEventListener("click", async () => {
  try { await api("/api/auth/logout", { method: "POST", body: "{}" }); } catch (_) { /* logged out anyway */ }
  showLogin("Logged out.");
});
$("watch-close").addEventListener("click", () => stopWatching(null));
$("sort-risk").addEventListener("change", arrange);

api("/api/auth/profile").then(start).catch(() => showLogin(""));
