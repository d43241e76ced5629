"""Exit codes tell a pipeline what happened: passed, failed, unverified, not started, misused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import (
    EXIT_FAILED,
    EXIT_NOT_STARTED,
    EXIT_PASSED,
    EXIT_UNVERIFIED,
    EXIT_USAGE,
)
from tests.plugin.conftest import Driller

SUITE = '''
import pytest
from harness.checks.base import CheckFailed
from harness.errors import could_not_verify
from harness.errors import ConfigError, ScratchError, SourceUnavailable

MODE = {mode!r}


@pytest.fixture(scope="session")
def restored():
    if MODE == "scratch":
        raise ScratchError("PostgreSQL did not start", remedy="read its log")
    if MODE == "source":
        raise SourceUnavailable("backup source directory /nowhere does not exist")
    if MODE == "config":
        raise ConfigError("backups.source is not set")
    return "ok"


@pytest.mark.drill_check(id="posture.dumps", title="needs no restore")
def test_posture():
    if MODE == "failed-and-scratch":
        raise CheckFailed("the newest dump is 40 h old")
    if MODE == "unverified":
        could_not_verify("no deployed platform to sign in to")


@pytest.mark.drill_check(id="restore.postgres", title="needs the restore")
def test_restore(restored):
    pass
'''


@pytest.mark.parametrize(("mode", "code"), [
    ("green", EXIT_PASSED),
    ("unverified", EXIT_UNVERIFIED),
    ("scratch", EXIT_NOT_STARTED),
    ("source", EXIT_NOT_STARTED),
    ("config", EXIT_USAGE),
    ("failed-and-scratch", EXIT_FAILED),
])
def test_the_exit_code_says_what_happened(driller: Driller, mode: str, code: int) -> None:
    real = {"failed-and-scratch": "scratch"}.get(mode, mode)
    driller.pytester.makepyfile(test_drill=SUITE.replace("{mode!r}", repr(real)).replace(
        'if MODE == "failed-and-scratch"', f'if {mode!r} == "failed-and-scratch"'))
    run = driller.run()
    assert run.result.ret == code, run.result.stdout.str()
    verdicts = {c["id"]: c["verdict"] for c in run.evidence()["checks"]}
    assert verdicts["restore.postgres"] == ("pass" if real in ("green", "unverified") else "fail")


def test_allowing_unverified_checks_turns_2_into_0(driller: Driller) -> None:
    driller.pytester.makepyfile(test_drill=SUITE.replace("{mode!r}", repr("unverified")))
    assert driller.run("--drill-allow-unverified").result.ret == EXIT_PASSED


def test_cli_usage_errors_exit_4(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                              text=True, cwd=tmp_path, check=False)

    assert cli("drill", "--no-such-option").returncode == EXIT_USAGE
    bad = cli("restore", "--set", "scratch.kep=always")
    assert bad.returncode == EXIT_USAGE and "Did you mean 'keep'" in bad.stderr
    helptext = cli("drill", "--help").stdout
    for code in (0, 1, 2, 3, 4):
        assert f"\n  {code} " in helptext


def test_cli_missing_source_exits_3_with_evidence(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "drill", "--set", f"backups.source={tmp_path}/gone",
         "--set", f"report.dir={reports}", "--set", f"scratch.root={tmp_path}/runs"],
        capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path)
    assert proc.returncode == EXIT_NOT_STARTED, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert len(list(reports.glob("*/evidence.json"))) == 1
    assert "does not exist" in next(reports.glob("*/summary.md")).read_text()
