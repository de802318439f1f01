// The session id and token kept in sessionStorage: they survive a reload of this tab (so the reload
// resumes the same session) and die with the tab. Storage may be off (privacy modes): then a reload
// starts over, nothing else breaks.
const KEY = "vigil.session";

export function savedSession(storage = window.sessionStorage) {
  try {
    const data = JSON.parse(storage.getItem(KEY) || "null");
    return data && data.id && data.token ? data : null;
  } catch (_) { return null; }
}

export function saveSession(session, storage = window.sessionStorage) {
  try { storage.setItem(KEY, JSON.stringify(session)); } catch (_) { /* a reload will start over */ }
}

export function forgetSession(storage = window.sessionStorage) {
  try { storage.removeItem(KEY); } catch (_) { /* nothing kept */ }
}
