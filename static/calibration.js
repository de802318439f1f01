// Vigil gaze calibration overlay: instructions, the dot the server moves, progress, the result in
// plain words, Redo and Recentre. The server drives the sequence over the `vigil` data channel
// (calibration.target / calibration.result); this page only draws what it is told and reports the
// screen size. The client (vigil-client.js) calls window.VigilCalibration.onMessage(msg, channel) for every
// message and VigilCalibration.attach(channel, session) once the channel is open. The overlay is a dialog:
// it takes focus when it opens, Escape closes it.
//
// Screen size: browsers do not know the screen's physical size (a CSS px is 0.16-0.26 mm depending on
// the device), and without it the server claims no accuracy in degrees. The panel offers a card
// measurement: the candidate holds a bank or ID card (ID-1: 85.60 x 53.98 mm) against the screen and
// resizes an on-screen rectangle until it matches; mm per CSS px = 85.60 / the rectangle's width.
// The measurement is kept in localStorage for this screen (size and pixel ratio) and sent with
// calibration.start as screen_mm_w / screen_mm_h of the calibrated area.
//
// Words: every string is a key of static/i18n (cal.*), in the page's language; a result is told by its
// stable `code` (cal.result.<code>) with its numbers, and the server's English `message` is used only
// for a code the table does not know.
"use strict";
(() => {
  const body = document.body;
  let t = (key) => key; // until the table has loaded (long before anyone opens the overlay)
  import(new URL("./i18n/index.js", document.currentScript.src).href)
    .then((i18n) => { t = i18n.translator(); })
    .catch(() => { /* the keys show: visible, never blank */ });
  // required: the exam's policy wants one calibration attempt before the exam (vigil-proctor.js): the
  // overlay cannot be closed until a result arrives
  const st = { channel: null, session: null, overlay: null, running: false, prevState: "live", mmPerPx: null,
              ownFullscreen: false, returnFocus: null, required: false };
  const CARD_MM = [85.60, 53.98]; // ISO/IEC 7810 ID-1: bank cards, most ID cards
  const css0 = 25.4 / 96; // the CSS reference pixel: the starting guess for the rectangle
  function screenKey() {
    const s = window.screen || {};
    return `vigil.mmPerPx.${s.width || 0}x${s.height || 0}@${window.devicePixelRatio || 1}`;
  }
  try { const v = parseFloat(localStorage.getItem(screenKey()) || ""); if (v > 0.05 && v < 1) st.mmPerPx = v; }
  catch (_) { /* storage off: measure again */ }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  }

  function build() {
    if (st.overlay) return st.overlay;
    const o = el("div", { id: "calibration", role: "dialog", "aria-modal": "true", "aria-labelledby": "cal-title", hidden: "" });
    o.style.cssText = "position:fixed;inset:0;z-index:1000;background:#f4f5f7;color:#111;font:16px/1.5 system-ui,sans-serif";
    const panel = el("div", { id: "cal-panel" });
    panel.style.cssText = "max-width:36rem;margin:12vh auto;padding:1.5rem;background:#fff;border-radius:8px;box-shadow:0 2px 12px #0002";
    panel.append(
      el("h2", { id: "cal-title" }, t("cal.title")),
      el("p", { id: "cal-text" }, t("cal.intro")),
      el("p", { id: "cal-status", role: "status", "aria-live": "polite" }, ""));
    panel.append(buildCard());
    const buttons = el("div");
    const start = el("button", { id: "cal-start", type: "button" }, t("cal.start"));
    const redo = el("button", { id: "cal-redo", type: "button", hidden: "" }, t("cal.redo"));
    const recentre = el("button", { id: "cal-recentre", type: "button", hidden: "" }, t("cal.recentre"));
    const close = el("button", { id: "cal-close", type: "button" }, t("cal.close"));
    for (const b of [start, redo, recentre, close]) b.style.marginRight = "0.5rem";
    buttons.append(start, redo, recentre, close);
    panel.append(buttons);
    const dot = el("div", { id: "cal-dot", "aria-hidden": "true", hidden: "" });
    dot.style.cssText = "position:fixed;width:24px;height:24px;margin:-12px 0 0 -12px;border-radius:50%;" +
      "background:#d22;border:4px solid #fff;box-shadow:0 0 0 2px #d22;transition:left .25s ease,top .25s ease";
    const progress = el("div", { id: "cal-progress", "aria-live": "polite" });
    progress.style.cssText = "position:fixed;left:50%;bottom:2rem;transform:translateX(-50%);color:#555";
    o.append(panel, dot, progress);
    document.body.append(o);
    start.addEventListener("click", () => begin());
    redo.addEventListener("click", () => begin());
    recentre.addEventListener("click", () => recentreNow());
    close.addEventListener("click", () => hide());
    // a dialog: Escape closes it (a running calibration stops), like its Close button
    o.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); hide(); } });
    o.tabIndex = -1;
    st.overlay = o;
    return o;
  }

  function buildCard() {
    const box = el("details", { id: "cal-size" });
    box.append(el("summary", {}, t("cal.measure")));
    box.append(el("p", {}, t("cal.measure_how")));
    const card = el("div", { id: "cal-card", "aria-hidden": "true" });
    card.style.cssText = "background:#ccd;border:1px solid #667;border-radius:4px;margin:.5rem 0";
    const slider = el("input", { id: "cal-card-width", type: "range", min: "150", max: "700", step: "1",
      "aria-label": t("cal.rect_width") });
    const done = el("button", { id: "cal-card-done", type: "button" }, t("cal.card_done"));
    const note = el("p", { id: "cal-card-note", "aria-live": "polite" }, "");
    const draw = () => {
      const w = Number(slider.value);
      card.style.width = w + "px";
      card.style.height = Math.round(w * CARD_MM[1] / CARD_MM[0]) + "px";
    };
    slider.value = String(Math.round(CARD_MM[0] / (st.mmPerPx || css0)));
    slider.addEventListener("input", draw);
    done.addEventListener("click", () => {
      st.mmPerPx = CARD_MM[0] / Number(slider.value);
      try { localStorage.setItem(screenKey(), String(st.mmPerPx)); } catch (_) { /* kept for this page only */ }
      sizeNote();
    });
    draw();
    box.append(card, slider, done, note);
    return box;
  }
  function sizeNote() {
    const n = document.getElementById("cal-card-note");
    if (!n) return;
    n.textContent = st.mmPerPx
      ? t("cal.measured", { w: (window.innerWidth * st.mmPerPx / 10).toFixed(1),
                            h: (window.innerHeight * st.mmPerPx / 10).toFixed(1) })
      : t("cal.not_measured");
  }

  const $ = (id) => document.getElementById(id);
  function status(text) { $("cal-status").textContent = text; }

  function screenInfo() {
    const info = { screen_w: window.innerWidth, screen_h: window.innerHeight, dpr: window.devicePixelRatio || 1 };
    if (st.mmPerPx) { // the calibrated area's physical size, from the card measurement
      info.screen_mm_w = Math.round(window.innerWidth * st.mmPerPx * 10) / 10;
      info.screen_mm_h = Math.round(window.innerHeight * st.mmPerPx * 10) / 10;
    }
    return info;
  }

  async function postScreenInfo() {
    if (!st.session || !st.session.token) return;
    const s = window.screen || {};
    const payload = {
      candidate_id: st.session.candidate, screen_w: s.width || window.innerWidth, screen_h: s.height || window.innerHeight,
      dpr: window.devicePixelRatio || 1,
      window: { x: window.screenX || 0, y: window.screenY || 0, width: window.outerWidth || window.innerWidth,
                height: window.outerHeight || window.innerHeight },
    };
    try {
      await fetch("/api/screen/info", { method: "POST", headers: { "Content-Type": "application/json",
        Authorization: "Bearer " + st.session.token }, body: JSON.stringify(payload) });
    } catch (_) { /* the calibration still carries the viewport size */ }
  }

  function show() {
    const o = build();
    if (o.hidden) { // opening: the dialog takes focus, and gives it back when it closes
      st.returnFocus = document.activeElement;
      o.hidden = false;
      o.focus();
    }
    if (body.dataset.vigilState !== "calibrating") st.prevState = body.dataset.vigilState || "live";
    body.dataset.vigilState = "calibrating";
  }
  function hide() {
    if (!st.overlay || st.required) return;
    st.overlay.hidden = true;
    st.running = false;
    // leave only the full screen this overlay entered (the exam's own stays), and say it is ours
    if (st.ownFullscreen && document.fullscreenElement && document.exitFullscreen) {
      window.VigilFullscreenOwner = "calibration";
      document.exitFullscreen().catch(() => {});
    }
    st.ownFullscreen = false;
    if (st.returnFocus && st.returnFocus.focus) st.returnFocus.focus();
    st.returnFocus = null;
    if (body.dataset.vigilState === "calibrating") body.dataset.vigilState = st.prevState === "calibrating" ? "live" : st.prevState;
  }
  function panelVisible(visible) { $("cal-panel").hidden = !visible; }

  function send(msg) {
    const ch = st.channel;
    if (!ch || ch.readyState !== "open") { status(t("cal.not_connected")); return false; }
    ch.send(JSON.stringify({ type: msg.type, v: 1, ...msg })); // v: the data channel's version (vigil-client.js)
    return true;
  }

  async function begin(points) {
    show();
    try {
      if (document.documentElement.requestFullscreen && !document.fullscreenElement) {
        // this full screen is the page's own, for the dots: leaving it is not a violation (client/signals.js)
        window.VigilFullscreenOwner = "calibration";
        await document.documentElement.requestFullscreen();
        st.ownFullscreen = true;
      }
    }
    catch (_) { window.VigilFullscreenOwner = undefined; /* works in a window too; targets use the viewport */ }
    await new Promise((r) => setTimeout(r, 300)); // let the viewport settle after going full screen
    if (!send({ type: "calibration.start", points: points || 9, ...screenInfo() })) return;
    st.running = true;
    panelVisible(false);
    $("cal-progress").textContent = t("cal.starting");
  }
  function recentreNow() {
    show();
    if (!send({ type: "calibration.recentre" })) return;
    st.running = true;
    panelVisible(false);
    $("cal-progress").textContent = t("cal.look_centre");
  }

  function onTarget(msg) {
    show();
    panelVisible(false);
    const dot = $("cal-dot");
    dot.hidden = false;
    dot.style.left = msg.x + "px";
    dot.style.top = msg.y + "px";
    $("cal-progress").textContent = msg.recentre ? t("cal.look") : t("cal.dot", { n: msg.index + 1, total: msg.total });
  }

  // A calibration.result in the page's language, by its code and numbers (docs/data-channel.md).
  function resultText(msg) {
    const key = "cal.result." + msg.code;
    const px = msg.mean_error_px == null ? null : Math.round(msg.mean_error_px);
    const vars = {
      error: px == null ? "" : msg.assumed_pixel_size || msg.mean_error_deg == null
        ? t("cal.error_fraction", { px, pct: Math.round((msg.mean_error_screen_fraction || 0) * 100) })
        : t("cal.error_deg", { deg: msg.mean_error_deg.toFixed(1), px }),
      limit: msg.assumed_pixel_size || msg.limit_deg == null
        ? t("cal.limit_fraction", { pct: Math.round((msg.limit_screen_fraction || 0) * 100) })
        : t("cal.limit_deg", { deg: msg.limit_deg }),
      shift: msg.shift_px ? Math.round(Math.hypot(msg.shift_px.x, msg.shift_px.y)) : 0,
    };
    const needsError = msg.code === "calibration.accepted" || msg.code === "calibration.refused";
    const text = t(key, vars);
    return text === key || (needsError && px == null) ? msg.message || "" : text;
  }

  // A calibration result (a run, or a stored calibration checked): the attempt a required calibration
  // waits for; the page hears of it as a `vigil-calibration-attempt` event on the document.
  function attempted(msg) {
    const wasRequired = st.required;
    st.required = false;
    if (st.overlay) $("cal-close").hidden = false;
    document.dispatchEvent(new CustomEvent("vigil-calibration-attempt", { detail: { ok: !!msg.ok, code: msg.code } }));
    return wasRequired;
  }

  function onStored(msg) {
    // a stored calibration checked against how the candidate sits now: silent when reused
    if (msg.status === "reused") { if (attempted({ ok: true, code: msg.code })) hide(); return; }
    show();
    panelVisible(true);
    $("cal-start").hidden = msg.status !== "recalibrate_needed";
    $("cal-redo").hidden = true;
    $("cal-recentre").hidden = msg.status !== "recentre_needed";
    $("cal-title").textContent = t(msg.status === "recentre_needed" ? "cal.title_recentre_needed" : "cal.title_recalibrate");
    $("cal-text").textContent = resultText(msg);
    status("");
  }

  function onResult(msg) {
    if (msg.mode === "stored") return onStored(msg);
    attempted(msg);
    st.running = false;
    $("cal-dot").hidden = true;
    $("cal-progress").textContent = "";
    show();
    panelVisible(true);
    $("cal-start").hidden = true;
    $("cal-redo").hidden = false;
    $("cal-recentre").hidden = !(msg.ok || (msg.mode === "recentre" && msg.status !== "failed"));
    $("cal-title").textContent = t(msg.ok ? (msg.mode === "recentre" ? "cal.title_recentred" : "cal.title_accepted")
                                          : (msg.mode === "recentre" ? "cal.title_recentre_failed" : "cal.title_redo"));
    $("cal-text").textContent = resultText(msg);
    status(t(msg.ok ? "cal.can_close" : "cal.press_redo"));
    if (msg.ok) setTimeout(() => { if (!st.running) hide(); }, 4000);
  }

  // a button with id "calibrate" opens the overlay, whenever the page (or <vigil-proctor>) adds it
  document.addEventListener("click", (e) => {
    if (e.target instanceof Element && e.target.closest("#calibrate")) window.VigilCalibration.open();
  });

  window.VigilCalibration = {
    attach(channel, session) { st.channel = channel; st.session = session || null; postScreenInfo(); },
    open() { show(); panelVisible(true); $("cal-start").hidden = false; $("cal-redo").hidden = true; sizeNote(); },
    // Opens the overlay without a way out until one calibration attempt gave a result (the exam's
    // policy requires it); Close and Escape come back with the result.
    require() {
      st.required = true;
      this.open();
      $("cal-close").hidden = true;
      status(t("cal.required"));
    },
    start: begin,
    recentre: recentreNow,
    onMessage(msg, channel) {
      if (channel) st.channel = channel;
      if (!msg || typeof msg.type !== "string" || !msg.type.startsWith("calibration.")) return false;
      if (msg.type === "calibration.target") onTarget(msg);
      else if (msg.type === "calibration.result") onResult(msg);
      return true;
    },
  };
})();
