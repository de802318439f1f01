// Vigil exam page: consent, camera + microphone over WebRTC, live status from the `vigil` channel.
"use strict";
(() => {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const state = { pc: null, channel: null, session: null, token: null, media: null };

  function setState(s) { body.dataset.vigilState = s; }
  // Once the exam is over the camera and microphone are released (the browser's camera light goes off)
  // and the preview and finish button go away.
  function stopMedia() {
    if (state.media) for (const track of state.media.getTracks()) track.stop();
    state.media = null;
    $("preview").srcObject = null;
  }
  function ended(text) {
    setState("ended"); // first, so the channel's close that follows is not taken for a lost connection
    if (state.pc) state.pc.close();
    stopMedia();
    $("finish").hidden = true;
    $("preview").parentElement.hidden = true;
    say(text, "info");
  }
  function say(text, kind) {
    const el = $("status");
    el.textContent = text;
    el.dataset.kind = kind || "info";
  }
  async function api(path, payload, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const resp = await fetch(path, { method: "POST", headers, body: JSON.stringify(payload) });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.error ? `${data.error}` : `HTTP ${resp.status}`);
    return data;
  }
  function waitForIce(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000); // non-trickle: send what we have after 3 s
    });
  }
  function sendSignal(event) {
    const ch = state.channel;
    if (ch && ch.readyState === "open") ch.send(JSON.stringify({ type: "browser", event }));
  }
  function showWarnings(events) {
    const list = $("warnings");
    for (const ev of events || []) {
      if (ev.end) continue;
      const li = document.createElement("li");
      li.textContent = `${ev.type.replace(/_/g, " ")} (${ev.severity})`;
      list.prepend(li);
      while (list.children.length > 5) list.lastChild.remove();
    }
  }
  function onMessage(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (window.VigilCalibration?.onMessage(msg, state.channel)) return; // calibration.* (static/calibration.js)
    if (msg.type === "analysis") {
      body.dataset.vigilFaces = String(msg.faces ?? "");
      if (msg.faces === 1) { say("Face found: you are being proctored.", "ok"); $("fact-face").textContent = "found"; }
      else if (msg.faces === 0) { say("No face found: please face the camera.", "warn"); $("fact-face").textContent = "not found"; }
      else if (msg.faces > 1) { say(`${msg.faces} faces found: only you should be in view.`, "warn"); $("fact-face").textContent = `${msg.faces} faces`; }
      if (msg.gaze && msg.gaze.direction) $("fact-gaze").textContent = msg.gaze.direction;
      if (msg.risk_score !== null && msg.risk_score !== undefined) $("fact-risk").textContent = String(Math.round(msg.risk_score));
      showWarnings(msg.events);
    } else if (msg.type === "warning") {
      say(msg.message, "warn");
    } else if (msg.type === "ended") {
      ended("The exam has ended.");
    }
  }
  async function start() {
    const candidate = $("candidate").value.trim() || "candidate-" + Math.random().toString(36).slice(2, 8);
    const joinCode = $("joincode").value.trim();
    setState("connecting");
    $("consent").hidden = true;
    $("live").hidden = false;
    say("Starting camera...");
    try {
      // Raw audio: voice detection must hear the room as it is (no gain control or suppression).
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 480, frameRate: 15 },
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      state.media = media;
      $("preview").srcObject = media;
      const created = await api("/api/sessions", joinCode ? { candidate_id: candidate, join_code: joinCode } : { candidate_id: candidate });
      state.session = created.session_id; state.token = created.token;
      const pc = new RTCPeerConnection({ iceServers: created.ice_servers || [] });
      state.pc = pc;
      for (const track of media.getTracks()) pc.addTrack(track, media);
      const channel = pc.createDataChannel("vigil");
      state.channel = channel;
      channel.onmessage = (e) => onMessage(e.data);
      channel.onopen = () => {
        setState("live"); say("Connected: looking for your face...");
        window.VigilCalibration?.attach(channel, { token: state.token, candidate });
      };
      channel.onclose = () => { if (body.dataset.vigilState !== "ended") { setState("error"); say("Connection lost.", "warn"); } };
      say("Connecting to the proctoring server...");
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIce(pc);
      const answer = await api(`/api/sessions/${state.session}/offer`, { sdp: pc.localDescription.sdp, type: "offer" }, state.token);
      await pc.setRemoteDescription(answer);
    } catch (err) {
      setState("error");
      say("Could not start: " + err.message, "warn");
    }
  }
  async function finish() {
    if (!state.session) return;
    let text = "The exam has ended. You may close this tab.";
    try { await api(`/api/sessions/${state.session}/end`, {}, state.token); }
    catch (err) { text = `The exam has ended here, but the server did not confirm it (${err.message}). You may close this tab.`; }
    ended(text);
  }
  document.addEventListener("visibilitychange", () => sendSignal(document.hidden ? "visibility_hidden" : "visibility_visible"));
  document.addEventListener("fullscreenchange", () => {
    if (document.fullscreenElement) return;
    // leaving a full screen the page opened for itself (calibration) is not the candidate's doing
    const own = window.VigilFullscreenOwner;
    window.VigilFullscreenOwner = undefined;
    if (!own) sendSignal("fullscreen_exit");
  });
  document.addEventListener("paste", () => sendSignal("paste"));
  window.addEventListener("pagehide", () => { if (state.pc) state.pc.close(); stopMedia(); });
  $("agree").addEventListener("click", start);
  $("finish").addEventListener("click", finish);
})();
