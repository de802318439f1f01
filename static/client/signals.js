// Browser signals sent on the data channel (docs/data-channel.md, `browser` messages): the tab hidden
// or shown, a paste, full screen left by the candidate, and a devtools heuristic.
//
// Full screen the page leaves by itself is not the candidate's doing: whoever exits or enters full
// screen for the page's own purposes (the calibration's dots, the client's finish) first sets
// window.VigilFullscreenOwner; the change that follows clears it and is not reported.
//
// Devtools: browsers do not tell; a docked devtools panel makes the window's outer size exceed the
// viewport by its width or height. Zoom and side panels can do the same, so only a large gap counts,
// only outside full screen, and it is reported once per opening.
const DEVTOOLS_GAP_PX = 200;
const DEVTOOLS_EVERY_MS = 2000;

function devtoolsLikelyOpen() {
  if (document.fullscreenElement) return false;
  const gapW = window.outerWidth - window.innerWidth;
  const gapH = window.outerHeight - window.innerHeight;
  return window.outerWidth > 0 && (gapW > DEVTOOLS_GAP_PX || gapH > DEVTOOLS_GAP_PX);
}

// Starts listening; returns the function that stops it.
export function watchBrowserSignals(send) {
  const onVisibility = () => send(document.hidden ? "visibility_hidden" : "visibility_visible");
  const onPaste = () => send("paste");
  const onFullscreen = () => {
    const own = window.VigilFullscreenOwner;
    if (document.fullscreenElement) return;
    window.VigilFullscreenOwner = undefined;
    if (!own) send("fullscreen_exit");
  };
  let devtoolsOpen = devtoolsLikelyOpen(); // open before the exam: reported at the first check
  if (devtoolsOpen) send("devtools");
  const devtoolsTimer = setInterval(() => {
    const open = devtoolsLikelyOpen();
    if (open && !devtoolsOpen) send("devtools");
    devtoolsOpen = open;
  }, DEVTOOLS_EVERY_MS);
  document.addEventListener("visibilitychange", onVisibility);
  document.addEventListener("paste", onPaste, true);
  document.addEventListener("fullscreenchange", onFullscreen);
  return () => {
    clearInterval(devtoolsTimer);
    document.removeEventListener("visibilitychange", onVisibility);
    document.removeEventListener("paste", onPaste, true);
    document.removeEventListener("fullscreenchange", onFullscreen);
  };
}

// Full screen for the exam (needs a click's user activation): leaving it later is reported.
export async function enterExamFullscreen() {
  if (document.fullscreenElement || !document.documentElement.requestFullscreen) return false;
  try { await document.documentElement.requestFullscreen(); return true; } catch (_) { return false; }
}

// The page's own exit (the exam is over): not reported.
export function leaveFullscreenQuietly() {
  if (!document.fullscreenElement || !document.exitFullscreen) return;
  window.VigilFullscreenOwner = "exam";
  document.exitFullscreen().catch(() => { window.VigilFullscreenOwner = undefined; });
}
