"""integrity.amcheck: pg_amcheck's exit codes become pass, fail or could-not-verify."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.checks.integrity import AmcheckRun, amcheck_argv, check_amcheck, run_amcheck
from harness.errors import CouldNotVerify
from harness.profile import load_profile
from harness.scratch.endpoints import PostgresEndpoint

SECTION = load_profile().integrity
DBS = SECTION.databases


def run(code: int, stdout: str = "", stderr: str = "") -> AmcheckRun:
    return AmcheckRun(argv=tuple(amcheck_argv("pg_amcheck", SECTION)), returncode=code,
                      stdout=stdout, stderr=stderr, seconds=0.5)


def test_argv_installs_amcheck_and_names_every_database() -> None:
    argv = amcheck_argv("/x/pg_amcheck", SECTION)
    assert argv[:3] == ["/x/pg_amcheck", "--install-missing", "--no-password"]
    assert argv.count("--database") == len(DBS) and "--heapallindexed" in argv


def test_exit_0_passes_and_exit_2_fails_with_the_report() -> None:
    ok = check_amcheck(run(0), DBS)
    assert ok.ok and "found no corruption" in ok.message and "--heapallindexed" in ok.message
    report = ('btree index "auth.public.user_pkey":\n    ERROR:  line pointer points past end '
              'of tuple space in index "user_pkey"\n')
    bad = check_amcheck(run(2, stdout=report), DBS)
    assert not bad.ok and "user_pkey" in bad.message and bad.measured["exit_code"] == 2
    many = check_amcheck(run(2, stdout="\n".join(f"line {i}" for i in range(50))), DBS)
    assert "and 30 more lines" in many.message


def test_missing_extension_or_other_failures_could_not_be_verified() -> None:
    stderr = ('pg_amcheck: error: query failed: ERROR:  extension "amcheck" is not available\n'
              'DETAIL:  Could not open extension control file "/x/amcheck.control"\n')
    with pytest.raises(CouldNotVerify) as err:
        check_amcheck(run(1, stderr=stderr), DBS, "16.14")
    assert "lacks contrib's amcheck" in str(err.value) and "pgvector" in (err.value.remedy or "")
    with pytest.raises(CouldNotVerify, match="exit code 1 without reporting corruption"):
        check_amcheck(run(1, stderr="pg_amcheck: error: no connectable databases"), DBS)


def test_a_missing_tool_could_not_be_verified(tmp_path: Path) -> None:
    pg = PostgresEndpoint(host="127.0.0.1", port=1, user="u", password="p", major=16,
                          version="16", has_pgvector=True, bindir=tmp_path)
    with pytest.raises(CouldNotVerify, match="pg_amcheck is not installed"):
        run_amcheck(pg, dataclasses.replace(SECTION, databases=("auth",)))
