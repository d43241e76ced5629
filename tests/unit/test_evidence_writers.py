"""The report writers are pure functions of a run record (+ history): JUnit, Markdown,
Prometheus text, HTML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from prometheus_client.parser import text_string_to_metric_families

from harness.evidence.history import HistoryEntry, trend
from harness.evidence.htmlreport import render_html
from harness.evidence.junit import render_junit
from harness.evidence.markdown import render_markdown
from harness.evidence.prom import render_metrics
from harness.evidence.reports import REPORTS, render_all
from harness.records import CheckResult, RunRecord
from tests.sample_record import sample_record


def _cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {c.get("name", ""): c for c in root.iter("testcase")}


def test_junit_counts_could_not_verify_as_an_error_never_a_pass() -> None:
    record = sample_record(failing=True, unverified=True)
    root = ET.fromstring(render_junit(record))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "1", "0")
    cases = _cases(render_junit(record))
    assert cases["audit.recent"].find("failure") is not None
    error = cases["secrets.decrypt"].find("error")
    assert error is not None and error.get("type") == "could-not-verify"
    assert "could not verify" in (error.get("message") or "")
    assert list(cases["signin.admin"]) and cases["signin.admin"].find("failure") is None


def test_junit_with_allow_unverified_reports_a_skip_still_not_a_pass() -> None:
    record = sample_record(unverified=True)
    record.allow_unverified = True
    skipped = _cases(render_junit(record))["secrets.decrypt"].find("skipped")
    assert skipped is not None and skipped.get("type") == "could-not-verify"


def test_junit_of_a_run_without_checks_or_with_run_errors_is_not_green() -> None:
    empty = RunRecord(run_id="r1", started_at="2026-01-01T00:00:00+00:00")
    cases = _cases(render_junit(empty))
    assert cases["drill.checks"].find("error") is not None
    broken = sample_record()
    broken.run_errors.append("publishing the report to s3://x failed: AccessDenied")
    error = _cases(render_junit(broken))["run.error.1"].find("error")
    assert error is not None and "AccessDenied" in (error.get("message") or "")


def test_markdown_puts_the_failure_first() -> None:
    text = render_markdown(sample_record(failing=True))
    first = text.splitlines()[0]
    assert first.startswith("## ❌") and "FAIL: 1 of 4 checks failed" in first
    assert text.index("What went wrong") < text.index("### Checks")
    table = text[text.index("### Checks"):]
    assert table.index("audit.recent") < table.index("signin.admin")
    assert "50 h before the backup" in text.split("### Objectives")[0]


def test_markdown_escapes_table_breaking_text() -> None:
    record = sample_record()
    record.checks[0].message = "a | b\nc <script>"
    text = render_markdown(record)
    assert "a \\| b<br>c &lt;script&gt;" in text


def test_metrics_parse_as_prometheus_text_with_the_promised_series() -> None:
    record = sample_record(failing=True)
    families = {f.name: f for f in text_string_to_metric_families(render_metrics(record))}
    value = {name: fam.samples[0].value for name, fam in families.items()}
    assert value["scrydon_drill_success"] == 0
    assert value["scrydon_drill_duration_seconds"] > 400
    assert value["scrydon_drill_rto_seconds"] == 412
    assert value["scrydon_drill_rto_target_seconds"] == 3600
    assert value["scrydon_drill_rpo_seconds"] == 182_996
    assert value["scrydon_drill_backup_age_seconds"] == 3 * 3600 + 17 * 60
    phases = {(s.labels["store"], s.labels["phase"]): s.value
              for s in families["scrydon_drill_phase_seconds"].samples}
    assert phases[("postgres", "restore")] == 188.2 and ("checks", "audit.recent") not in phases
    verdicts = {s.labels["verdict"]: s.value for s in families["scrydon_drill_verdict"].samples}
    assert verdicts == {"pass": 0, "fail": 1, "could-not-verify": 0}
    assert render_metrics(sample_record()).count("scrydon_drill_success{kind=\"sample\"} 1") == 1


def test_metrics_escape_label_values() -> None:
    record = sample_record()
    record.checks[0].id = 'weird"id\\x'
    families = list(text_string_to_metric_families(render_metrics(record)))
    checks = [s.labels["check"] for f in families if f.name == "scrydon_drill_check_success"
              for s in f.samples]
    assert 'weird"id\\x' in checks


def test_html_is_self_contained_verdict_first_failures_first() -> None:
    record = sample_record(failing=True, unverified=True)
    page = render_html(record)
    # No script, no external resource of any kind.
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page
    # The verdict banner comes first, then what went wrong, then the checks table.
    assert page.index('id="verdict"') < page.index('id="problems-fail"') \
        < page.index('id="checks-table"') < page.index('id="timeline-svg"')
    assert 'data-verdict="fail"' in page
    rows = re.findall(r'data-check="([^"]+)"', page)
    assert rows[:2] == ["audit.recent", "secrets.decrypt"]
    # The timeline has one bar per phase, and every section an auditor needs is there.
    assert page.count('class="phase"') == len(record.phases)
    for section in ("objectives", "checks", "timeline", "trend", "lineage", "controls",
                    "environment"):
        assert f'<section id="{section}">' in page
    assert "ISO27001:A.8.13" in page and "Information backup" in page
    assert record.lineage[0].sha256 in page


def test_html_escapes_everything_from_the_record() -> None:
    record = sample_record()
    record.checks[0].message = '<img src=x onerror="alert(1)">'
    record.host["hostname"] = "<b>host</b>"
    page = render_html(record)
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "<b>host</b>" not in page


def test_html_trend_warns_when_rto_regresses() -> None:
    history = [HistoryEntry.from_record(sample_record(run_id=f"2026110{i}T000000Z-aaaaaa",
                                                     rto_seconds=400 + i))
               for i in range(6)]
    slow = sample_record(rto_seconds=900)
    t = trend(slow, history)
    page = render_html(slow, t)
    assert t.warning and 'id="trend-warning"' in page and "RTO regressed" in page
    assert page.count('class="trend-chart"') == 2
    assert "trend-empty" in render_html(slow, trend(slow, []))


def test_render_all_gives_the_five_reports() -> None:
    assert tuple(render_all(sample_record())) == REPORTS


def test_run_errors_fail_the_run_even_when_every_check_passed() -> None:
    record = sample_record()
    record.run_errors.append("publishing failed")
    page = render_html(record)
    assert "PASS — RUN FAILED" in page and 'data-run-failed="true"' in page
    assert "scrydon_drill_success{kind=\"sample\"} 0" in render_metrics(record)
    assert render_markdown(record).startswith("## ❌")


def test_no_check_is_could_not_verify_everywhere() -> None:
    record = RunRecord(run_id="r2", started_at="2026-01-01T00:00:00+00:00")
    record.verdict = record.overall_verdict()
    assert record.verdict == "could-not-verify"
    assert "no drill check ran" in render_markdown(record).splitlines()[0]
    assert 'data-verdict="could-not-verify"' in render_html(record)
    record.checks.append(CheckResult("x.y", "t", "pass", "ok"))
    assert record.overall_verdict() == "pass"
