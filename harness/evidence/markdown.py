"""summary.md: a short Markdown summary for a CI job summary (e.g. $GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from harness.evidence.history import Trend
from harness.evidence.views import (
    VERDICT_LABEL,
    backup_age_seconds,
    duration_seconds,
    fmt_measured,
    fmt_seconds,
    headline,
    objectives,
    ordered_checks,
    run_failed,
)
from harness.records import RunRecord

_ICON = {"pass": "✅", "fail": "❌", "could-not-verify": "⚠️"}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no HTML, no column break, one line)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def render_markdown(record: RunRecord, trend: Trend | None = None) -> str:
    """The Markdown summary: the headline and failures first, then objectives and checks."""
    icon = "❌" if run_failed(record) else "✅"
    out = [f"## {icon} Scrydon DR drill — {_cell(headline(record))}", ""]
    out.append(f"Run `{record.run_id}` ({record.kind}) on {record.host.get('hostname', '?')}, "
               f"started {record.started_at}, took {fmt_seconds(duration_seconds(record))}.")
    out.append("")
    problems = [c for c in ordered_checks(record) if c.verdict != "pass"]
    if record.run_errors or problems:
        out.append("### What went wrong")
        out.append("")
        for error in record.run_errors:
            out.append(f"- **run error**: {_cell(error)}")
        for check in problems:
            out.append(f"- {_ICON[check.verdict]} **{VERDICT_LABEL[check.verdict]}** "
                       f"`{check.id}` — {_cell(check.title)}: {_cell(check.message)}")
        out.append("")
    warnings = list(record.notes)
    if trend and trend.warning and trend.warning not in warnings:
        warnings.append(trend.warning)
    if warnings:
        out.append("### Notes")
        out.append("")
        out.extend(f"- {_cell(n)}" for n in warnings)
        out.append("")
    out.append("### Objectives")
    out.append("")
    out.append("| | measured | target | status |")
    out.append("|---|---|---|---|")
    for obj in objectives(record):
        out.append(f"| {obj.name} | {fmt_seconds(obj.measured)} | {fmt_seconds(obj.target)} "
                   f"| {obj.status} |")
    out.append(f"| backup age | {fmt_seconds(backup_age_seconds(record))} | | |")
    out.append("")
    out.append("### Checks")
    out.append("")
    if record.checks:
        out.append("| verdict | check | message | measured | controls |")
        out.append("|---|---|---|---|---|")
        for check in ordered_checks(record):
            out.append(f"| {_ICON[check.verdict]} {VERDICT_LABEL[check.verdict]} "
                       f"| `{check.id}`<br>{_cell(check.title)} | {_cell(check.message)} "
                       f"| {_cell(fmt_measured(check.measured))} "
                       f"| {_cell(', '.join(check.controls))} |")
    else:
        out.append("No drill check ran: nothing was verified.")
    out.append("")
    if trend and len(trend.entries) > 1:
        out.append("### Recent runs")
        out.append("")
        out.append("| run | verdict | RTO | RPO |")
        out.append("|---|---|---|---|")
        for entry in reversed(trend.entries[-10:]):
            out.append(f"| `{entry.run_id}` | {_ICON.get(entry.verdict, '')} {entry.verdict} "
                       f"| {fmt_seconds(entry.rto_seconds)} | {fmt_seconds(entry.rpo_seconds)} |")
        out.append("")
    out.append("Files: `evidence.json`, `junit.xml`, `report.html`, `summary.md`, "
               "`metrics.prom`, `manifest.json` — check them with "
               "`scrydon-drill verify-evidence <folder>`.")
    return "\n".join(out) + "\n"
