// The session API as the candidate's client uses it: JSON in and out, the session token as Bearer.
// A failed call throws an ApiFailure carrying the HTTP status (0 when the network itself failed), so
// the reconnect loop can tell "try again" (network, 5xx) from "give up" (the session ended, 4xx).
export class ApiFailure extends Error {
  constructor(status, message, data) { super(message); this.status = status; this.data = data || {}; }
}

export function createApi(server) {
  const base = (server || "").replace(/\/$/, "");
  async function call(method, path, payload, token) {
    const headers = {};
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    let resp;
    try {
      resp = await fetch(base + path, { method, headers, body: payload === undefined ? undefined : JSON.stringify(payload) });
    } catch (err) {
      throw new ApiFailure(0, err.message || "network error");
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new ApiFailure(resp.status, data.error ? String(data.error) : `HTTP ${resp.status}`, data);
    return data;
  }
  return {
    get: (path, token) => call("GET", path, undefined, token),
    post: (path, payload, token) => call("POST", path, payload || {}, token),
  };
}
