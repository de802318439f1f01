"""The end-of-session verdict: CLEAR, REVIEW or CHEATING, with the reasons spelled out.

Rules (thresholds in `VerdictPolicy`; a count rule set to 0 is off):

- CHEATING when peak risk >= `cheating_peak_risk`, or mean (time-averaged) risk >=
  `cheating_mean_risk`, or high-severity events >= `cheating_high_events`, or distinct
  high-severity event types >= `cheating_distinct_high_types` (a phone *and* another person).
- otherwise REVIEW when peak >= `review_peak_risk`, mean >= `review_mean_risk`, or events of a
  severity reach `review_{high,medium,low}_events`.
- otherwise CLEAR.

Coverage: a session never observed at all (no usable analysed video), or observed for less than
`min_coverage` of its time with at least `min_unobserved_seconds` unobserved, is never CLEAR: it
becomes REVIEW, and the reason says how long it was unobserved and why ("unobserved 100 s of
161 s (coverage 38 % < 80 %): no video frames 60 s, disconnected 40 s"). CHEATING stays CHEATING,
with the coverage line among its reasons.

`reasons` lists every rule that fired for the chosen verdict, then one line per event type seen,
e.g. "phone seen 2 times (total 14 s)" (the phrase is the type's `EventSpec.phrase`); a CLEAR
verdict explains why it is clear.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pipeline.risk.coverage import REASON_PHRASES, CoverageLedger
from pipeline.risk.events import EVENT_SPECS
from pipeline.risk.messages import EVENT_TYPES, SEVERITIES, Decision, Event, Verdict
from pipeline.risk.policy import VerdictPolicy


def _fmt(x: float) -> str:
    return f"{round(x, 1):g}"


def _times(n: int) -> str:
    return "1 time" if n == 1 else f"{n} times"


def _type_lines(events: tuple[Event, ...]) -> list[str]:
    lines = []
    for kind in EVENT_TYPES:
        mine = [e for e in events if e.type == kind]
        if not mine:
            continue
        spec = EVENT_SPECS[kind]
        line = f"{spec.phrase} {_times(len(mine))}"
        if not spec.instant:
            total = sum(e.duration or 0.0 for e in mine)
            line += f" (total {_fmt(total)} s)"
        lines.append(line)
    return lines


def _fired(
    rules: VerdictPolicy, stage: str, peak: float, mean: float, sev: Counter[str], high_types: Sequence[str]
) -> list[str]:
    """Messages for each `stage` ("review" / "cheating") rule that holds."""
    out = []
    peak_at = getattr(rules, f"{stage}_peak_risk")
    mean_at = getattr(rules, f"{stage}_mean_risk")
    if peak >= peak_at:
        out.append(f"peak risk {_fmt(peak)} >= {_fmt(peak_at)}")
    if mean >= mean_at:
        out.append(f"mean risk {_fmt(mean)} >= {_fmt(mean_at)}")
    levels = ("high",) if stage == "cheating" else ("high", "medium", "low")
    for level in levels:
        need = getattr(rules, f"{stage}_{level}_events")
        if need and sev[level] >= need:
            out.append(f"{sev[level]} {level}-severity events (>= {need})")
    if stage == "cheating" and rules.cheating_distinct_high_types:
        if len(high_types) >= rules.cheating_distinct_high_types:
            out.append(f"high-severity violations of {len(high_types)} kinds: {', '.join(high_types)}")
    return out


def coverage_reason(rules: VerdictPolicy, coverage: CoverageLedger | None) -> str | None:
    """The reason a session was not watched enough to be CLEAR, or None when it was."""
    if coverage is None:
        return None
    total, observed = coverage.total_seconds, coverage.observed_seconds
    unobserved = coverage.unobserved()
    why = ", ".join(f"{REASON_PHRASES[s]} {_fmt(v)} s" for s, v in sorted(unobserved.items(), key=lambda kv: -kv[1]))
    if observed <= 0:
        return f"never observed: no usable video in {_fmt(total)} s" + (f" ({why})" if why else "")
    share = observed / total if total > 0 else 1.0
    missing = total - observed
    if share >= rules.min_coverage or missing < rules.min_unobserved_seconds:
        return None
    return (f"unobserved {_fmt(missing)} s of {_fmt(total)} s "
            f"(coverage {round(100 * share)} % < {round(100 * rules.min_coverage)} %): {why}")


def decide(
    rules: VerdictPolicy,
    events: tuple[Event, ...],
    *,
    final_risk: float,
    peak_risk: float,
    mean_risk: float,
    duration: float,
    coverage: CoverageLedger | None = None,
) -> Verdict:
    """Apply the rules in the module docstring to a finished session."""
    sev: Counter[str] = Counter(e.severity for e in events)
    high_types = [k for k in EVENT_TYPES if any(e.type == k and e.severity == "high" for e in events)]
    decision: Decision = "CLEAR"
    reasons = _fired(rules, "cheating", peak_risk, mean_risk, sev, high_types)
    if reasons:
        decision = "CHEATING"
    else:
        reasons = _fired(rules, "review", peak_risk, mean_risk, sev, high_types)
        decision = "REVIEW" if reasons else "CLEAR"
    unwatched = coverage_reason(rules, coverage)
    if unwatched is not None:
        if decision == "CLEAR":
            decision, reasons = "REVIEW", []
        reasons = [unwatched, *reasons]
    if decision == "CLEAR":
        reasons = [
            "no violations" if not events else f"{len(events)} minor violation(s) below review thresholds",
            f"peak risk {_fmt(peak_risk)} < {_fmt(rules.review_peak_risk)}, "
            f"mean risk {_fmt(mean_risk)} < {_fmt(rules.review_mean_risk)}",
        ]
    counts: dict[str, int] = {kind: sum(1 for e in events if e.type == kind) for kind in EVENT_TYPES}
    return Verdict(
        verdict=decision,
        reasons=tuple(reasons + _type_lines(events)),
        final_risk_score=final_risk,
        peak_risk=peak_risk,
        mean_risk=mean_risk,
        total_violations=len(events),
        duration_seconds=duration,
        counts=counts,
        severity_counts={level: sev[level] for level in SEVERITIES},
        events=events,
        observed_seconds=0.0 if coverage is None else coverage.observed_seconds,
        coverage=None if coverage is None else coverage.coverage(),
        unobserved={} if coverage is None else {str(k): v for k, v in coverage.unobserved().items()},
        unobserved_spans=() if coverage is None else tuple((s[0], s[1], s[2]) for s in coverage.spans),
    )
