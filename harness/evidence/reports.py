"""Writing a report folder: the five reports and the manifest, from a run record alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.evidence.history import Trend
from harness.evidence.htmlreport import render_html
from harness.evidence.jsonreport import render_json
from harness.evidence.junit import render_junit
from harness.evidence.manifest import write_manifest
from harness.evidence.markdown import render_markdown
from harness.evidence.prom import render_metrics
from harness.records import RunRecord

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPORTS = ("evidence.json", "junit.xml", "report.html", "summary.md", "metrics.prom")


def render_all(record: RunRecord, trend: Trend | None = None) -> dict[str, str]:
    """The text of every report, keyed by file name (pure: no I/O)."""
    return {
        "evidence.json": render_json(record),
        "junit.xml": render_junit(record),
        "report.html": render_html(record, trend),
        "summary.md": render_markdown(record, trend),
        "metrics.prom": render_metrics(record),
    }


def write_reports(record: RunRecord, folder: Path, trend: Trend | None = None,
                  signing_key: Ed25519PrivateKey | None = None) -> list[Path]:
    """Write the five reports and the manifest into ``folder``; returns the files written.

    Writing again over the same folder replaces every report and the manifest, so a folder
    re-written after a late error (e.g. publishing) is consistent again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all(record, trend).items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    written += write_manifest(folder, record.run_id, record.finished_at or record.started_at,
                              signing_key)
    return written
