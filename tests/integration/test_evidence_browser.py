"""report.html opened in headless Chromium (Debian's package): no console error, no request
leaving the file, the verdict and the timeline visible."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.evidence.history import HistoryEntry, trend
from harness.evidence.reports import write_reports
from tests.sample_record import sample_record

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium with a fresh profile, closed (and checked gone) afterwards."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"chromium is not installed ({CHROMIUM}): run scripts/setup.sh or "
                    "'apt-get install -y --no-install-recommends chromium'")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    profile = tempfile.mkdtemp(prefix="scrydon-drill-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 900})
            try:
                yield context
            finally:
                context.close()
        assert _processes_mentioning(profile) == [], "chromium outlived the test"
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _open(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """Open a report; return the page and every console message, page error or request that
    left the file."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: None if r.url.startswith(("file://", "data:"))
            else problems.append(f"request left the file: {r.url}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


def _history() -> list[HistoryEntry]:
    return [HistoryEntry.from_record(sample_record(run_id=f"202611{i:02d}T051700Z-00000{i}",
                                                   rto_seconds=380 + 7 * i))
            for i in range(1, 9)]


@pytest.mark.parametrize("failing", [True, False], ids=["failing", "passing"])
def test_report_renders_without_errors_verdict_and_timeline_visible(
        browser: Any, tmp_path: Path, failing: bool) -> None:
    record = sample_record(failing=failing, unverified=failing,
                           rto_seconds=900 if failing else 412)
    folder = tmp_path / record.run_id
    write_reports(record, folder, trend(record, _history()))
    page, problems = _open(browser, folder / "report.html")
    try:
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert problems == []
        verdict = page.locator("#verdict")
        assert verdict.is_visible()
        box = verdict.bounding_box()
        assert box is not None and box["y"] == 0 and box["height"] > 60  # first thing seen
        expected = "FAIL" if failing else "PASS"
        assert page.locator("#verdict .label").inner_text() == expected
        colour = page.evaluate(
            "getComputedStyle(document.getElementById('verdict')).backgroundColor")
        assert colour == ("rgb(207, 34, 46)" if failing else "rgb(26, 127, 55)")

        timeline = page.locator("#timeline-svg")
        timeline.scroll_into_view_if_needed()
        assert timeline.is_visible()
        tbox = timeline.bounding_box()
        assert tbox is not None and tbox["width"] > 800 and tbox["height"] > 150
        bars = page.locator("#timeline-svg rect.phase")
        assert bars.count() == len(record.phases)
        stores = {bars.nth(i).get_attribute("data-store") for i in range(bars.count())}
        assert {"scratch", "postgres", "objects", "warehouse", "master-key"} <= stores
        timeline.screenshot(path=str(tmp_path / "timeline.png"))
        assert (tmp_path / "timeline.png").stat().st_size > 5_000

        rows = page.locator("#checks-table tr[data-check]")
        assert rows.count() == len(record.checks)
        if failing:
            assert rows.first.get_attribute("data-check") == "audit.recent"
            assert page.locator("#problems-fail").is_visible()
            assert "50 h before the backup" in page.locator("#problems-fail").inner_text()
            assert page.locator("#trend-warning").count() == 1
        assert page.locator("svg.trend-chart").count() == 2
        assert page.locator("#controls-table tr[data-control]").count() >= 8
        assert (tmp_path / "report.png").stat().st_size > 50_000
    finally:
        page.close()


def test_the_probe_does_catch_console_errors_and_outside_requests(browser: Any,
                                                                   tmp_path: Path) -> None:
    """The negative control: a page with a script error and an external image is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><script>console.error("boom"); undefinedFn();'
                   '</script><img src="http://127.0.0.1:9/x.png"></body></html>')
    page, problems = _open(browser, bad)
    page.wait_for_timeout(300)
    page.close()
    assert any("console error: boom" in p for p in problems)
    assert any("page error" in p for p in problems)
    assert any("127.0.0.1:9" in p for p in problems)
