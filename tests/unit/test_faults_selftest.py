"""The self-test's own logic on made-up drill outcomes: verdicts, matrix, evidence, command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fixtures.faults as catalogue
from fixtures import selftest
from fixtures.selftest import (
    CAUGHT,
    CLEAN,
    MISSED,
    NOT_RUN,
    OTHER_FAIL,
    PASSED,
    UNVERIFIED,
    CaseResult,
    DrillOutcome,
    DrillRunner,
    Matrix,
    evaluate,
)
from harness.cli import build_parser, main
from harness.evidence.jsonreport import schema_errors

CHECKS = ["restore.postgres", "restore.master-key", "signin.offline", "secrets.decrypt",
          "integrity.amcheck", "posture.master-key"]


def outcome(**verdicts: str) -> DrillOutcome:
    """A drill outcome where every check of CHECKS passed unless named (dots as dashes)."""
    v = {c: "pass" for c in CHECKS}
    v.update({k.replace("__", ".").replace("_", "-"): x for k, x in verdicts.items()})
    return DrillOutcome(exit_code=0 if all(x == "pass" for x in v.values()) else 1,
                        verdicts=v, messages={c: f"{c} says: all good" for c in v})


def fault_case(name: str, drill: DrillOutcome, details: dict[str, object] | None = None
               ) -> CaseResult:
    fault = catalogue.get(name)
    ctx = catalogue.FaultContext(fault=name, backups=Path("/nowhere"), details=details or {})
    case = CaseResult(name=name, fault=fault, drill=drill, details=dict(ctx.details))
    evaluate(case, ctx)
    return case


def test_clean_set_passes_only_when_every_check_passes() -> None:
    good = CaseResult(name=CLEAN, fault=None, drill=outcome())
    evaluate(good, None)
    assert good.ok and good.cell("restore.postgres") == PASSED
    bad = CaseResult(name=CLEAN, fault=None, drill=outcome(integrity__amcheck="could-not-verify"))
    evaluate(bad, None)
    assert not bad.ok and "false alarm: integrity.amcheck is could-not-verify" in bad.problems[0]
    assert bad.cell("integrity.amcheck") == MISSED


def test_a_fault_is_caught_only_by_the_expected_check_with_a_message_naming_the_cause() -> None:
    drill = outcome(restore__postgres="fail", signin__offline="fail")
    drill.messages["restore.postgres"] = "pg_restore of database 'auth' failed: the dump is " \
                                         "damaged or truncated"
    case = fault_case("dump-truncated", drill, {"database": "auth"})
    assert case.ok, case.problems
    assert case.cell("restore.postgres") == CAUGHT and case.cell("signin.offline") == OTHER_FAIL
    assert case.cell("restore.objects") == NOT_RUN
    assert case.caught_by().startswith("restore.postgres: pg_restore of database 'auth'")
    # The right check, but a message that does not say why: not good enough.
    drill.messages["restore.postgres"] = "something went wrong"
    vague = fault_case("dump-truncated", drill, {"database": "auth"})
    assert not vague.ok and "does not name the cause" in vague.problems[0]
    assert "'auth'" in vague.problems[0] and "'truncated'" in vague.problems[0]


def test_a_miss_and_a_misattribution_are_failures() -> None:
    missed = fault_case("masterkey-different", outcome(signin__offline="fail"))
    assert not missed.ok and missed.problems[0].startswith("missed: secrets.decrypt is pass")
    assert missed.cell("secrets.decrypt") == MISSED
    drill = outcome(secrets__decrypt="fail", restore__master_key="fail")
    drill.messages["secrets.decrypt"] = "not the key they were encrypted with"
    wrong = fault_case("masterkey-different", drill)
    assert not wrong.ok and "restore.master-key is fail, it must pass" in wrong.problems[0]
    unverified = fault_case("masterkey-different", outcome(secrets__decrypt="could-not-verify"))
    assert not unverified.ok and unverified.cell("secrets.decrypt") == MISSED
    other = fault_case("masterkey-different", outcome(integrity__amcheck="could-not-verify"))
    assert other.cell("integrity.amcheck") == UNVERIFIED


def test_matrix_renders_the_grid_and_the_summary(tmp_path: Path) -> None:
    clean = CaseResult(name=CLEAN, fault=None, drill=outcome())
    evaluate(clean, None)
    drill = outcome(restore__postgres="fail")
    drill.messages["restore.postgres"] = "auth | the dump is truncated"
    caught = fault_case("dump-truncated", drill, {"database": "auth"})
    caught.changed = ["postgres/dumps/x/auth.dump: cut"]
    m = Matrix(cases=[clean, caught], checks=selftest.check_order(CHECKS + ["posture.x"]),
               source_unchanged=True, seconds=12.0)
    assert m.checks[0] == "restore.postgres" and m.checks[-1] == "posture.x"
    assert m.ok and m.detection() == (1, 1)
    assert m.summary().startswith("1/1 faults caught by the expected check (100 %), 0 false "
                                  "alarm(s) on the clean set")
    md = m.render_markdown()
    assert "| dump-truncated | X |" in md and "Columns: 1 `restore.postgres`" in md
    assert "auth \\| the dump is truncated" in md  # pipes in messages do not break the table
    text = m.render_text()
    assert "dump-truncated" in text and "1 restore.postgres" in text
    assert json.loads(json.dumps(m.to_dict()))["cases"][1]["expected"] == ["restore.postgres"]
    m.source_unchanged = False
    assert not m.ok and "SOURCE CHANGED" in m.summary()


def test_selftest_evidence_is_a_valid_report_folder(tmp_path: Path) -> None:
    clean = CaseResult(name=CLEAN, fault=None, drill=outcome())
    evaluate(clean, None)
    missed = fault_case("masterkey-different", outcome())
    m = Matrix(cases=[clean, missed], checks=CHECKS, source_unchanged=True, seconds=3.0,
               source_digest="ab" * 32)
    folder = selftest.write_selftest_evidence(m, tmp_path / "reports",
                                              secrets={"password": "correct-horse-x"})
    data = json.loads((folder / "evidence.json").read_text())
    assert schema_errors(data) == []
    assert data["kind"] == "selftest" and data["verdict"] == "fail"
    verdicts = {c["id"]: c["verdict"] for c in data["checks"]}
    assert verdicts == {"selftest.clean": "pass", "selftest.fault.masterkey-different": "fail",
                        "selftest.source-unchanged": "pass"}
    assert all(c["controls"] for c in data["checks"])
    for name in ("matrix.md", "matrix.json", "junit.xml", "report.html", "manifest.json"):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "matrix.md" in {f["path"] for f in manifest["files"]}


def test_runner_command_line(tmp_path: Path) -> None:
    runner = DrillRunner(tmp_path / "drill.toml", tmp_path / "runs", sets=["scratch.os_user=pg"])
    argv = runner.argv(tmp_path / "copy", tmp_path / "rep", ["drill.pitr_target=T"])
    assert argv[1:4] == ["-m", "harness.cli", "drill"]
    text = " ".join(argv)
    assert f"--config {tmp_path / 'drill.toml'}" in text and f"--root {tmp_path / 'runs'}" in text
    assert f"--set backups.source={tmp_path / 'copy'}" in text
    assert text.endswith("--set scratch.os_user=pg --set drill.pitr_target=T")


def test_selftest_command_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["selftest", "--list", "--fault", "dump-truncated"])
    assert args.list and args.fault == ["dump-truncated"] and args.func is selftest.command
    assert main(["selftest", "--list"]) == 0
    out = capsys.readouterr().out
    for name in catalogue.NAMES:
        assert name in out
    assert main(["selftest", "--fault", "no-such-fault"]) == 2
    assert "unknown fault(s) no-such-fault" in capsys.readouterr().err
