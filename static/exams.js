// The proctor's exams: create one (title, retention, optional risk-policy overrides, all checked by the
// server), list them with their join codes (an admin sees every exam), edit one (PATCH /api/exams/{id}),
// give one a new join code (the old one stops admitting), and each exam's candidates past and present,
// read from GET /api/sessions and grouped here by exam, each with a link to its review page.
"use strict";

let exams = [];
let sessionsByExam = new Map();    // exam_id -> [session hash, ...], newest first
const open = new Set();            // exam ids whose candidate rows are shown
let editing = null;                // the exam id whose edit form is open

// The policy sent to the API from the page's fields: the JSON overrides, with the retention in days set
// (or left to the default when empty). undefined: nothing given (the defaults).
function policyFrom(policyText, retentionText) {
  let policy = {};
  if (policyText.trim()) {
    try { policy = JSON.parse(policyText); } catch (err) {
      throw Object.assign(new Error(`Not JSON: ${err.message}`), { field: "policy" });
    }
    if (!policy || typeof policy !== "object" || Array.isArray(policy)) {
      throw Object.assign(new Error("The policy must be a JSON object."), { field: "policy" });
    }
  }
  if (String(retentionText).trim()) {
    const days = Number(retentionText);
    if (!Number.isFinite(days)) throw Object.assign(new Error("Retention must be a number of days."), { field: "retention" });
    policy = { ...policy, retention_days: days };
  }
  return Object.keys(policy).length ? policy : undefined;
}

// The API's 400 names the bad policy key (its message, `detail.field`) or lists pydantic's problems by
// field: each is shown next to its field (`errors`: field -> element id); anything else under the title.
function showError(err, errors) {
  const target = (field) => {
    const f = String(field || "");
    if (f === "retention" || f === "retention_days" || f === "policy.retention_days") return errors.retention;
    return f === "policy" || f.startsWith("policy") || f.includes(".") ? errors.policy : errors.title;
  };
  if (err.errors && err.errors.length) {
    for (const d of err.errors) $(target(d.field)).textContent += `${d.field}: ${d.problem} `;
  } else if (err.field) {
    $(target(err.field)).textContent = err.message;
  } else if (err.context && "field" in err.context) {
    $(target(err.context.field || "policy")).textContent = err.message;
  } else {
    $(/polic/i.test(err.message) ? errors.policy : errors.title).textContent = err.message;
  }
}

const CREATE_ERRORS = { title: "title-error", policy: "policy-error", retention: "retention-error" };
const EDIT_ERRORS = { title: "edit-title-error", policy: "edit-policy-error", retention: "edit-retention-error" };
function clearErrors(errors) { for (const id of Object.values(errors)) { const node = $(id); if (node) node.textContent = ""; } }

async function createExam(e) {
  e.preventDefault();
  clearErrors(CREATE_ERRORS); $("created").textContent = "";
  $("create-button").disabled = true;
  try {
    const body = { title: $("title").value };
    const policy = policyFrom($("policy").value, $("retention").value);
    if (policy !== undefined) body.policy = policy;
    const made = await api("/api/exams", { method: "POST", body: JSON.stringify(body) });
    $("created").replaceChildren(`Created “${body.title}”. Join code: `, el("span", { className: "code" }, made.join_code));
    $("title").value = ""; $("policy").value = ""; $("retention").value = "";
    await load();
  } catch (err) { showError(err, CREATE_ERRORS); } finally { $("create-button").disabled = false; }
}

async function saveExam(exam) {
  clearErrors(EDIT_ERRORS);
  $("edit-save").disabled = true;
  try {
    const policy = policyFrom($("edit-policy").value, $("edit-retention").value);
    const body = { title: $("edit-title").value, policy: policy === undefined ? null : policy };
    const saved = await api(`/api/exams/${encodeURIComponent(exam.exam_id)}`, { method: "PATCH", body: JSON.stringify(body) });
    editing = null;
    $("status").textContent = `Saved “${saved.title}”. New sessions of this exam use it; sessions already running keep theirs.`;
    await load();
  } catch (err) { showError(err, EDIT_ERRORS); } finally { const b = $("edit-save"); if (b) b.disabled = false; }
}

async function newJoinCode(exam) {
  if (!window.confirm(`Give “${exam.title}” a new join code? The code ${exam.join_code} stops working for candidates ` +
                      "who have not joined yet; sessions already started go on.")) return;
  try {
    const made = await api(`/api/exams/${encodeURIComponent(exam.exam_id)}/join-code`, { method: "POST", body: "{}" });
    $("status").replaceChildren(`New join code for “${exam.title}”: `, el("span", { className: "code" }, made.join_code),
      ` (${exam.join_code} no longer admits anyone).`);
    await load();
  } catch (err) { $("status").textContent = `Could not make a new join code: ${err.message}`; }
}

function editRow(exam) {
  const overrides = { ...(exam.policy || {}) };
  const retention = overrides.retention_days;
  delete overrides.retention_days;
  const form = el("form", { id: "edit", className: "edit-form" },
    el("div", { className: "row" },
      el("label", {}, "Title", el("input", { id: "edit-title", required: true, maxLength: 200, value: exam.title, autocomplete: "off" })),
      el("label", {}, "Retention (days)", el("input", { id: "edit-retention", type: "number", step: "any",
        value: retention == null ? "" : String(retention), placeholder: "30 (default)" })),
      el("button", { id: "edit-save", type: "submit" }, "Save"),
      el("button", { id: "edit-cancel", type: "button", className: "secondary" }, "Cancel")),
    el("p", { id: "edit-title-error", className: "error", role: "alert" }),
    el("p", { id: "edit-retention-error", className: "error", role: "alert" }),
    el("label", { htmlFor: "edit-policy", className: "muted" }, "Risk policy overrides (JSON; empty: the defaults)"),
    el("textarea", { id: "edit-policy", spellcheck: false, value: Object.keys(overrides).length ? JSON.stringify(overrides, null, 1) : "" }),
    el("p", { id: "edit-policy-error", className: "error", role: "alert" }));
  form.addEventListener("submit", (e) => { e.preventDefault(); saveExam(exam); });
  form.querySelector("#edit-cancel").addEventListener("click", () => { editing = null; render(); });
  return el("tr", { className: "editing", dataset: { examId: exam.exam_id } }, el("td", { colSpan: 7 }, form));
}

function candidateRows(exam) {
  const rows = sessionsByExam.get(exam.exam_id) || [];
  if (!rows.length) return [el("tr", { className: "candidates" }, el("td", { colSpan: 7, className: "muted" }, "No candidates yet."))];
  return rows.map((s) => el("tr", { className: "candidates", dataset: { sessionId: s.session_id, status: s.status } },
    el("td", {}, s.candidate_id || s.session_id.slice(0, 8)),
    el("td", {}, s.status),
    el("td", {}, when(num(s.created_at))),
    el("td", {}, s.verdict ? el("span", { className: "verdict", dataset: { verdict: s.verdict } }, `AI: ${s.verdict}`) : ""),
    el("td", {}, link(`/review.html?session=${encodeURIComponent(s.session_id)}`, "Review"),
      s.status === "ended" ? null : " · ", s.status === "ended" ? null : link("/dashboard.html", "Live")),
    el("td"), el("td")));
}

function button(text, className, onClick, props = {}) {
  const b = el("button", { type: "button", className, ...props }, text);
  b.addEventListener("click", onClick);
  return b;
}

function retentionText(exam) {
  const days = exam.policy && exam.policy.retention_days;
  return days == null ? "30 days (default)" : `${days} day${days === 1 ? "" : "s"}`;
}

function render() {
  const body = $("exams").tBodies[0];
  body.replaceChildren();
  for (const exam of exams) {
    const count = (sessionsByExam.get(exam.exam_id) || []).length;
    const overrides = { ...(exam.policy || {}) };
    delete overrides.retention_days;
    const shown = open.has(exam.exam_id);
    body.append(el("tr", { className: "exam", dataset: { examId: exam.exam_id } },
      el("td", { className: "title" }, exam.title),
      el("td", {}, el("span", { className: "code join-code" }, exam.join_code)),
      el("td", {}, when(exam.created_at)),
      el("td", { className: "retention" }, retentionText(exam)),
      el("td", { className: "muted policy" }, Object.keys(overrides).length ? JSON.stringify(overrides) : "default"),
      el("td", { className: "count" }, String(count)),
      el("td", { className: "actions" },
        button("Edit", "secondary small edit-button", () => { editing = editing === exam.exam_id ? null : exam.exam_id; render(); },
               { ariaExpanded: String(editing === exam.exam_id) }),
        button("New join code", "secondary small code-button", () => newJoinCode(exam)),
        button(shown ? "Hide candidates" : "Show candidates", "secondary small candidates-button", () => {
          if (open.has(exam.exam_id)) open.delete(exam.exam_id); else open.add(exam.exam_id);
          render();
        }, { ariaExpanded: String(shown) }))));
    if (editing === exam.exam_id) body.append(editRow(exam));
    if (shown) body.append(...candidateRows(exam));
  }
  $("no-exams").hidden = exams.length > 0;
  $("exams").hidden = exams.length === 0;
  document.body.dataset.vigilExams = String(exams.length);
}

async function load() {
  try {
    const [listed, past] = await Promise.all([api("/api/exams"), api("/api/sessions?limit=500")]);
    sessionsByExam = new Map();
    for (const s of past.sessions) {
      if (!sessionsByExam.has(s.exam_id)) sessionsByExam.set(s.exam_id, []);
      sessionsByExam.get(s.exam_id).push(s);
    }
    exams = listed.exams;
    render();
    if (!$("status").textContent.startsWith("Saved") && !$("status").textContent.startsWith("New join code")) {
      $("status").textContent = `${exams.length} exam${exams.length === 1 ? "" : "s"}`;
    }
  } catch (err) { $("status").textContent = `Could not load exams: ${err.message}`; }
}

$("create").addEventListener("submit", createExam);
currentUser().then((user) => { if (user) { $("main").hidden = false; load(); } });
