// The candidate's page of an LTI launch (server/http/lti/pages.py): the embedded client
// (vigil-client.js, docs/embedding.md) on the session the launch made for this LMS user. The session
// id and token come in the page's `vigil-launch` JSON; the client keeps them for a reload of the tab.
import { VigilClient } from "./vigil-client.js";

const launch = JSON.parse(document.getElementById("vigil-launch").textContent);
const warnings = document.getElementById("vigil-warnings");
const show = (id, visible) => { document.getElementById(id).hidden = !visible; };

function begin() {
  const client = VigilClient.start({
    server: "",
    sessionId: launch.sessionId,
    joinToken: launch.token,          // the launch's session token: the session exists already
    candidateId: launch.candidateId,
    container: document.getElementById("vigil-camera"),
    onstatus: ({ state, message }) => {
      document.body.dataset.vigilState = state;
      document.getElementById("vigil-status").textContent = message;
      show("finish", state === "live");
      show("calibrate", state === "live" && Boolean(window.VigilCalibration));
    },
    onwarning: ({ code, active, message }) => {
      const item = [...warnings.children].find((li) => li.dataset.code === code);
      if (!active) return item?.remove();
      if (!item) warnings.append(Object.assign(document.createElement("li"), { textContent: message, dataset: { code } }));
    },
  });
  document.getElementById("finish").onclick = () => client.finish();
  show("start", false);
}

document.getElementById("start").addEventListener("click", begin);
const saved = VigilClient.savedSession();
if (saved && saved.id === launch.sessionId) begin(); // a reload during the activity resumes it
