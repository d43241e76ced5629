"""report.html: one self-contained page an auditor can open offline.

Verdict first, then what went wrong, the objectives (RTO/RPO against targets), the checks
(failures first), a timeline of the phases per store, the RTO/RPO trend, the backup lineage,
the controls each check evidences and the environment. Inline CSS and inline SVG only: no
script, no external URL; a Content-Security-Policy forbids loading anything.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from html import escape
from typing import Any

from harness.evidence.history import HistoryEntry, Trend
from harness.evidence.views import (
    VERDICT_LABEL,
    backup_age_seconds,
    backup_time,
    duration_seconds,
    fmt_measured,
    fmt_seconds,
    fmt_size,
    headline,
    objectives,
    ordered_checks,
    parse_time,
    run_failed,
    verdict_of,
)
from harness.records import CheckResult, Phase, RunRecord

# Lanes of the timeline in runbook order; stores not listed follow in order of appearance.
STORE_ORDER = ("scratch", "catalog", "master-key", "postgres", "wal", "basebackup", "objects",
               "warehouse", "checks", "teardown")

_CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--cnv:#9a6700;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;margin:0;
 padding:0 0 40px}
main{max-width:1180px;margin:0 auto;padding:0 20px}
h1{font-size:30px;margin:0}
h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
.banner{color:#fff;padding:22px 20px 18px;margin-bottom:18px}
.banner .inner{max-width:1180px;margin:0 auto}
.banner .label{font-size:42px;font-weight:800;letter-spacing:.02em}
.banner .headline{font-size:18px;font-weight:600;margin-top:2px}
.banner dl{display:flex;flex-wrap:wrap;gap:4px 26px;margin:12px 0 0;font-size:13px;opacity:.95}
.banner dt{font-weight:600;display:inline}.banner dd{display:inline;margin:0 0 0 6px}
.v-pass{background:var(--pass)}.v-fail{background:var(--fail)}.v-could-not-verify{background:var(--cnv)}
.runerror{background:#ffebe9;border:2px solid var(--fail);padding:10px 14px;margin:10px 0;
 font-weight:600}
.problems{border-left:6px solid var(--fail);background:#fff5f5;padding:10px 16px;margin:8px 0}
.problems.cnv{border-color:var(--cnv);background:#fff8e6}
.problems li{margin:6px 0}
.msgline{white-space:pre-wrap}
.warn{border-left:6px solid var(--cnv);background:#fff8e6;padding:8px 14px;margin:8px 0}
.note{border-left:6px solid var(--line);background:var(--bg);padding:8px 14px;margin:8px 0}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{background:var(--bg);font-weight:600}
td.msg{white-space:pre-wrap;word-break:break-word}
/* The message is what a reader needs: it takes the room; measured values and controls fold. */
#checks-table{table-layout:fixed}
#checks-table col.c-verdict{width:92px}#checks-table col.c-check{width:21%}
#checks-table col.c-msg{width:52%}#checks-table col.c-time{width:64px}
#checks-table details{font-size:12.5px}#checks-table summary{cursor:pointer;color:#0969da}
#checks-table .mono{word-break:break-all}
#checks-table td.nowrap{white-space:nowrap}
svg{max-width:100%;height:auto}
td,th{overflow-wrap:anywhere}
@media (max-width:760px){
 main{padding:0 10px}.banner{padding:16px 10px 14px}.banner .label{font-size:32px}
 #checks-table,#checks-table tbody,#checks-table tr,#checks-table td{display:block;width:100%}
 #checks-table colgroup,#checks-table tr.head{display:none}
 #checks-table tr{border-bottom:2px solid var(--line);padding:4px 0}
 #checks-table td{border:0;padding:3px 6px}
 .kv th{width:38%}
 #lineage-table td:nth-child(6),#lineage-table th:nth-child(6),
 #lineage-table td:nth-child(7),#lineage-table th:nth-child(7){display:none}
 #controls-table td:nth-child(2),#controls-table th:nth-child(2){display:none}
 #objectives-table td:nth-child(5),#objectives-table th:nth-child(5){display:none}
}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{font-size:11px}main,.banner .inner,footer{max-width:none}nav{display:none}
 tr,.problems,svg{break-inside:avoid}h2{break-after:avoid}
}
#lineage-table .mono{word-break:break-all}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;color:#fff;font-size:12px;
 font-weight:700;white-space:nowrap}
.p-pass{background:var(--pass)}.p-fail{background:var(--fail)}.p-could-not-verify{background:var(--cnv)}
.p-missed{background:var(--fail)}.p-met{background:var(--pass)}
.p-none{background:var(--muted)}
tr.r-fail td{background:#fff5f5}tr.r-could-not-verify td{background:#fffbeb}
.muted{color:var(--muted)}.nowrap{white-space:nowrap}
nav{font-size:13px;margin:4px 0 0}nav a{margin-right:12px;color:#0969da}
svg text{font-family:system-ui,sans-serif}
.kv th{width:240px}
.legend{font-size:12px;color:var(--muted)}.legend span{margin-right:14px}
.legend i{display:inline-block;width:12px;height:10px;border-radius:2px;margin-right:4px}
footer{max-width:1180px;margin:30px auto 0;padding:0 20px;color:var(--muted);font-size:12.5px}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _pill(verdict: str, text: str | None = None) -> str:
    label = text or VERDICT_LABEL.get(verdict, verdict)
    return f'<span class="pill p-{_e(verdict)}">{_e(label)}</span>'


def _kv_table(data: dict[str, Any], css_id: str = "") -> str:
    if not data:
        return '<p class="muted">none recorded</p>'
    rows = "".join(f"<tr><th>{_e(k)}</th><td class=\"mono\">{_e(_plain(v))}</td></tr>"
                   for k, v in data.items())
    ident = f' id="{css_id}"' if css_id else ""
    return f'<table class="kv"{ident}>{rows}</table>'


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "" or value is None:
        return "—"
    return str(value)


def _banner(record: RunRecord) -> str:
    verdict = verdict_of(record)
    failed = run_failed(record)
    label = VERDICT_LABEL[verdict]
    if verdict == "pass" and failed:
        label = "PASS — RUN FAILED"
    css = "fail" if failed and verdict == "pass" else verdict
    facts = [("run", record.run_id), ("kind", record.kind), ("started", record.started_at),
             ("finished", record.finished_at or "—"),
             ("duration", fmt_seconds(duration_seconds(record))),
             ("host", record.host.get("hostname", "—"))]
    dl = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    return (f'<header id="verdict" class="banner v-{_e(css)}" data-verdict="{_e(verdict)}" '
            f'data-run-failed="{str(failed).lower()}"><div class="inner">'
            f'<div class="label">{_e(label)}</div>'
            f'<div class="headline" id="headline">{_e(headline(record))}</div>'
            f"<dl>{dl}</dl></div></header>")


def _problems(record: RunRecord, trend: Trend | None) -> str:
    parts: list[str] = []
    for error in record.run_errors:
        parts.append(f'<div class="runerror">Run error: {_e(error)}</div>')
    failing = [c for c in record.checks if c.verdict == "fail"]
    unverified = [c for c in record.checks if c.verdict == "could-not-verify"]
    for group, css, title in ((failing, "", "Failed checks"),
                              (unverified, " cnv", "Checks that could not be verified")):
        if not group:
            continue
        items = "".join(
            f'<li>{_pill(c.verdict)} <code>{_e(c.id)}</code> <b>{_e(c.title)}</b><br>'
            f'<span class="msgline">{_e(c.message)}</span></li>' for c in group)
        parts.append(f'<section class="problems{css}" id="problems-{"fail" if not css else "cnv"}">'
                     f"<h3>{_e(title)} ({len(group)})</h3><ul>{items}</ul></section>")
    if not record.checks:
        parts.append('<section class="problems cnv" id="problems-cnv"><h3>No drill check ran'
                     "</h3><p>Nothing was verified: the run recorded no check. Run the drill "
                     "suite and look at pytest's collection output.</p></section>")
    warnings = []
    if trend and trend.warning:
        warnings.append(trend.warning)
    for obj in objectives(record):
        if obj.status == "missed":
            warnings.append(f"{obj.name} target missed: measured {fmt_seconds(obj.measured)}, "
                            f"target {fmt_seconds(obj.target)}")
    parts.extend(f'<div class="warn">{_e(w)}</div>' for w in warnings)
    parts.extend(f'<div class="note">{_e(n)}</div>' for n in record.notes if n not in warnings)
    return "".join(parts)


def _objectives(record: RunRecord) -> str:
    rows = []
    for obj in objectives(record):
        status_css = {"met": "met", "missed": "missed"}.get(obj.status, "none")
        bar = ""
        if obj.measured is not None:
            top = max(abs(obj.measured), obj.target or 0.0) * 1.15 or 1.0
            w = 260
            mx = max(2.0, abs(obj.measured) / top * w)
            color = "#cf222e" if obj.status == "missed" else "#1a7f37"
            target = ""
            if obj.target is not None:
                tx = obj.target / top * w
                target = (f'<line x1="{tx:.1f}" y1="0" x2="{tx:.1f}" y2="22" stroke="#1f2328" '
                          f'stroke-width="2" stroke-dasharray="3 2"><title>target '
                          f'{_e(fmt_seconds(obj.target))}</title></line>')
            bar = (f'<svg width="{w}" height="22" role="img" aria-label="{_e(obj.name)} bar">'
                   f'<rect x="0" y="4" width="{w}" height="14" fill="#eaeef2"/>'
                   f'<rect x="0" y="4" width="{mx:.1f}" height="14" fill="{color}">'
                   f"<title>measured {_e(fmt_seconds(obj.measured))}</title></rect>{target}</svg>")
        rows.append(f"<tr><th>{_e(obj.name)}</th><td>{_e(fmt_seconds(obj.measured))}</td>"
                    f"<td>{_e(fmt_seconds(obj.target))}</td>"
                    f'<td><span class="pill p-{status_css}">{_e(obj.status)}</span></td>'
                    f"<td>{bar}</td></tr>")
    age = backup_age_seconds(record)
    taken = backup_time(record)
    rows.append(f"<tr><th>Backup age</th><td>{_e(fmt_seconds(age))}</td><td></td><td></td>"
                f'<td class="muted">backup taken {_e(taken.isoformat() if taken else "—")}'
                "</td></tr>")
    return ('<table id="objectives-table"><tr><th></th><th>measured</th><th>target</th>'
            f"<th>status</th><th></th></tr>{''.join(rows)}</table>"
            '<p class="muted">RTO: from the start of provisioning until the platform is restored '
            "and verified. RPO: the backup's time minus the newest event found in the restored "
            "data.</p>")


def _checks(record: RunRecord, catalog: dict[str, dict[str, str]]) -> str:
    if not record.checks:
        return '<p class="muted">No drill check ran.</p>'
    rows = []
    for c in ordered_checks(record):
        controls = " ".join(
            f'<span class="mono" title="{_e(catalog.get(ctl, {}).get("title", ""))}">'
            f"{_e(ctl)}</span>" for ctl in c.controls)
        measured = _e(fmt_measured(c.measured))
        details = (f'<details><summary>measured</summary><div class="mono">{measured}</div>'
                   "</details>" if measured else '<span class="muted">—</span>')
        if c.controls:
            details += (f"<details><summary>{len(c.controls)} controls</summary>{controls}"
                        "</details>")
        rows.append(f'<tr class="r-{_e(c.verdict)}" data-check="{_e(c.id)}">'
                    f"<td>{_pill(c.verdict)}</td><td><code>{_e(c.id)}</code><br>{_e(c.title)}"
                    f'</td><td class="msg">{_e(c.message)}</td>'
                    f"<td>{details}</td>"
                    f'<td class="nowrap">{_e(fmt_seconds(c.seconds))}</td></tr>')
    return ('<table id="checks-table"><colgroup><col class="c-verdict"><col class="c-check">'
            '<col class="c-msg"><col class="c-details"><col class="c-time"></colgroup>'
            '<tr class="head"><th>verdict</th><th>check</th><th>message</th>'
            f"<th>details</th><th>time</th></tr>{''.join(rows)}</table>")


def _nice_step(span: float, ticks: int = 8) -> float:
    raw = max(span, 1e-3) / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * magnitude:
            return mult * magnitude
    return 10 * magnitude


def _lanes(phases: list[Phase]) -> list[str]:
    seen: list[str] = []
    for p in phases:
        if p.store not in seen:
            seen.append(p.store)
    known = [s for s in STORE_ORDER if s in seen]
    return known + [s for s in seen if s not in known]


_PHASE_COLORS = {"ok": "#1f6feb", "failed": "#cf222e", "could-not-verify": "#bf8700",
                 "pass": "#1a7f37", "fail": "#cf222e"}


def _phase_state(phase: Phase, verdicts: Mapping[str, str]) -> str:
    if phase.store == "checks" and phase.name in verdicts:
        return verdicts[phase.name]
    return "ok" if phase.ok else "failed"


def _timeline_legend() -> str:
    items = (("ok", "phase"), ("failed", "failed phase"), ("pass", "check passed"),
             ("fail", "check failed"), ("could-not-verify", "check not verified"))
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{_PHASE_COLORS[k]}"></i>{_e(label)}</span>'
        for k, label in items) + "</p>"


def timeline_svg(record: RunRecord) -> str:
    """The phases of the run as an SVG Gantt chart, one lane per store."""
    timed: list[tuple[Phase, dt.datetime]] = []
    for p in record.phases:
        start = parse_time(p.started_at)
        if start is not None:
            timed.append((p, start))
    if not timed:
        return ('<svg id="timeline-svg" width="600" height="40" role="img" '
                'aria-label="no phases recorded"><text x="0" y="24" fill="#57606a">'
                "No phase was recorded in this run.</text></svg>")
    origin = min([s for _, s in timed] + [t for t in [parse_time(record.started_at)] if t])
    end = max((s - origin).total_seconds() + p.seconds for p, s in timed)
    span = max(end, 0.001)
    lanes = _lanes([p for p, _ in timed])
    label_w, plot_w, lane_h, top = 130, 900, 30, 28
    height = top + lane_h * len(lanes) + 10
    scale = plot_w / span
    verdicts = {c.id: c.verdict for c in record.checks}
    parts = [f'<svg id="timeline-svg" '
             f'viewBox="0 0 {label_w + plot_w + 20} {height}" width="100%" role="img" '
             f'aria-label="timeline of the drill phases per store">']
    step = _nice_step(span)
    t = 0.0
    while t <= span + 1e-9:
        x = label_w + t * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 8}" '
                     'stroke="#eaeef2"/>')
        parts.append(f'<text x="{x:.1f}" y="{top - 10}" font-size="11" fill="#57606a" '
                     f'text-anchor="middle">{_e(fmt_seconds(t))}</text>')
        t += step
    for i, lane in enumerate(lanes):
        y = top + i * lane_h
        parts.append(f'<text x="{label_w - 8}" y="{y + lane_h / 2 + 4:.1f}" font-size="13" '
                     f'text-anchor="end" font-weight="600">{_e(lane)}</text>')
        parts.append(f'<line x1="{label_w}" y1="{y + lane_h}" x2="{label_w + plot_w}" '
                     f'y2="{y + lane_h}" stroke="#d0d7de"/>')
        for p, start in timed:
            if p.store != lane:
                continue
            x = label_w + (start - origin).total_seconds() * scale
            w = max(2.0, p.seconds * scale)
            fill = _PHASE_COLORS[_phase_state(p, verdicts)]
            tip = (f"{p.store} {p.name}: {fmt_seconds(p.seconds)}"
                   f"{' — FAILED' if not p.ok else ''}{' — ' + p.detail if p.detail else ''}")
            parts.append(f'<rect class="phase" data-store="{_e(p.store)}" '
                         f'data-phase="{_e(p.name)}" x="{x:.1f}" y="{y + 5}" width="{w:.1f}" '
                         f'height="{lane_h - 10}" rx="3" fill="{fill}" opacity="0.85">'
                         f"<title>{_e(tip)}</title></rect>")
            label = f"{p.name} {fmt_seconds(p.seconds)}"
            if w > 7 * len(label):
                parts.append(f'<text x="{x + 4:.1f}" y="{y + lane_h / 2 + 4:.1f}" font-size="11"'
                             f' fill="#fff">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline_table(record: RunRecord) -> str:
    if not record.phases:
        return ""
    rows = "".join(
        f"<tr><td>{_e(p.store)}</td><td>{_e(p.name)}</td><td class=\"mono\">"
        f"{_e(p.started_at)}</td><td>{_e(fmt_seconds(p.seconds))}</td>"
        f"<td>{'ok' if p.ok else '<b>failed</b>'}</td><td>{_e(p.detail)}</td></tr>"
        for p in record.phases)
    return ("<details><summary>Phases as a table</summary><table><tr><th>store</th>"
            "<th>phase</th><th>started</th><th>seconds</th><th>result</th><th>detail</th></tr>"
            f"{rows}</table></details>")


def _trend_chart(entries: list[HistoryEntry], name: str, values: list[float | None],
                 target: float | None, color: str) -> str:
    w, h, left, top, bottom = 900, 170, 70, 14, 34
    known = [v for v in [*values, target] if v is not None]
    if not known:
        return f'<p class="muted">No run in the history measured the {_e(name)}.</p>'
    vmax = max(max(known) * 1.1, 1e-3)
    vmin = min(0.0, min(known))
    n = len(entries)

    def px(i: int) -> float:
        return left + (i * (w - left - 20) / max(n - 1, 1))

    def py(v: float) -> float:
        return top + (h - top - bottom) * (1 - (v - vmin) / (vmax - vmin))

    parts = [f'<svg class="trend-chart" data-metric="{_e(name)}" viewBox="0 0 {w} {h}" '
             f'width="100%" role="img" aria-label="{_e(name)} of recent runs">',
             f'<text x="{left}" y="{top - 2}" font-size="12" font-weight="600">{_e(name)}</text>']
    step = _nice_step(vmax - vmin, 4)
    v = math.ceil(vmin / step) * step
    while v <= vmax:
        parts.append(f'<line x1="{left}" y1="{py(v):.1f}" x2="{w - 20}" y2="{py(v):.1f}" '
                     'stroke="#eaeef2"/>')
        parts.append(f'<text x="{left - 6}" y="{py(v) + 4:.1f}" font-size="11" fill="#57606a" '
                     f'text-anchor="end">{_e(fmt_seconds(v))}</text>')
        v += step
    if target is not None:
        parts.append(f'<line x1="{left}" y1="{py(target):.1f}" x2="{w - 20}" '
                     f'y2="{py(target):.1f}" stroke="#cf222e" stroke-dasharray="6 4">'
                     f"<title>{_e(name)} target {_e(fmt_seconds(target))}</title></line>")
        parts.append(f'<text x="{w - 22}" y="{py(target) - 4:.1f}" font-size="11" '
                     f'fill="#cf222e" text-anchor="end">target {_e(fmt_seconds(target))}</text>')
    points = [(px(i), py(val)) for i, val in enumerate(values) if val is not None]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for i, (entry, val) in enumerate(zip(entries, values, strict=True)):
        if val is None:
            continue
        fill = "#cf222e" if entry.failed else color
        parts.append(f'<circle cx="{px(i):.1f}" cy="{py(val):.1f}" r="{5 if i == n - 1 else 4}" '
                     f'fill="{fill}"><title>{_e(entry.run_id)}: {_e(name)} '
                     f"{_e(fmt_seconds(val))}{' (run failed)' if entry.failed else ''}"
                     "</title></circle>")
    parts.append(f'<text x="{px(0):.1f}" y="{h - bottom + 16}" font-size="11" fill="#57606a">'
                 f"{_e(entries[0].run_id)}</text>")
    parts.append(f'<text x="{px(n - 1):.1f}" y="{h - bottom + 16}" font-size="11" '
                 'text-anchor="end" fill="#57606a">this run</text>')
    parts.append("</svg>")
    return "".join(parts)


def trend_svg(trend: Trend | None) -> str:
    """RTO and RPO of the recent runs as two SVG line charts (targets dashed, failures red)."""
    entries = trend.entries if trend else []
    if len(entries) < 2:
        return ('<p class="muted" id="trend-empty">No earlier run in the history yet: the trend '
                "starts with the next run.</p>")
    last = entries[-1]
    charts = [
        _trend_chart(entries, "RTO", [e.rto_seconds for e in entries], last.rto_target_seconds,
                     "#1f6feb"),
        _trend_chart(entries, "RPO", [e.rpo_seconds for e in entries], last.rpo_target_seconds,
                     "#8250df"),
    ]
    warning = (f'<div class="warn" id="trend-warning">{_e(trend.warning)}</div>'
               if trend and trend.warning else "")
    return (f'{warning}<div id="trend-svg"><p class="muted">The last {len(entries)} runs, oldest '
            f"first; red points are runs that failed.</p>{''.join(charts)}</div>")


def _lineage(record: RunRecord) -> str:
    if not record.lineage:
        return '<p class="muted">No backup artefact was recorded for this run.</p>'
    rows = "".join(
        f"<tr><td>{_e(i.store)}</td><td>{_e(i.name)}</td><td class=\"mono\">{_e(i.location)}"
        f"</td><td class=\"mono\">{_e(i.taken_at or '—')}</td><td>{_e(fmt_size(i.size))}</td>"
        f"<td class=\"mono\">{_e(i.sha256 or '—')}</td><td class=\"mono\">"
        f"{_e(i.backup_run or '—')}</td></tr>" for i in record.lineage)
    return ('<table id="lineage-table"><tr><th>store</th><th>name</th><th>location</th>'
            "<th>taken at</th><th>size</th><th>sha256</th><th>backup run</th></tr>"
            f"{rows}</table>")


def _controls(record: RunRecord) -> str:
    by_control: dict[str, list[CheckResult]] = {}
    for check in record.checks:
        for ctl in check.controls:
            by_control.setdefault(ctl, []).append(check)
    if not by_control:
        return '<p class="muted">No check cites a control.</p>'
    rows = []
    for ctl in sorted(by_control):
        info = record.control_catalog.get(ctl, {})
        checks = by_control[ctl]
        verdicts = {c.verdict for c in checks}
        status = ("fail" if "fail" in verdicts else
                  "could-not-verify" if "could-not-verify" in verdicts else "pass")
        label = {"pass": "evidenced", "fail": "failed", "could-not-verify": "not verified"}
        evidence = "<br>".join(f"{_pill(c.verdict)} <code>{_e(c.id)}</code>" for c in checks)
        rows.append(f'<tr data-control="{_e(ctl)}"><td class="mono">{_e(ctl)}</td>'
                    f"<td>{_e(info.get('framework', ''))}</td>"
                    f"<td><b>{_e(info.get('ref', ''))} {_e(info.get('title', ''))}</b><br>"
                    f"<span class=\"muted\">{_e(info.get('description', ''))}</span></td>"
                    f"<td>{evidence}</td><td>{_pill(status, label[status])}</td></tr>")
    return ('<table id="controls-table"><tr><th>control</th><th>framework</th><th>requirement'
            "</th><th>evidenced by</th><th>status</th></tr>" + "".join(rows) + "</table>")


def _environment(record: RunRecord) -> str:
    parts = ["<h3>Host</h3>", _kv_table(record.host),
             "<h3>Versions</h3>", _kv_table(record.versions),
             "<h3>Scratch environment</h3>", _kv_table(record.environment),
             "<h3>Configuration (secrets redacted)</h3>"]
    if not record.config:
        parts.append('<p class="muted">none recorded</p>')
    for section, values in record.config.items():
        if isinstance(values, dict):
            flat = {f"{section}.{k}": (f"{_plain(v)}  ({record.config_sources[f'{section}.{k}']})"
                                       if f"{section}.{k}" in record.config_sources else v)
                    for k, v in values.items()}
            parts.append(_kv_table(flat))
        else:
            parts.append(_kv_table({section: values}))
    return "".join(parts)


def render_html(record: RunRecord, trend: Trend | None = None) -> str:
    """The complete, self-contained HTML report of a run."""
    verdict = verdict_of(record)
    sections = [
        ("objectives", "Recovery objectives", _objectives(record)),
        ("checks", "Checks", _checks(record, record.control_catalog)),
        ("timeline", "Timeline of the phases per store",
         timeline_svg(record) + _timeline_legend() + _timeline_table(record)),
        ("trend", "Trend of recent runs", trend_svg(trend)),
        ("lineage", "Backup lineage", _lineage(record)),
        ("controls", "Compliance controls evidenced", _controls(record)),
        ("environment", "Environment", _environment(record)),
    ]
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'
                   for sid, title, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(VERDICT_LABEL[verdict])} — Scrydon DR drill {_e(record.run_id)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"{_banner(record)}<main>{_problems(record, trend)}<nav>{nav}</nav>{body}</main>"
        f"<footer>scrydon-drill evidence, schema {_e(record.schema_version)}. Every file of this "
        "folder is listed with its SHA-256 in manifest.json; check the folder with "
        "<code>scrydon-drill verify-evidence &lt;folder&gt;</code>.</footer>"
        "</body></html>\n"
    )
