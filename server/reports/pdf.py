"""The session report as PDF (reportlab platypus): the AI's suggested verdict, the human decision and
flag reviews, facts, timeline chart, browser signals, the proctor's messages to the candidate, and the
events table with each event's evidence snapshot beside it.

"AI flags, humans decide": the automatic verdict is always labelled as the AI's suggestion; only a
reviewer's recorded decision (`server.reports.review`) is called a decision. Events are named by their
readable phrase (`pipeline.risk.events.EVENT_SPECS`), with the id beneath.

Everything comes from a `Report` (`server.reports.document`); this module only lays it out. Long sessions
make long event tables: `LongTable` splits them across pages with the header row repeated. Times are
shown in UTC, and events also relative to the session's start.
"""
from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import (
    CondPageBreak,
    Image,
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from pipeline.risk.coverage import REASON_PHRASES
from pipeline.risk.events import EVENT_SPECS
from server.reports.chart import SEVERITY_COLOURS, risk_timeline_png
from server.reports.document import Report

#: snapshots are embedded as the JPEG bytes they are; ASCII85 wrapping (pure Python without the C
#: accelerator) would cost ~0.1 s per image and make the PDF 25% larger, for 7-bit-clean output nobody needs.
rl_config.useA85 = 0

MARGIN = 15 * mm
PAGE_W, PAGE_H = A4
BODY_W = PAGE_W - 2 * MARGIN
THUMB_W = 38 * mm
#: room the events heading needs below it: its note and a first row with a snapshot
EVENTS_HEAD_ROOM = 60 * mm
VERDICT_COLOURS = {"CLEAR": "#2e7d32", "REVIEW": "#ef6c00", "CHEATING": "#c62828"}
DECISION_COLOURS = {"cleared": "#2e7d32", "inconclusive": "#546e7a", "violation": "#c62828"}
SKIP_REASONS = {"per_type": "over the per-type limit", "per_session": "over the per-session limit",
                "size": "over the size limit", "no_frame": "before the first analysed frame",
                "bad_id": "with an unusable event id"}
GRID = colors.HexColor("#d0d0d0")
HEADER_BG = colors.HexColor("#eceff1")
MUTED = colors.HexColor("#616161")

_styles = getSampleStyleSheet()
TITLE = ParagraphStyle("title", parent=_styles["Title"], fontSize=18, leading=22, alignment=0, spaceAfter=2)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontSize=12, leading=15, spaceBefore=8, spaceAfter=4)
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=9, leading=12)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
MUTED_STYLE = ParagraphStyle("muted", parent=SMALL, textColor=MUTED)
KEEP_H2 = ParagraphStyle("keep_h2", parent=H2, keepWithNext=1)
NOTE = ParagraphStyle("note", parent=MUTED_STYLE, spaceAfter=2 * mm)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=8, leading=10)
BIG = ParagraphStyle("big", parent=BODY, fontSize=20, leading=24, textColor=colors.white,
                     fontName="Helvetica-Bold")
BIG_SIDE = ParagraphStyle("bigside", parent=BODY, fontSize=9, leading=12, textColor=colors.white)


def _p(text: Any, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _utc(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _verdict_banner(report: Report) -> Table:
    v = report.verdict.model_dump() if report.verdict else {}
    name = str(v.get("verdict") or "PENDING")
    colour = colors.HexColor(VERDICT_COLOURS.get(name, "#616161"))
    side = ("session not ended: no suggestion yet" if not v else
            f"final risk {v.get('final_risk_score', '-')} &nbsp;&middot;&nbsp; peak {v.get('peak_risk', '-')}"
            f" &nbsp;&middot;&nbsp; mean {v.get('mean_risk', '-')} &nbsp;&middot;&nbsp; "
            f"{v.get('total_violations', 0)} flags<br/>the automatic verdict: a suggestion, not a decision")
    t = Table([[Paragraph(f"AI suggestion: {escape(name)}", BIG), Paragraph(side, BIG_SIDE)]],
              colWidths=[100 * mm, BODY_W - 100 * mm])
    t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), colour), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                           ("LEFTPADDING", (0, 0), (-1, -1), 8), ("TOPPADDING", (0, 0), (-1, -1), 7),
                           ("BOTTOMPADDING", (0, 0), (-1, -1), 7)]))
    return t


def _num(x: Any) -> str:
    return f"{round(float(x), 1):g}"


def _gaze_error(cal: Mapping[str, Any]) -> str | None:
    """e.g. "1.4 deg (48.5 px)"; without a measured screen, the share of its diagonal instead of degrees."""
    px = cal.get("mean_error_px")
    if not isinstance(px, (int, float)):
        return None
    deg, share = cal.get("mean_error_deg"), cal.get("mean_error_screen_fraction")
    if isinstance(deg, (int, float)):
        return f"{_num(deg)} deg ({_num(px)} px)"
    if isinstance(share, (int, float)):
        return f"{_num(px)} px ({_num(share * 100)} % of the screen, size unknown)"
    return f"{_num(px)} px"


def _calibration_text(cal: Mapping[str, Any]) -> str:
    """What a proctor needs of the gaze calibration, never the candidate's instructions: whether it
    worked, how it was obtained, and how far off gaze is, e.g. "Calibrated (9 points): gaze off by
    1.4 deg (48.5 px) on average, max 90 px; within the 3 deg limit"."""
    status = str(cal.get("status") or "not calibrated")
    if status == "not calibrated":
        return "Not calibrated: looking away judged without a gaze calibration"
    how = [f"{cal['points']} points"] if cal.get("points") else []
    attempts = cal.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        how.append(f"{attempts} attempts")
    if cal.get("source") == "stored":
        how.append("reused from an earlier sitting")
    text = ("Calibrated" if status == "calibrated" else f"Calibration {status}") + (f" ({', '.join(how)})" if how else "")
    error = _gaze_error(cal)
    if error is None:
        return text
    text += f": gaze off by {error} on average"
    if isinstance(cal.get("max_error_px"), (int, float)):
        text += f", max {_num(cal['max_error_px'])} px"
    deg, limit = cal.get("mean_error_deg"), cal.get("limit_deg")
    if isinstance(deg, (int, float)) and isinstance(limit, (int, float)):
        text += f"; {'within' if deg <= limit else 'over'} the {_num(limit)} deg limit"
    return text


def _coverage_text(report: Report) -> str:
    """e.g. "92 % (55 s); unobserved: disconnected 4 s, camera covered 1 s"."""
    v = report.verdict.model_dump() if report.verdict else {}
    cov, seen = v.get("coverage"), v.get("observed_seconds")
    head = "-" if not isinstance(cov, (int, float)) else f"{round(cov * 100):g} %"
    if isinstance(seen, (int, float)):
        head += f" ({_span(seen)})"
    gaps = sorted(((r, sec) for r, sec in (v.get("unobserved") or {}).items()
                   if isinstance(sec, (int, float)) and sec >= 0.05), key=lambda p: -p[1])
    if gaps:
        head += "; unobserved: " + ", ".join(f"{REASON_PHRASES.get(r, r)} {_seconds(sec)}" for r, sec in gaps)
    return head


def _seconds(sec: float) -> str:
    """A short span in seconds ("0.4 s"), a longer one as m:ss."""
    return f"{sec:.1f} s" if sec < 60 else _span(sec)


def _disconnections_text(report: Report) -> str:
    gone = [s for s in report.unobserved_spans if s.reason == "disconnected"]
    if not gone:
        return "none"
    total = sum(s.end - s.start for s in gone)
    return f"{len(gone)} ({_span(total)} in all)"


def event_label(event_type: str) -> str:
    """The event type's readable phrase ("other voice heard"), capitalised; the raw type when unknown."""
    spec = EVENT_SPECS.get(event_type)  # type: ignore[call-overload]
    phrase = spec.phrase if spec is not None else event_type.replace("_", " ")
    return phrase[:1].upper() + phrase[1:]


#: a raw event type inside the verdict's reasons ("... of 3 kinds: multiple_faces, phone"): only the types
#: with an underscore, as a one-word type ("phone") is already a word and begins its own phrase ("phone seen")
_EVENT_TYPE_WORD = re.compile(r"\b(" + "|".join(sorted((t for t in EVENT_SPECS if "_" in t), key=len, reverse=True))
                              + r")\b")


def readable_reason(reason: str) -> str:
    """A verdict reason with raw event types put in words ("multiple_faces" -> "multiple faces seen"); the
    verdict itself keeps the types, as the data channel's `ended` message carries them."""
    return _EVENT_TYPE_WORD.sub(lambda m: EVENT_SPECS[m.group(1)].phrase, reason)  # type: ignore[index]


def _facts(report: Report) -> Table:
    exam = report.exam_title or report.exam_id or "-"
    if report.exam_title and report.exam_id:
        exam = f"{report.exam_title} ({report.exam_id})"
    cal_text = _calibration_text(report.calibration)
    frames = report.counters.get("frames_analysed")
    pairs = [("Candidate", report.candidate_id or "-"), ("Exam", exam),
             ("Started", _utc(report.started_at)), ("Ended", _utc(report.ended_at)),
             ("Duration", _span(report.duration_s)), ("Status", report.status or "-"),
             ("Calibration", cal_text), ("Frames analysed", "-" if frames is None else f"{frames:,}"),
             ("Observed", _coverage_text(report)), ("Disconnections", _disconnections_text(report))]
    rows = [[_p(k1, SMALL), _p(v1, CELL), _p(k2, SMALL), _p(v2, CELL)]
            for (k1, v1), (k2, v2) in zip(pairs[::2], pairs[1::2], strict=True)]
    t = Table(rows, colWidths=[24 * mm, BODY_W / 2 - 24 * mm, 26 * mm, BODY_W / 2 - 26 * mm])
    t.setStyle(TableStyle([("TEXTCOLOR", (0, 0), (0, -1), MUTED), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID), ("TOPPADDING", (0, 0), (-1, -1), 3),
                           ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
    return t


def _thumb(folder: Path | None, name: str | None) -> Image | None:
    if folder is None or name is None:
        return None
    path = folder / name
    try:
        w, h = ImageReader(str(path)).getSize()
    except (OSError, ValueError):
        return None
    return Image(str(path), width=THUMB_W, height=THUMB_W * h / w)


def _events_table(report: Report, evidence_dir: Path | None) -> LongTable:
    """One row per event. Plain-string cells (not Paragraphs): a two-hour session has hundreds of rows,
    and strings lay out ~10x faster."""
    t0 = report.started_at
    marks = {f.event_id: f.status for f in report.review.flags}
    rows: list[list[Any]] = [["#", "Event", "Severity", "Start", "Duration", "Conf.", "Evidence"]]
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8), ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("LEADING", (0, 0), (-1, -1), 10), ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
    for i, e in enumerate(report.events, start=1):
        start = _clock(e.start) if t0 is None else f"+{_span(e.start - t0)}  ({_clock(e.start)})"
        dur = "open" if e.end is None or e.duration_s is None else (
            "instant" if e.duration_s == 0 else f"{e.duration_s:.1f} s")
        thumb = _thumb(evidence_dir, e.evidence)
        conf = "-" if e.confidence is None else f"{e.confidence:.2f}"
        mark = f"\nreviewer: {marks[e.id]}" if e.id in marks else ""
        rows.append([str(i), f"{event_label(e.type)}\n{e.id}{mark}", e.severity, start, dur, conf,
                     thumb if thumb is not None else (e.evidence_note or "-")])
        if thumb is None:
            style.append(("TEXTCOLOR", (6, i), (6, i), MUTED))
        colour = SEVERITY_COLOURS.get(e.severity)
        if colour:
            style.append(("LINEBEFORE", (0, i), (0, i), 3, colors.HexColor(colour)))
    widths = [10 * mm, 40 * mm, 17 * mm, 36 * mm, 18 * mm, 12 * mm]
    widths.append(BODY_W - sum(widths))
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(style))
    return table


def _browser_table(report: Report) -> Any:
    if not report.browser:
        return _p("No browser signals were reported.", BODY)
    rows = [[_p("Signal", SMALL), _p("Count", SMALL)]] + \
           [[_p(k.replace("_", " "), CELL), _p(v, CELL)] for k, v in sorted(report.browser.items())]
    t = Table(rows, colWidths=[60 * mm, 20 * mm], hAlign="LEFT")
    t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
                           ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID), ("TOPPADDING", (0, 0), (-1, -1), 2),
                           ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    return t


def _messages_table(report: Report) -> LongTable:
    """What proctors told the candidate during the session: when, who, the text, and whether it reached them."""
    t0 = report.started_at
    rows: list[list[Any]] = [[_p(h, SMALL) for h in ("At", "From", "Message", "Delivered")]]
    for m in report.proctor_messages:
        at = _clock(m.t) if t0 is None else f"+{_span(m.t - t0)}  ({_clock(m.t)})"
        rows.append([_p(at, CELL), _p(m.by.get("email") or "-", CELL), _p(m.text, CELL),
                     _p("yes" if m.delivered else "no (channel could not take it)", CELL)])
    widths = [30 * mm, 40 * mm, 80 * mm]
    widths.append(BODY_W - sum(widths))
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), HEADER_BG), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID), ("TOPPADDING", (0, 0), (-1, -1), 2),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    return table


def _evidence_line(report: Report) -> str:
    ev = report.evidence
    text = f"{ev['files']} evidence snapshots"
    if ev.get("clips"):
        text += f" and {ev['clips']} video clips (played on the review page)"
    if ev["skipped"]:
        why = ", ".join(f"{n} {SKIP_REASONS.get(r, r)}" for r, n in sorted(ev["skipped_by_reason"].items()))
        text += f"; {ev['skipped']} not kept ({why})"
    if ev["errors"]:
        text += f"; {ev['errors']} could not be written ({'; '.join(ev['error_messages'])})"
    return text + "."


def render_pdf(report: Report, evidence_dir: Path | None) -> bytes:
    """The report as PDF bytes (without thumbnails when there is no evidence folder). CPU-bound: run
    it in an executor."""
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN + 4 * mm, title=f"Vigil session report {report.session_id}",
                            author="Vigil")
    footer = partial(_footer, report.session_id)
    doc.build(_story(report, evidence_dir), onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def _footer(session_id: str, canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.setFillColor(MUTED)
    canvas.drawString(MARGIN, MARGIN - 2 * mm, f"Vigil session report  {session_id}")
    canvas.drawRightString(PAGE_W - MARGIN, MARGIN - 2 * mm, f"page {doc.page}")
    canvas.restoreState()


def _story(report: Report, evidence_dir: Path | None) -> list[Any]:
    """The report's flowables, top to bottom."""
    story: list[Any] = [
        Paragraph("Session report", TITLE),
        _p(f"Session {report.session_id}  ·  generated {_utc(report.generated_at)}", MUTED_STYLE),
        Spacer(1, 5 * mm), _verdict_banner(report), Spacer(1, 3 * mm), *_human_decision(report),
        Spacer(1, 4 * mm), _facts(report),
    ]
    reasons = report.verdict.reasons if report.verdict else []
    if reasons:
        story.append(Paragraph("Why the AI suggests this", H2))
        story += [Paragraph(f"&bull;&nbsp; {escape(readable_reason(str(r)))}", BODY) for r in reasons]
    story.append(_timeline_section(report))
    story.append(KeepTogether([Paragraph("Browser signals", H2), _browser_table(report)]))
    if report.proctor_messages:
        story += [Paragraph(f"Proctor messages ({len(report.proctor_messages)})", KEEP_H2),
                  _messages_table(report)]
    # no heading alone at a page's foot: a new page unless the heading, its note and a first row fit.
    # (keepWithNext would move the heading and the whole table, longer than a page, to the next page.)
    story.append(CondPageBreak(EVENTS_HEAD_ROOM))
    story.append(Paragraph(f"Events ({len(report.events)})", H2))
    story.append(Paragraph(escape(_evidence_line(report)), NOTE))
    story.append(_events_table(report, evidence_dir) if report.events else _p("No events.", BODY))
    return story


def _timeline_section(report: Report) -> KeepTogether:
    """The risk timeline chart with its heading and how many samples it shows."""
    png = risk_timeline_png(report.timeline, report.events, t0=report.started_at,
                            t_end=report.ended_at or report.generated_at, unobserved=report.unobserved_spans)
    chart_h = BODY_W * 3.3 / 7.2
    chart = Image(io.BytesIO(png), width=BODY_W, height=chart_h)
    return KeepTogether([Paragraph("Risk timeline", H2), chart,
                         _p(f"{report.timeline_source_points} one-second samples"
                            + (f", shown as {len(report.timeline)} points (peak risk, mean attention)"
                               if len(report.timeline) < report.timeline_source_points else ""),
                            MUTED_STYLE)])


def _human_decision(report: Report) -> list[Any]:
    """The reviewer's decision (or that there is none yet) and the flags they marked, with notes."""
    review = report.review.model_dump()
    decision = review.get("decision")
    out: list[Any] = [Paragraph("Human decision", KEEP_H2)]
    if decision is None:
        out.append(_p("No human decision recorded yet. The AI suggestion above is not a decision.", BODY))
    else:
        name = str(decision.get("decision", ""))
        colour = DECISION_COLOURS.get(name, "#616161")
        by = (decision.get("by") or {}).get("email", "-")
        head = Paragraph(f'<font color="{colour}"><b>{escape(name.capitalize())}</b></font>'
                         f'&nbsp;&nbsp;<font color="#616161">by {escape(str(by))}, {_utc(decision.get("at"))}</font>',
                         ParagraphStyle("decision", parent=BODY, fontSize=12, leading=16))
        out.append(head)
        if decision.get("note"):
            out.append(_p(decision["note"], BODY))
    flags = review.get("flags") or []
    total = len(flags) + len(review.get("unreviewed") or [])
    if total:
        out.append(_p(f"{len(flags)} of {total} flags reviewed.", MUTED_STYLE))
    if flags:
        out.append(_flag_reviews(flags))
    return out


def _flag_reviews(flags: list[dict[str, Any]]) -> LongTable:
    rows: list[list[Any]] = [[_p(h, SMALL) for h in ("Flag", "Review", "Note", "By")]]
    for f in flags:
        rows.append([_p(f"{event_label(str(f.get('type', '')))} ({f.get('event_id')})", CELL),
                     _p(str(f.get("status", "")).capitalize(), CELL), _p(f.get("note") or "-", CELL),
                     _p(f"{(f.get('by') or {}).get('email', '-')}, {_utc(f.get('at'))}", CELL)])
    widths = [42 * mm, 18 * mm, 70 * mm]
    widths.append(BODY_W - sum(widths))
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), HEADER_BG), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID), ("TOPPADDING", (0, 0), (-1, -1), 2),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    return table
