// Browser signals sent on the data channel (docs/data-channel.md, `browser` messages): the tab hidden
// or shown, the window's focus lost and regained while the tab stays visible, a paste, a copy, full
// screen left by the candidate, a devtools heuristic, and a second screen where the browser tells.
//
// Focus: `blur` also fires when the focus moves into a frame of the page (an embedded exam) and just
// before a tab is hidden; so the check waits FOCUS_SETTLE_MS and reports only a window that is still
// visible and truly without focus (`document.hasFocus()` is true while a child frame has it). A hidden
// tab is `visibility_hidden`'s to report.
//
// Second screen: `screen.isExtended` (Chromium; undefined elsewhere, then nothing is sent) is true
// when the device has more than one screen; reported at the start and each time it turns true
// (the screen's `change` event).
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
const FOCUS_SETTLE_MS = 300;

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
  const onCopy = () => send("copy");
  let unfocused = false;
  let focusTimer = 0;
  const onBlur = () => {
    clearTimeout(focusTimer);
    focusTimer = setTimeout(() => {
      if (unfocused || document.hidden || document.hasFocus()) return;
      unfocused = true;
      send("focus_lost");
    }, FOCUS_SETTLE_MS);
  };
  const onFocus = () => {
    clearTimeout(focusTimer);
    if (!unfocused) return;
    unfocused = false;
    send("focus_regained");
  };
  let extended = window.screen?.isExtended === true;
  if (extended) send("second_screen");
  const onScreenChange = () => {
    const now = window.screen.isExtended === true;
    if (now && !extended) send("second_screen");
    extended = now;
  };
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
  document.addEventListener("copy", onCopy, true);
  document.addEventListener("fullscreenchange", onFullscreen);
  window.addEventListener("blur", onBlur);
  window.addEventListener("focus", onFocus);
  window.screen?.addEventListener?.("change", onScreenChange);
  return () => {
    clearInterval(devtoolsTimer);
    clearTimeout(focusTimer);
    document.removeEventListener("visibilitychange", onVisibility);
    document.removeEventListener("paste", onPaste, true);
    document.removeEventListener("copy", onCopy, true);
    document.removeEventListener("fullscreenchange", onFullscreen);
    window.removeEventListener("blur", onBlur);
    window.removeEventListener("focus", onFocus);
    window.screen?.removeEventListener?.("change", onScreenChange);
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
