// A session's timeline as inline SVG, from report.json: risk (red) and attention (blue) over time on a 0..100
// scale with headroom above 100 so a full-attention line never merges into the border, the unobserved spans
// shaded (disconnections darker), one band row per flagged event type, coloured by severity, and a mark on the
// plot's top edge at each proctor message to the candidate (hover: who and what). Pure: the
// report in, an <svg> out; each shape carries a <title> so hovering says what it is.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const TL = { width: 1000, left: 96, right: 10, top: 12, plot: 150, laneGap: 8, lane: 14 };
const SEVERITY_COLOUR = { high: "#b3261e", medium: "#c98a00", low: "#6b7a8f" };
const MESSAGE_COLOUR = "#6a3fb5";

function svgEl(tag, attrs = {}, title = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (title) { const t = document.createElementNS(SVG_NS, "title"); t.textContent = title; node.append(t); }
  return node;
}

// The time the chart spans: the session's start to its end, widened to whatever the points and events cover.
function timeSpan(report) {
  const ts = [report.started_at, report.created_at, report.ended_at, ...report.timeline.map((p) => p.t),
    ...report.events.map((e) => e.start)].filter((t) => t != null);
  const t0 = report.started_at || Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
  return [t0, t1];
}

// Polylines of consecutive points with a value (attention is null while no face is seen).
function lines(points, value, x, y) {
  const out = []; let run = [];
  for (const p of points) {
    const v = value(p);
    if (v == null) { if (run.length) out.push(run); run = []; } else run.push(`${x(p.t).toFixed(1)},${y(v).toFixed(1)}`);
  }
  if (run.length) out.push(run);
  return out;
}

function drawTimeline(report) {
  const [t0, t1] = timeSpan(report);
  const types = [...new Set(report.events.map((e) => e.type))];
  const bandsTop = TL.top + TL.plot + 22;
  const height = bandsTop + Math.max(1, types.length) * (TL.lane + 2) + TL.laneGap;
  const x = (t) => TL.left + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (TL.width - TL.left - TL.right);
  const y = (v) => TL.top + TL.plot - (Math.min(Math.max(v, 0), 100) / 110) * TL.plot;  // 100 sits below the top
  const svg = svgEl("svg", { viewBox: `0 0 ${TL.width} ${height}`, width: "100%", role: "img", class: "timeline",
    "aria-label": `Risk and attention over ${clock(t1 - t0)}, ${report.events.length} flags, ` +
      `${report.unobserved_spans.length} unobserved spans` });
  svg.append(svgEl("rect", { x: TL.left, y: TL.top, width: TL.width - TL.left - TL.right, height: TL.plot,
    fill: "#fff", stroke: "#c9ced6" }));
  for (const s of report.unobserved_spans) {
    const dark = s.reason === "disconnected";
    svg.append(svgEl("rect", { x: x(s.start), y: TL.top, width: Math.max(1, x(s.end) - x(s.start)), height: TL.plot,
      fill: dark ? "#9aa3ae" : "#dfe3e8", "fill-opacity": dark ? 0.55 : 0.8, class: "unobserved", "data-reason": s.reason },
    `Not observed (${s.reason.replace(/_/g, " ")}): ${clock(s.start - t0)}–${clock(s.end - t0)}`));
  }
  for (const v of [0, 30, 60, 100]) {
    svg.append(svgEl("line", { x1: TL.left, x2: TL.width - TL.right, y1: y(v), y2: y(v), stroke: "#eceff3",
      "stroke-dasharray": v === 30 || v === 60 ? "4 3" : "" }));
    const label = svgEl("text", { x: TL.left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6573" });
    label.textContent = String(v); svg.append(label);
  }
  let lastTick = "";
  for (let i = 0; i <= 5; i += 1) {
    const t = t0 + ((t1 - t0) * i) / 5;
    if (clock(t - t0) === lastTick) continue;  // a session of a few seconds has fewer distinct ticks
    lastTick = clock(t - t0);
    const label = svgEl("text", { x: x(t), y: TL.top + TL.plot + 14, "text-anchor": i === 0 ? "start" : i === 5 ? "end" : "middle",
      "font-size": 11, fill: "#5b6573" });
    label.textContent = clock(t - t0); svg.append(label);
  }
  const series = [["risk", (p) => p.risk, "#b3261e", ""], ["attention", (p) => p.attention, "#2f6fd6", "5 3"]];
  for (const [name, value, colour, dash] of series) {
    for (const run of lines(report.timeline, value, x, y)) {
      if (run.length === 1) {  // a lone point between gaps: a dot, a one-point line would not show
        const [cx, cy] = run[0].split(",");
        svg.append(svgEl("circle", { cx, cy, r: 2.5, fill: colour, class: `series-${name}` }));
      } else {
        svg.append(svgEl("polyline", { points: run.join(" "), fill: "none", stroke: colour, "stroke-width": 2,
          "stroke-dasharray": dash, class: `series-${name}` }));
      }
    }
  }
  for (const m of report.proctor_messages || []) {  // a small downward triangle over the plot's top edge
    const mx = x(m.t);
    svg.append(svgEl("path", { d: `M${(mx - 5).toFixed(1)},${TL.top - 8} h10 l-5,9 z`, fill: MESSAGE_COLOUR,
      class: "proctor-message", "data-t": m.t },
    `Proctor message at ${clock(m.t - t0)} from ${m.by.email || m.by.user_id}${m.delivered ? "" : " (not delivered)"}: ${m.text}`));
  }
  types.forEach((type, lane) => {
    const top = bandsTop + lane * (TL.lane + 2);
    const name = readable(type);
    const label = svgEl("text", { x: TL.left - 6, y: top + TL.lane - 3, "text-anchor": "end", "font-size": 10, fill: "#5b6573" },
      name.length > 15 ? name : null);
    label.append(name.length > 15 ? `${name.slice(0, 14)}…` : name); svg.append(label);
    for (const e of report.events.filter((ev) => ev.type === type)) {
      const end = e.end == null ? t1 : e.end;
      svg.append(svgEl("rect", { x: x(e.start), y: top, width: Math.max(4, x(end) - x(e.start)), height: TL.lane, rx: 2,
        fill: SEVERITY_COLOUR[e.severity] || SEVERITY_COLOUR.low, class: "flag-band", "data-event-id": e.id },
      `${readable(e.type)} (${e.severity}) at ${clock(e.start - t0)}` + (e.duration_s ? ` for ${e.duration_s.toFixed(1)} s` : "")));
    }
  });
  return svg;
}
