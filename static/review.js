// The review workspace. Without `?session=`: the ended sessions the proctor may see, sorted by the AI's suggestion
// and peak risk, filtered by exam, date, suggestion and "needs review" (no human decision yet; each session's
// decision is read from its review resource). With `?session=ID`: that session's report (timeline, flags,
// evidence, calibration, the proctor's messages to the candidate) and its human review: each flag confirmed or dismissed with a note, and the decision,
// both through PATCH /api/sessions/{id}/review. The automatic verdict is only ever labelled "AI suggestion".
"use strict";

const SUGGESTION_ORDER = { CHEATING: 0, REVIEW: 1, CLEAR: 2 };
//: review resources read at once while the list fills in its decision column
const DECISION_READS = 4;

// -- the list ------------------------------------------------------------------------------------
let past = [];                     // ended session hashes
const decisions = new Map();       // session_id -> decision record, null (none yet), or undefined (loading)
const examTitles = new Map();

function sessionEnd(s) { return num(s.ended_at) || num(s.created_at) || 0; }

function matches(s) {
  const from = $("f-from").value, to = $("f-to").value, end = sessionEnd(s) * 1000;
  return (!$("f-exam").value || s.exam_id === $("f-exam").value)
    && (!$("f-verdict").value || s.verdict === $("f-verdict").value)
    && (!from || end >= new Date(`${from}T00:00`).getTime())
    && (!to || end < new Date(`${to}T00:00`).getTime() + 86_400_000)
    && (!$("f-needs").checked || decisions.get(s.session_id) === null);
}

function bySuggestionThenPeak(a, b) {
  const order = (s) => (s.verdict in SUGGESTION_ORDER ? SUGGESTION_ORDER[s.verdict] : 3);
  return order(a) - order(b) || (num(b.peak_risk) || 0) - (num(a.peak_risk) || 0) || sessionEnd(b) - sessionEnd(a);
}

function decisionCell(sid) {
  const d = decisions.get(sid);
  if (d === undefined) return "…";
  if (d === null) return "needs review";
  return el("span", { className: "decision", dataset: { decision: d.decision } }, d.decision);
}

function renderList() {
  const shown = past.filter(matches).sort(bySuggestionThenPeak);
  $("sessions").tBodies[0].replaceChildren(...shown.map((s) => {
    const d = decisions.get(s.session_id);
    const started = num(s.started_at) || num(s.created_at);
    return el("tr", { dataset: { sessionId: s.session_id, verdict: s.verdict || "", peakRisk: s.peak_risk ?? "",
      decision: d ? d.decision : d === null ? "none" : "" } },
      el("td", {}, s.candidate_id || s.session_id.slice(0, 8)),
      el("td", {}, examTitles.get(s.exam_id) || s.exam_id),
      el("td", {}, when(num(s.ended_at))),
      el("td", {}, started && num(s.ended_at) ? clock(num(s.ended_at) - started) : "–"),
      el("td", {}, s.verdict ? el("span", { className: "verdict", dataset: { verdict: s.verdict } }, s.verdict) : "–"),
      el("td", {}, num(s.peak_risk) == null ? "–" : num(s.peak_risk).toFixed(0)),
      el("td", { className: "decision-cell" }, decisionCell(s.session_id)),
      el("td", {}, link(`/review.html?session=${encodeURIComponent(s.session_id)}`, "Review")));
  }));
  $("no-rows").hidden = shown.length > 0;
  const open = past.filter((s) => decisions.get(s.session_id) === null).length;
  $("status").textContent = `${shown.length} of ${past.length} ended sessions shown · ${open} need a decision`;
}

// Many answers arrive within one frame: the list is redrawn once per frame, not once per answer.
let renderPending = false;
function renderSoon() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => { renderPending = false; renderList(); });
}

async function loadDecisions() {
  const queue = past.map((s) => s.session_id);
  const worker = async () => {
    while (queue.length) {
      const sid = queue.shift();
      try { decisions.set(sid, (await api(`/api/sessions/${sid}/review`)).decision); } catch (_) { decisions.delete(sid); }
      renderSoon();
    }
  };
  await Promise.all(Array.from({ length: DECISION_READS }, worker));
  renderList();
  document.body.dataset.vigilDecisions = "loaded";
}

async function showList() {
  $("list-view").hidden = false;
  document.body.dataset.vigilView = "list";
  const [exams, sessions] = await Promise.all([api("/api/exams"), api("/api/sessions?limit=500")]);
  for (const e of exams.exams) {
    examTitles.set(e.exam_id, e.title);
    $("f-exam").append(el("option", { value: e.exam_id }, e.title));
  }
  past = sessions.sessions.filter((s) => s.status === "ended");
  renderList();
  $("filters").addEventListener("input", renderList);
  await loadDecisions();
}

// -- one session ---------------------------------------------------------------------------------
let report = null;

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.filter(([, v]) => v != null && v !== "").flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
}

function byWhom(mark) { return `${mark.by.email}, ${when(mark.at)}`; }

function renderDecision(review) {
  const d = review.decision, now = $("decision-now");
  now.dataset.decision = d ? d.decision : "none";
  now.replaceChildren(...(d
    ? [el("span", { className: "decision", dataset: { decision: d.decision } }, d.decision), ` by ${byWhom(d)}`,
      d.note ? el("br") : null, d.note ? `“${d.note}”` : null]
    : [el("b", {}, "No decision yet."), " The AI's suggestion below is not one."]));
  if (d) {
    for (const r of document.querySelectorAll('input[name="decision"]')) r.checked = r.value === d.decision;
  }
  $("ai").textContent = review.ai_suggestion || "none (session not ended)";
  $("ai").dataset.verdict = review.ai_suggestion || "";
}

function markCell(mark) {
  if (!mark) return el("span", { className: "mark", dataset: { status: "unreviewed" } }, "not reviewed");
  return el("span", { className: "mark", dataset: { status: mark.status } }, `${mark.status} by ${byWhom(mark)}`,
    mark.note ? el("br") : null, mark.note ? `“${mark.note}”` : null);
}

function renderFlags(review) {
  const marks = new Map(review.flags.map((f) => [f.event_id, f]));
  const t0 = report.started_at || report.created_at || 0;
  const file = (name, what, note) => (name ? link(evidenceUrl(name), what) : el("span", { className: "muted" }, note || `no ${what}`));
  const evidence = (e) => el("span", {}, file(e.evidence, "snapshot", e.evidence_note), el("br"), file(e.clip, "clip", e.clip_note));
  $("flags").tBodies[0].replaceChildren(...report.events.map((e) => {
    const mark = marks.get(e.id);
    const note = el("textarea", { maxLength: 2000, placeholder: "Note", ariaLabel: `Note on ${e.id}`, className: "flag-note" });
    note.value = mark ? mark.note : "";
    const act = (status) => {
      const b = el("button", { type: "button", className: `small ${status === "dismissed" ? "secondary" : "danger"} ${status}` },
        status === "confirmed" ? "Confirm" : "Dismiss");
      b.addEventListener("click", () => saveReview({ flags: { [e.id]: { status, note: note.value } } }, b));
      return b;
    };
    return el("tr", { dataset: { eventId: e.id, status: mark ? mark.status : "unreviewed" } },
      el("td", {}, clock(e.start - t0)),
      el("td", {}, readable(e.type), " ", el("span", { className: `sev sev-${e.severity}` }, e.severity), el("br"),
        el("small", { className: "muted" }, e.id)),
      el("td", {}, e.duration_s == null ? (e.end == null ? "open" : "–") : e.duration_s === 0 ? "instant" : `${e.duration_s.toFixed(1)} s`),
      el("td", {}, evidence(e)),
      el("td", {}, markCell(mark), el("div", { className: "row", style: "margin-top: 4px" }, act("confirmed"), act("dismissed"))),
      el("td", {}, note));
  }));
  $("no-flags").hidden = report.events.length > 0;
  $("flags").hidden = report.events.length === 0;
}

// What proctors told the candidate during the session (the stream's proctor_message items), oldest first.
function renderMessages() {
  const t0 = report.started_at || report.created_at || 0;
  const messages = report.proctor_messages || [];
  $("messages").tBodies[0].replaceChildren(...messages.map((m) => el("tr", { dataset: { delivered: String(m.delivered) } },
    el("td", {}, clock(m.t - t0), el("br"), el("small", { className: "muted" }, when(m.t))),
    el("td", {}, m.by.email || m.by.user_id || "–"),
    el("td", { className: "message-text" }, m.text),
    el("td", { className: m.delivered ? "" : "undelivered" }, m.delivered ? "yes" : "no (channel could not take it)"))));
  $("no-messages").hidden = messages.length > 0;
  $("messages").hidden = messages.length === 0;
}

function evidenceUrl(name) { return `/api/sessions/${report.session_id}/evidence/${encodeURIComponent(name)}`; }

// Each flag's snapshot and its clip (a few seconds around the flag's start, played here; the PDF cannot).
function renderGallery() {
  const t0 = report.started_at || report.created_at || 0;
  const shots = report.events.filter((e) => e.evidence || e.clip).sort((a, b) => a.start - b.start);
  $("gallery").replaceChildren(...(shots.length ? shots.map((e) => el("figure", { dataset: { eventId: e.id } },
    e.evidence ? el("img", { src: evidenceUrl(e.evidence), loading: "lazy", alt: `${readable(e.type)} at ${clock(e.start - t0)}` }) : null,
    e.clip ? el("video", { src: evidenceUrl(e.clip), controls: true, preload: "metadata", muted: true, playsInline: true,
      ariaLabel: `Clip: ${readable(e.type)} at ${clock(e.start - t0)}` }) : null,
    el("figcaption", {}, `${clock(e.start - t0)} · ${readable(e.type)} (${e.severity})`)))
    : [el("p", { className: "empty" }, "No snapshots or clips: " + (report.events.length ? "none was kept for these flags." : "no flags."))]));
}

function renderReport() {
  const v = report.verdict || {};
  const started = report.started_at || report.created_at;
  $("s-title").textContent = `${report.candidate_id} · ${report.exam_title || report.exam_id}`;
  document.title = `Vigil: review ${report.candidate_id}`;
  facts($("s-facts"), [["Candidate", report.candidate_id], ["Exam", report.exam_title || report.exam_id],
    ["Session", report.session_id], ["Status", report.status], ["Started", when(started)], ["Ended", when(report.ended_at)],
    ["Length", report.duration_s == null ? null : clock(report.duration_s)],
    ["Peak risk", v.peak_risk], ["Final risk", v.final_risk_score],
    ["Observed", v.coverage == null ? null : `${Math.round(v.coverage * 100)}% of the session`]]);
  $("pdf").href = `/api/sessions/${report.session_id}/report.pdf`;
  $("json").href = `/api/sessions/${report.session_id}/report.json`;
  // the verdict's reasons name event types (multiple_faces): in words here, as in the PDF
  $("ai-reasons").replaceChildren(...(v.reasons || []).map((r) => el("li", {}, String(r).replace(/\b([a-z]+(?:_[a-z]+)+)\b/g, (m) => m.replace(/_/g, " ")))));
  $("timeline").replaceChildren(drawTimeline(report));
  // a span shorter than a second would read "0:10–0:10" alone: its length goes with it
  const length = (s) => (s.end - s.start < 60 ? `${(s.end - s.start).toFixed(1)} s` : clock(s.end - s.start));
  $("unobserved").replaceChildren(...report.unobserved_spans.map((s) => el("li", {},
    `${clock(s.start - started)}–${clock(s.end - started)} (${length(s)}) not observed: ${s.reason.replace(/_/g, " ")}`)));
  const c = report.calibration;
  facts($("calibration"), [["Status", c.status], ["Mean error", c.mean_error_deg == null ? null : `${c.mean_error_deg.toFixed(1)}°`],
    ["Limit", c.limit_deg == null ? null : `${c.limit_deg}°`], ["Mean error (px)", c.mean_error_px == null ? null : Math.round(c.mean_error_px)],
    ["Points", c.points], ["Attempts", c.attempts], ["Recentres", c.recentres]]);
  facts($("signals"), [...Object.entries(report.browser).map(([k, n]) => [readable(k), n]),
    ...Object.entries(report.counters).map(([k, n]) => [readable(k), n])]);
  renderGallery();
  renderMessages();
  renderDecision(report.review);
  renderFlags(report.review);
}

async function saveReview(body, button) {
  button.disabled = true;
  $("decision-error").textContent = "";
  try {
    const review = await api(`/api/sessions/${report.session_id}/review`, { method: "PATCH", body: JSON.stringify(body) });
    report.review = review;
    renderDecision(review); renderFlags(review);
    $("status").textContent = body.decision ? `Decision recorded: ${body.decision.decision}.` : "Flag review saved.";
  } catch (err) {
    const text = `Could not save: ${err.detail || err.message}`;
    if (body.decision) $("decision-error").textContent = text; else $("status").textContent = text;
  } finally { button.disabled = false; }
}

$("decision-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const picked = document.querySelector('input[name="decision"]:checked');
  if (!picked) { $("decision-error").textContent = "Pick cleared, violation or inconclusive."; return; }
  saveReview({ decision: { decision: picked.value, note: $("decision-note").value } }, $("decision-save"));
});

async function showSession(sid) {
  $("session-view").hidden = false;
  report = await api(`/api/sessions/${encodeURIComponent(sid)}/report.json`);
  renderReport();
  document.body.dataset.vigilView = "session";
  $("status").textContent = `${report.events.length} flags · ${report.review.unreviewed.length} not reviewed`;
}

currentUser().then(async (user) => {
  if (!user) return;
  const sid = new URLSearchParams(location.search).get("session");
  try { await (sid ? showSession(sid) : showList()); } catch (err) {
    $("status").textContent = `Could not load: ${err.message}`;
    document.body.dataset.vigilView = "error";
  }
});
