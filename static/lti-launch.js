// The candidate's page of an LTI launch (server/http/lti/pages.py): the <vigil-proctor> element
// (vigil-proctor.js, docs/embedding.md) on the session the launch made for this LMS user. The session
// id and token come in the page's `vigil-launch` JSON and go to the element's `session-id` and
// `session-token` before it is defined: it then makes no session of its own, runs consent and the
// system check on this one, and after a reload of the tab resumes it.
const launch = JSON.parse(document.getElementById("vigil-launch").textContent);
const proctor = document.getElementById("proctor");
proctor.setAttribute("session-id", launch.sessionId);
proctor.setAttribute("session-token", launch.token);
proctor.setAttribute("candidate-id", launch.candidateId);
await import("./vigil-proctor.js");
