// The proctor's exams: create one (title, optional risk-policy overrides checked by the server), list them
// with their join codes (an admin sees every exam), and each exam's candidates past and present, read from
// GET /api/sessions and grouped here by exam.
"use strict";

let sessionsByExam = new Map();    // exam_id -> [session hash, ...], newest first
const open = new Set();            // exam ids whose candidate rows are shown

function policyFromField() {
  const text = $("policy").value.trim();
  if (!text) return undefined;
  try { return JSON.parse(text); } catch (err) { throw Object.assign(new Error(`Not JSON: ${err.message}`), { field: "policy" }); }
}

// The API's 400 names the bad policy key (its message, `detail.field`) or lists pydantic's problems by field:
// each is shown next to its field; anything else under the title.
function showCreateError(err) {
  const target = (field) => (String(field || "").startsWith("policy") ? "policy-error" : "title-error");
  if (Array.isArray(err.detail)) {
    for (const d of err.detail) $(target(d.field)).textContent += `${d.field}: ${d.problem} `;
  } else if (err.field === "policy" || (err.detail && "field" in err.detail) || /polic/i.test(err.message)) {
    $("policy-error").textContent = err.message;
  } else {
    $("title-error").textContent = err.message;
  }
}

async function createExam(e) {
  e.preventDefault();
  $("title-error").textContent = ""; $("policy-error").textContent = ""; $("created").textContent = "";
  $("create-button").disabled = true;
  try {
    const body = { title: $("title").value };
    const policy = policyFromField();
    if (policy !== undefined) body.policy = policy;
    const made = await api("/api/exams", { method: "POST", body: JSON.stringify(body) });
    $("created").replaceChildren(`Created “${body.title}”. Join code: `, el("span", { className: "code" }, made.join_code));
    $("title").value = ""; $("policy").value = "";
    await load();
  } catch (err) { showCreateError(err); } finally { $("create-button").disabled = false; }
}

function candidateRows(exam) {
  const rows = sessionsByExam.get(exam.exam_id) || [];
  if (!rows.length) return [el("tr", { className: "candidates" }, el("td", { colSpan: 6, className: "muted" }, "No candidates yet."))];
  return rows.map((s) => el("tr", { className: "candidates", dataset: { sessionId: s.session_id, status: s.status } },
    el("td", {}, s.candidate_id || s.session_id.slice(0, 8)),
    el("td", {}, s.status),
    el("td", {}, when(num(s.created_at))),
    el("td", {}, s.verdict ? el("span", { className: "verdict", dataset: { verdict: s.verdict } }, `AI: ${s.verdict}`) : ""),
    el("td", {}, s.status === "ended" ? link(`/review.html?session=${encodeURIComponent(s.session_id)}`, "Review")
      : link("/dashboard.html", "Live")),
    el("td")));
}

function render(exams) {
  const body = $("exams").tBodies[0];
  body.replaceChildren();
  for (const exam of exams) {
    const count = (sessionsByExam.get(exam.exam_id) || []).length;
    const toggle = el("button", { type: "button", className: "secondary small", ariaExpanded: String(open.has(exam.exam_id)) },
      open.has(exam.exam_id) ? "Hide candidates" : "Show candidates");
    toggle.addEventListener("click", () => {
      if (open.has(exam.exam_id)) open.delete(exam.exam_id); else open.add(exam.exam_id);
      render(exams);
    });
    body.append(el("tr", { className: "exam", dataset: { examId: exam.exam_id } },
      el("td", {}, exam.title),
      el("td", {}, el("span", { className: "code join-code" }, exam.join_code)),
      el("td", {}, when(exam.created_at)),
      el("td", { className: "muted" }, exam.policy ? JSON.stringify(exam.policy) : "default"),
      el("td", { className: "count" }, String(count)),
      el("td", {}, toggle)));
    if (open.has(exam.exam_id)) body.append(...candidateRows(exam));
  }
  $("no-exams").hidden = exams.length > 0;
  $("exams").hidden = exams.length === 0;
  document.body.dataset.vigilExams = String(exams.length);
}

async function load() {
  try {
    const [exams, past] = await Promise.all([api("/api/exams"), api("/api/sessions?limit=500")]);
    sessionsByExam = new Map();
    for (const s of past.sessions) {
      if (!sessionsByExam.has(s.exam_id)) sessionsByExam.set(s.exam_id, []);
      sessionsByExam.get(s.exam_id).push(s);
    }
    render(exams.exams);
    $("status").textContent = `${exams.exams.length} exam${exams.exams.length === 1 ? "" : "s"}`;
  } catch (err) { $("status").textContent = `Could not load exams: ${err.message}`; }
}

$("create").addEventListener("submit", createExam);
currentUser().then((user) => { if (user) { $("main").hidden = false; load(); } });
