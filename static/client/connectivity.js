// The system check's network test: can this browser reach the session's ICE servers? A throwaway peer
// connection gathers candidates through them; nothing is sent to Vigil itself.
//
// - TURN configured: gather with iceTransportPolicy "relay". A relayed candidate proves the relay
//   answers over this network with this session's credentials: the path that still works on networks
//   that block everything else. None: the network blocks it (unreachable), or the relay refused the
//   credentials (an `icecandidateerror` 401/403: the server's fault, not the candidate's).
// - Only STUN: a server-reflexive candidate proves UDP reaches the outside; without one, video calls
//   are probably blocked (a direct connection may still work, so this is a warning).
// - Nothing configured (a LAN, a dev machine): host candidates are all there is to test.
//
// The answer is { ok, code }: `code` is a key of static/i18n (net.*) saying in plain words what is
// wrong and what to do.

// How long gathering may take. A relay answers in well under a second; an unreachable one never does.
const GATHER_TIMEOUT_MS = 6000;
// TURN answers that mean "wrong credentials" (RFC 8656): the server is misconfigured, not the network.
const REFUSED = [401, 403, 437, 441];

const urlsOf = (server) => [].concat(server.urls || []);
const hasScheme = (server, re) => urlsOf(server).some((url) => re.test(url));

export async function testConnectivity(iceServers, { timeoutMs = GATHER_TIMEOUT_MS } = {}) {
  const turn = iceServers.filter((s) => hasScheme(s, /^turns?:/i));
  const stun = iceServers.filter((s) => hasScheme(s, /^stun:/i));
  if (turn.length) {
    const { types, errors } = await gather({ iceServers: turn, iceTransportPolicy: "relay" }, "relay", timeoutMs);
    if (types.has("relay")) return { ok: true, code: "net.ok" };
    const refused = errors.some((e) => REFUSED.includes(e.errorCode) || e.errorCode === "config");
    return { ok: false, code: refused ? "net.relay_refused" : "net.blocked" };
  }
  if (stun.length) {
    const { types } = await gather({ iceServers: stun }, "srflx", timeoutMs);
    return types.has("srflx") ? { ok: true, code: "net.ok" } : { ok: false, code: "net.udp_blocked" };
  }
  const { types } = await gather({ iceServers: [] }, "host", timeoutMs);
  return types.has("host") ? { ok: true, code: "net.ok" } : { ok: false, code: "net.offline" };
}

// Gathers until a candidate of type `wanted` appears, gathering completes, or the time is up; resolves
// to the candidate types seen and the gathering errors.
function gather(config, wanted, timeoutMs) {
  const types = new Set();
  const errors = [];
  let pc;
  try {
    pc = new RTCPeerConnection(config);
  } catch (err) { // a malformed ICE server entry: the server's configuration
    errors.push({ errorCode: "config", errorText: String(err && err.message) });
    return Promise.resolve({ types, errors });
  }
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); pc.close(); resolve({ types, errors }); };
    const timer = setTimeout(done, timeoutMs);
    pc.onicecandidate = (e) => {
      if (!e.candidate) { done(); return; } // gathering complete
      const type = e.candidate.type || (/ typ (\w+)/.exec(e.candidate.candidate) || [])[1];
      if (type) types.add(type);
      if (type === wanted) done();
    };
    pc.onicecandidateerror = (e) => errors.push({ errorCode: e.errorCode, errorText: e.errorText, url: e.url });
    pc.createDataChannel("vigil-check"); // something to negotiate, so gathering starts
    pc.createOffer().then((offer) => pc.setLocalDescription(offer)).catch(done);
  });
}
