// A minimal publisher page script, run by the interop browser tests inside a Vigil page (same origin):
// the documented flow (POST /api/sessions, a `vigil` data channel, non-trickle POST .../offer), no SDP
// edits. Video is the fake camera, or (clipUrl) a clip played in a muted <video> and captured;
// audio is the fake microphone. window.vigil collects the analyses with the page's clock.
window.vigilPublish = async ({ clipUrl }) => {
  const state = (window.vigil = { analyses: [], answer: null, pc: null, sid: null });
  const devices = await navigator.mediaDevices.getUserMedia({ audio: true, video: !clipUrl });
  let video = devices.getVideoTracks()[0];
  if (clipUrl) {
    const element = document.createElement("video");
    element.muted = true;
    element.loop = true;
    element.src = URL.createObjectURL(await (await fetch(clipUrl)).blob());
    document.body.appendChild(element);
    await element.play();
    const stream = element.captureStream ? element.captureStream() : element.mozCaptureStream();
    for (let i = 0; !stream.getVideoTracks().length && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    video = stream.getVideoTracks()[0];
  }
  const created = await (await fetch("/api/sessions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ candidate_id: "interop" }),
  })).json();
  state.sid = created.session_id;
  const pc = (state.pc = new RTCPeerConnection());
  pc.addTrack(video, new MediaStream([video]));
  pc.addTrack(devices.getAudioTracks()[0], devices);
  const channel = pc.createDataChannel("vigil");
  channel.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "analysis") state.analyses.push([performance.now(), message.faces]);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const response = await fetch(`/api/sessions/${created.session_id}/offer`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${created.token}` },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }),
  });
  if (!response.ok) throw new Error(`offer: ${response.status} ${await response.text()}`);
  const answer = await response.json();
  state.answer = answer.sdp;
  await pc.setRemoteDescription(answer);
  return created.session_id;
};

// Analyses within `windowMs` of the first one: [count, faces...] as JSON, or null before the first.
window.vigilMeasured = (windowMs) => {
  const all = window.vigil.analyses;
  if (!all.length) return null;
  const faces = all.filter(([at]) => at - all[0][0] <= windowMs).map(([, f]) => f);
  return JSON.stringify({ first: all[0][0], last: all[all.length - 1][0], now: performance.now(), faces });
};

// The video sender's outbound-rtp bytesSent (headers excluded) and its timestamp in ms, as JSON.
window.vigilOutboundVideo = async () => {
  for (const s of (await window.vigil.pc.getStats()).values()) {
    if (s.type === "outbound-rtp" && s.kind === "video") return JSON.stringify({ bytes: s.bytesSent, at: s.timestamp });
  }
  return null;
};
