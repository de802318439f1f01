// Shared by the proctor's pages (exams, review): element lookup, the JSON API call, who is logged in,
// and plain-words formatting. Account auth rides on the HttpOnly cookie the dashboard's login sets.
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const resp = await fetch(path, { credentials: "same-origin", ...options,
    headers: { "Content-Type": "application/json", ...(options.headers || {}) } });
  let body = null;
  try { body = await resp.json(); } catch (_) { /* empty or not JSON */ }
  if (!resp.ok) {
    const err = new Error((body && body.error) || `HTTP ${resp.status}`);
    // RFC 9457: `detail` is text; the fields that failed are in `errors`, other data in `context`
    err.status = resp.status; err.detail = body && body.detail;
    err.errors = (body && body.errors) || []; err.context = (body && body.context) || {};
    throw err;
  }
  return body;
}

// The logged-in proctor or admin, shown in the bar; null (with a link to log in) for anyone else.
async function currentUser() {
  let user = null;
  try { user = await api("/api/auth/profile"); } catch (_) { /* not logged in */ }
  if (!user || (user.role !== "proctor" && user.role !== "admin")) {
    const back = encodeURIComponent(location.pathname + location.search);
    $("status").replaceChildren("Please ", link(`/dashboard.html?next=${back}`, "log in on the dashboard"),
      " as a proctor or administrator.");
    return null;
  }
  $("who").textContent = `${user.email} (${user.role})`;
  return user;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v); else if (k in node) node[k] = v; else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

function link(href, text) { return el("a", { href }, text); }

function num(v) { const n = Number(v); return v === "" || v == null || !Number.isFinite(n) ? null : n; }

function when(seconds) { return seconds ? new Date(seconds * 1000).toLocaleString() : "–"; }

// "03:07" from a number of seconds (or "1:02:03" past an hour)
function clock(seconds) {
  const s = Math.max(0, Math.round(seconds)), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// An event type in words ("other_voice" -> "Other voice"); the report's PDF uses the server's phrases.
function readable(type) { const t = String(type || "").replace(/_/g, " "); return t.charAt(0).toUpperCase() + t.slice(1); }
