"""report.html laid out for people: at a laptop's 1366 px and a phone's 390 px no horizontal
overflow, the checks' message column takes at least 40 % of the table; it prints to PDF.

Screenshots and the PDF are written to reports/tests/ (the README's test command keeps them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.evidence.history import trend
from harness.evidence.reports import write_reports
from tests.integration.test_evidence_browser import _history, _open, browser  # noqa: F401
from tests.sample_record import sample_record

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "reports" / "tests"
MEASURE_JS = """() => {
  const doc = document.documentElement;
  const table = document.querySelector('#checks-table');
  const msg = document.querySelector('#checks-table td.msg');
  return {scroll: doc.scrollWidth, client: doc.clientWidth,
          table: table.getBoundingClientRect().width, msg: msg.getBoundingClientRect().width,
          wide: [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > doc.clientWidth + 1)
                  .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)};
}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    record = sample_record(failing=True)
    folder = tmp_path_factory.mktemp("layout") / record.run_id
    write_reports(record, folder, trend(record, _history()))
    return folder / "report.html"


@pytest.mark.parametrize("width", [1366, 390])
def test_no_overflow_and_the_message_gets_the_room(browser: Any, report: Path,  # noqa: F811
                                                   width: int, measure) -> None:
    page, problems = _open(browser, report)
    try:
        page.set_viewport_size({"width": width, "height": 900})
        got = page.evaluate(MEASURE_JS)
        OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT / f"report-{width}.png"), full_page=True)
    finally:
        page.close()
    assert problems == []
    ratio = got["msg"] / got["table"]
    measure(f"report.html at {width} px: page {got['scroll']} px wide in a {got['client']} px "
            f"window, message column {ratio:.0%} of the checks table; screenshot "
            f"reports/tests/report-{width}.png")
    assert got["scroll"] <= got["client"], f"horizontal overflow: {got['wide']}"
    assert ratio >= 0.40


def test_the_report_prints_to_pdf(browser: Any, report: Path) -> None:  # noqa: F811
    page, problems = _open(browser, report)
    try:
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
    finally:
        page.close()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 1
    assert problems == []
