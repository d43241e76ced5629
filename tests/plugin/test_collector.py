"""The evidence collector in real pytest runs of fake drill suites."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.errors import EXIT_UNVERIFIED
from harness.evidence.jsonreport import schema_errors
from harness.evidence.leaks import scan_for_secrets
from harness.evidence.manifest import load_public_key, verify_folder
from tests.plugin.conftest import Driller, DrillRun

FILES = {"evidence.json", "junit.xml", "report.html", "summary.md", "metrics.prom",
         "manifest.json"}

MIXED = '''
import pytest
from harness.errors import CouldNotVerify, could_not_verify
from harness.records import LineageItem


@pytest.fixture
def key_backup():
    raise CouldNotVerify("no master-key backup found", remedy="back up the master-key Secret")


@pytest.mark.drill_check(id="signin.admin", title="The known admin signs in")
def test_signin(drill_measure, drill_record):
    """Sign in as the known admin."""
    with drill_record.phase("postgres", "restore"):
        drill_record.lineage.append(LineageItem(
            store="postgres", name="auth", location="/backups/auth.dump",
            taken_at="2026-11-24T02:00:00+00:00", size=123, sha256="ab" * 32))
    drill_record.backup_time = "2026-11-24T02:00:00+00:00"
    drill_measure(rto_seconds=42.5, users=3)


@pytest.mark.drill_check(id="audit.recent", title="Audit log has yesterday's events")
def test_audit(drill_measure):
    drill_measure(rpo_seconds=180000)
    drill_measure.message("newest audit event is 50 h old")
    assert False, "audit log too old: restore the newest auth dump"


@pytest.mark.drill_check(id="secrets.decrypt", title="Secrets decrypt",
                         controls=["ISO27001:A.8.24"])
def test_secrets(key_backup):
    pass


@pytest.mark.drill_check(id="tables.query", title="Managed tables answer")
def test_tables():
    pytest.skip("no warehouse configured")


@pytest.mark.drill_check(id="kb.open", title="KB documents open")
def test_kb():
    could_not_verify("object store unreachable", remedy="check backups.s3_endpoint")


def test_helper_not_a_check():
    pass
'''

PASSING = '''
import os
import pytest


@pytest.mark.drill_check(id="signin.admin", title="The known admin signs in")
def test_signin(drill_measure, drill_record):
    with drill_record.phase("postgres", "restore"):
        pass
    drill_measure(rto_seconds=float(os.environ.get("FAKE_RTO", "40")), rpo_seconds=120)


@pytest.mark.drill_check(id="tables.query", title="Managed tables answer")
@pytest.mark.parametrize("table", ["orders", "customers"])
def test_tables(table, drill_measure):
    drill_measure(table=table, rows=10)
'''

FAILING = '''
import pytest


@pytest.mark.drill_check(id="signin.admin", title="The known admin signs in")
def test_signin(drill_measure):
    drill_measure(rto_seconds=40)


@pytest.mark.drill_check(id="audit.recent", title="Audit log has yesterday's events")
def test_audit():
    newest_hours = 50
    assert newest_hours <= 26, (
        f"newest audit event is {newest_hours} h older than the backup (limit 26 h): "
        "the auth dump is from an older run")


@pytest.mark.drill_check(id="secrets.decrypt", title="Secrets decrypt")
def test_secrets():
    pass


@pytest.mark.drill_check(id="tables.query", title="Managed tables answer")
def test_tables():
    pass
'''


def _junit_cases(run: DrillRun) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in ET.fromstring(run.text("junit.xml")).iter("testcase")}


def test_mixed_suite_outcomes_verdicts_and_reports(driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill=MIXED)
    run = driller.run()
    # could-not-verify (raised in setup or call, or a skip) is never a pass for pytest either.
    run.result.assert_outcomes(passed=2, failed=3, errors=1)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    run.result.stdout.fnmatch_lines([
        "*could not verify: no master-key backup found — back up the master-key Secret*",
        "*could not verify: skipped: no warehouse configured*",
        "*scrydon-drill evidence*",
        "FAIL: 1 of 5 checks failed, 3 could not be verified",
    ])
    assert {p.name for p in run.folder.iterdir()} == FILES
    data = run.evidence()
    assert schema_errors(data) == []
    assert data["verdict"] == "fail"
    verdicts = {c["id"]: c["verdict"] for c in data["checks"]}
    assert verdicts == {"signin.admin": "pass", "audit.recent": "fail",
                        "secrets.decrypt": "could-not-verify",
                        "tables.query": "could-not-verify", "kb.open": "could-not-verify"}
    # Measured values, messages, controls (from the mapping, or the marker's own).
    signin = run.check("signin.admin")
    assert signin["measured"] == {"rto_seconds": 42.5, "users": 3}
    assert signin["message"] == "Sign in as the known admin. — passed"
    assert "ISO27001:A.5.16" in signin["controls"]
    assert run.check("secrets.decrypt")["controls"] == ["ISO27001:A.8.24"]
    audit = run.check("audit.recent")
    assert audit["message"].startswith("newest audit event is 50 h old — AssertionError: "
                                       "audit log too old")
    assert data["rto_seconds"] == 42.5 and data["rpo_seconds"] == 180000
    assert data["control_catalog"]["ISO27001:A.8.24"]["title"] == "Use of cryptography"
    # Lineage, phases (the test's own and one per check), environment, redacted config.
    assert data["lineage"][0]["name"] == "auth" and data["backup_time"]
    phases = {(p["store"], p["name"]) for p in data["phases"]}
    assert ("postgres", "restore") in phases and ("checks", "kb.open") in phases
    assert data["host"]["hostname"] and data["versions"]["harness"]
    assert data["config"]["scratch"]["s3_secret_key"] == "***"
    assert data["run_id"] == run.folder.name
    # JUnit: one case per check; could-not-verify is an error.
    cases = _junit_cases(run)
    assert set(cases) == set(verdicts)
    assert cases["audit.recent"].find("failure") is not None
    for cid in ("secrets.decrypt", "tables.query", "kb.open"):
        error = cases[cid].find("error")
        assert error is not None and error.get("type") == "could-not-verify", cid
    assert verify_folder(run.folder).ok


def test_allow_unverified_turns_could_not_verify_into_skips_never_passes(driller: Driller
                                                                           ) -> None:
    driller.pytester.makepyfile(test_drill=MIXED)
    run = driller.run("--drill-allow-unverified")
    run.result.assert_outcomes(passed=2, failed=1, skipped=3)
    run.result.stdout.fnmatch_lines(["*SKIPPED*could not verify: object store unreachable*"])
    assert run.evidence()["allow_unverified"] is True
    assert run.check("kb.open")["verdict"] == "could-not-verify"
    skipped = _junit_cases(run)["kb.open"].find("skipped")
    assert skipped is not None


def test_allow_unverified_from_config_lets_an_otherwise_green_run_pass(driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill='''
import pytest
from harness.errors import could_not_verify

@pytest.mark.drill_check(id="signin.admin", title="t")
def test_ok():
    pass

@pytest.mark.drill_check(id="kb.open", title="t")
def test_cnv():
    could_not_verify("no documents bucket in this deployment")
''')
    strict = driller.run(reports=driller.pytester.path / "strict")
    assert strict.result.ret == EXIT_UNVERIFIED  # nothing failed, one check unproven
    assert strict.evidence()["verdict"] == "could-not-verify"
    lenient = driller.run("--drill-set", "evidence.allow_unverified=true",
                          reports=driller.pytester.path / "lenient")
    assert lenient.result.ret == pytest.ExitCode.OK
    lenient.result.assert_outcomes(passed=1, skipped=1)
    assert lenient.evidence()["verdict"] == "pass"


def test_a_failing_drill_writes_the_same_files_with_the_failure_first_and_clear(
        driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill=FAILING)
    failed = driller.run(reports=driller.pytester.path / "failed")
    assert failed.result.ret == pytest.ExitCode.TESTS_FAILED
    driller.pytester.makepyfile(test_drill=FAILING.replace("newest_hours = 50",
                                                           "newest_hours = 20"))
    passed = driller.run(reports=driller.pytester.path / "passed")
    assert passed.result.ret == pytest.ExitCode.OK
    assert {p.name for p in failed.folder.iterdir()} == {p.name for p in passed.folder.iterdir()} \
        == FILES

    page = failed.text("report.html")
    assert 'data-verdict="fail"' in page and ">FAIL<" in page
    banner_end = page.index("</header>")
    problems = page.index('id="problems-fail"')
    assert banner_end < problems < page.index('id="checks-table"')
    first_problem = page[problems:page.index("</section>", problems)]
    assert "audit.recent" in first_problem and "50 h older than the backup" in first_problem
    assert re.findall(r'data-check="([^"]+)"', page)[0] == "audit.recent"

    summary = failed.text("summary.md")
    assert summary.splitlines()[0] == ("## ❌ Scrydon DR drill — FAIL: 1 of 4 checks failed")
    assert summary.index("50 h older") < summary.index("### Checks")
    assert "scrydon_drill_success{kind=\"drill\"} 0" in failed.text("metrics.prom")
    assert 'failures="1"' in failed.text("junit.xml")
    assert passed.evidence()["verdict"] == "pass"
    assert "scrydon_drill_success{kind=\"drill\"} 1" in passed.text("metrics.prom")


def test_parametrized_checks_get_distinct_ids(driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill=PASSING)
    run = driller.run()
    assert run.result.ret == pytest.ExitCode.OK
    ids = [c["id"] for c in run.evidence()["checks"]]
    assert ids == ["signin.admin", "tables.query[orders]", "tables.query[customers]"]
    assert run.check("tables.query[orders]")["measured"] == {"table": "orders", "rows": 10}


def test_no_drill_check_writes_nothing_unless_asked_and_then_is_not_green(driller: Driller
                                                                         ) -> None:
    driller.pytester.makepyfile(test_plain="def test_x():\n    pass\n")
    quiet = driller.run()
    assert quiet.result.ret == pytest.ExitCode.OK and quiet.folders == []
    asked = driller.run("--drill-report")
    assert asked.result.ret == pytest.ExitCode.TESTS_FAILED
    assert asked.evidence()["verdict"] == "could-not-verify"
    assert "no drill check ran" in asked.text("summary.md").splitlines()[0]


@pytest.mark.parametrize("marker,message", [
    ('@pytest.mark.drill_check(title="no id")', "needs id="),
    ('@pytest.mark.drill_check(id="a.b", controls="ISO")', "controls= must be a list"),
    ('@pytest.mark.drill_check(id="a.b", tilte="typo")', "unknown drill_check argument"),
])
def test_invalid_markers_are_usage_errors(driller: Driller, marker: str, message: str) -> None:
    driller.pytester.makepyfile(test_drill=f"import pytest\n{marker}\ndef test_x():\n    pass\n")
    run = driller.run()
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    run.result.stderr.fnmatch_lines([f"*{message}*"])


def test_duplicate_check_ids_are_refused(driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill='''
import pytest
@pytest.mark.drill_check(id="a.b")
def test_one(): pass
@pytest.mark.drill_check(id="a.b")
def test_two(): pass
''')
    run = driller.run()
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    run.result.stderr.fnmatch_lines(["*check id 'a.b' is declared by both*"])


def test_setup_errors_xfail_and_misuse_of_drill_measure(driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill='''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("cannot open the restored auth database")

@pytest.mark.drill_check(id="signin.admin", title="t")
def test_setup_error(broken):
    pass

@pytest.mark.drill_check(id="kb.open", title="t")
@pytest.mark.xfail(reason="known broken")
def test_xfail():
    assert False

def test_not_a_check(drill_measure):
    drill_measure(x=1)
''')
    run = driller.run()
    run.result.assert_outcomes(errors=2, failed=1)
    run.result.stdout.fnmatch_lines(["*uses drill_measure but is not a drill check*"])
    assert run.check("signin.admin")["message"].startswith(
        "setup failed: RuntimeError: cannot open the restored auth database")
    assert run.check("kb.open")["verdict"] == "fail"
    # A failing test that is not a drill check still fails the run, and the evidence says so.
    assert any("not drill checks failed" in e for e in run.evidence()["run_errors"])


def test_publishing_failure_fails_the_run_but_never_flips_a_verdict(driller: Driller,
                                                                    tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    driller.pytester.makepyfile(test_drill=PASSING)
    green = driller.run("--drill-set", f"evidence.publish_to={blocker}/archive",
                        reports=driller.pytester.path / "green")
    assert green.result.ret == pytest.ExitCode.TESTS_FAILED  # all checks passed
    data = green.evidence()
    assert data["verdict"] == "pass"
    assert any("publishing the report" in e for e in data["run_errors"])
    assert "PASS — RUN FAILED" in green.text("report.html")
    assert verify_folder(green.folder).ok  # re-written consistently after the failure
    green.result.stdout.fnmatch_lines(["*run error: publishing the report*"])

    driller.pytester.makepyfile(test_drill=FAILING)
    red = driller.run("--drill-set", f"evidence.publish_to={blocker}/archive",
                      reports=driller.pytester.path / "red")
    assert red.result.ret == pytest.ExitCode.TESTS_FAILED
    assert red.evidence()["verdict"] == "fail"


def test_publishing_to_a_directory(driller: Driller, tmp_path: Path) -> None:
    driller.pytester.makepyfile(test_drill=PASSING)
    run = driller.run("--drill-set", f"evidence.publish_to={tmp_path / 'archive'}")
    assert run.result.ret == pytest.ExitCode.OK
    copy = tmp_path / "archive" / run.folder.name
    assert verify_folder(copy).ok
    run.result.stdout.fnmatch_lines([f"published: {copy}"])


def test_objectives_become_checks_when_targets_are_set(driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill=PASSING)
    run = driller.run("--drill-set", "evidence.rto_target_seconds=30",
                      "--drill-set", "evidence.rpo_target_seconds=3600")
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED  # RTO 40 s > 30 s
    rto = run.check("objective.rto")
    assert rto["verdict"] == "fail" and "exceeds the target 30 s by 10 s" in rto["message"]
    assert run.check("objective.rpo")["verdict"] == "pass"
    assert "NIST:CP-10" in rto["controls"]
    assert run.evidence()["targets"] == {"rto_seconds": 30.0, "rpo_seconds": 3600.0}
    assert "scrydon_drill_rto_target_seconds{kind=\"drill\"} 30" in run.text("metrics.prom")

    driller.pytester.makepyfile(test_drill=FAILING.replace("newest_hours = 50",
                                                           "newest_hours = 1"))
    unmeasured = driller.run("--drill-set", "evidence.rpo_target_seconds=3600",
                             reports=driller.pytester.path / "unmeasured")
    rpo = unmeasured.check("objective.rpo")
    assert rpo["verdict"] == "could-not-verify" and "no check measured" in rpo["message"]
    assert unmeasured.result.ret == EXIT_UNVERIFIED


ADMIN_PASSWORD = "Fake-Adm1n/p@ss+word"
MASTER_KEY = bytes(range(100, 132))
DSN_PASSWORD = "pg-dsn-s3cret"


def test_secrets_never_reach_an_artefact(driller: Driller, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("SCRYDON_DRILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
    key_b64 = base64.b64encode(MASTER_KEY).decode()
    driller.pytester.makepyfile(test_drill=f'''
import base64
import pytest

@pytest.mark.drill_check(id="signin.admin", title="Admin signs in")
def test_signin(drill_config, drill_measure, drill_record):
    dsn = "postgresql://postgres:{quote(DSN_PASSWORD)}@127.0.0.1:5432/auth"
    drill_measure(dsn=dsn)
    drill_record.notes.append("tried " + dsn)
    assert False, f"sign-in with {{drill_config.admin.password}} failed on {{dsn}}"

@pytest.mark.drill_check(id="secrets.decrypt", title="Secrets decrypt")
def test_key(drill_secret, drill_measure):
    key = base64.b64decode("{key_b64}")
    drill_secret("master key", key)
    drill_measure(key_b64="{key_b64}", key_hex=key.hex())
    raise ValueError("wrong key " + base64.b64encode(b"xx" + key).decode())
''')
    run = driller.run()
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    secrets = {"admin password": ADMIN_PASSWORD, "master key": MASTER_KEY,
               "dsn password": DSN_PASSWORD}
    assert scan_for_secrets(run.folder, secrets) == []
    assert scan_for_secrets(run.reports / "history", secrets) == []
    data = run.evidence()
    assert "***" in run.check("signin.admin")["message"]
    assert data["config"]["admin"]["password"] == "***"
    assert not data["run_errors"]  # the collector's own scan found nothing either


def test_signing_with_a_key_file_and_from_the_environment(driller: Driller, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    key_file = tmp_path / "evidence-key.pem"
    key_file.write_bytes(pem)
    public = load_public_key(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    driller.pytester.makepyfile(test_drill=PASSING)
    from_file = driller.run("--drill-set", f"evidence.sign_key_file={key_file}",
                            reports=driller.pytester.path / "file")
    assert (from_file.folder / "manifest.sig").exists()
    assert verify_folder(from_file.folder, public_key=public, require_signature=True).ok
    pem_body = b"".join(pem.splitlines()[1:-1]).decode()
    assert scan_for_secrets(from_file.folder, {"pem": pem_body}) == []

    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    monkeypatch.setenv("SCRYDON_DRILL_EVIDENCE_SIGN_KEY", base64.b64encode(seed).decode())
    from_env = driller.run(reports=driller.pytester.path / "env")
    assert verify_folder(from_env.folder, public_key=public, require_signature=True).ok
    assert scan_for_secrets(from_env.folder, {"seed": seed}) == []
    assert from_env.evidence()["config"]["evidence"]["sign_key"] == "***"

    monkeypatch.setenv("SCRYDON_DRILL_EVIDENCE_SIGN_KEY", "not a key")
    bad = driller.run(reports=driller.pytester.path / "bad")
    assert bad.result.ret == pytest.ExitCode.TESTS_FAILED
    assert any("could not be signed" in e for e in bad.evidence()["run_errors"])


def test_history_trend_and_rto_regression_warning(driller: Driller,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    driller.pytester.makepyfile(test_drill=PASSING)
    for rto in ("100", "102", "98"):
        monkeypatch.setenv("FAKE_RTO", rto)
        assert driller.run().result.ret == pytest.ExitCode.OK
    before = set(DrillRun(None, driller.reports).folders)  # type: ignore[arg-type]
    monkeypatch.setenv("FAKE_RTO", "300")
    run = driller.run()
    (latest,) = set(run.folders) - before
    data = json.loads((latest / "evidence.json").read_text())
    assert any("RTO regressed" in n for n in data["notes"])
    page = (latest / "report.html").read_text()
    assert page.count('class="trend-chart"') == 2 and 'id="trend-warning"' in page
    assert len(list((run.reports / "history").glob("*.json"))) == 4


def test_a_leak_past_redaction_fails_the_run_and_is_not_published(
        driller: Driller, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The scan after writing is the last line of defence: with redaction switched off, the
    leaked password is found, the run fails and the report stays on this machine."""
    from harness.evidence import leaks

    monkeypatch.setattr(leaks.Redactor, "value", lambda self, value: value)
    monkeypatch.setenv("SCRYDON_DRILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("SCRYDON_DRILL_SCRATCH_S3_SECRET_KEY", "abc")  # too short to scan
    driller.pytester.makepyfile(test_drill='''
import pytest

@pytest.mark.drill_check(id="signin.admin", title="Admin signs in")
def test_signin(drill_config, drill_measure):
    drill_measure(used=drill_config.admin.password)
''')
    run = driller.run("--drill-set", f"evidence.publish_to={tmp_path / 'archive'}")
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    errors = run.evidence()["run_errors"]
    assert any("contains admin.password" in e and "evidence.json" in e for e in errors)
    assert any(e.startswith("not published") for e in errors)
    assert not (tmp_path / "archive").exists()
    assert any("'scratch.s3_secret_key' is shorter" in n for n in run.evidence()["notes"])
