"""A drill run on the real embedded scratch environment: the evidence takes the scratch run's
id, the servers' versions and the provisioning/teardown phases, and no server password leaks
even when a check prints a DSN."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.evidence.leaks import scan_for_secrets
from harness.evidence.manifest import verify_folder
from harness.scratch.procinfo import processes_owned_by
from tests.conftest import python

pytestmark = pytest.mark.integration

SUITE = '''
import pytest


@pytest.mark.drill_check(id="restore.postgres", title="PostgreSQL answers after restore")
def test_postgres(scratch, drill_measure, drill_record):
    import json
    import os
    import psycopg

    # Leave the passwords where the outer test can scan the reports for them.
    with open(os.environ["LEAK_PROBE"], "w") as out:
        out.write(json.dumps({
            "postgres": scratch.postgres.password, "warehouse": scratch.warehouse.password}))
    with drill_record.phase("postgres", "verify"):
        with psycopg.connect(**scratch.postgres.conninfo()) as conn:
            rows = conn.execute("select 1").fetchone()[0]
    drill_measure(rows=rows, rto_seconds=5.0)


@pytest.mark.drill_check(id="consistency.dsn", title="A check that fails printing a DSN")
def test_dsn(scratch):
    assert False, f"could not use {scratch.postgres.dsn('auth')}"
'''


def test_drill_on_the_scratch_environment_records_run_versions_and_phases(
        run_root: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_drill.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}
    reports = tmp_path / "reports"
    env["LEAK_PROBE"] = str(tmp_path / "leak-probe.json")
    proc = subprocess.run(
        [python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         "--drill-set", f"report.dir={reports}", "--drill-set", f"scratch.root={run_root}",
         "--drill-set", "scratch.stop_timeout=5"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the DSN check fails on purpose
    (folder,) = [p for p in reports.iterdir() if p.name != "history"]
    data = json.loads((folder / "evidence.json").read_text())

    # The run id is the scratch run's own, so reports and run folders line up.
    assert data["run_id"] == folder.name
    assert data["environment"]["provider"] == "local"
    assert data["environment"]["run_dir"] == str(run_root / folder.name)
    assert not processes_owned_by({folder.name})  # and everything was torn down
    for store in ("postgres", "seaweedfs", "warehouse"):
        assert data["versions"].get(store), data["versions"]
    phases = {(p["store"], p["name"]): p for p in data["phases"]}
    assert phases[("scratch", "provision")]["seconds"] > 0
    assert "ready" in phases[("scratch", "provision")]["detail"]
    assert ("scratch", "teardown") in phases and ("postgres", "verify") in phases
    verdicts = {c["id"]: c["verdict"] for c in data["checks"]}
    assert verdicts == {"restore.postgres": "pass", "consistency.dsn": "fail"}

    passwords = json.loads((tmp_path / "leak-probe.json").read_text())
    dsn_message = next(c["message"] for c in data["checks"] if c["id"] == "consistency.dsn")
    assert "postgresql://postgres:***@127.0.0.1" in dsn_message
    secrets = {f"{k} password": v for k, v in passwords.items()}
    secrets["scratch s3 secret key"] = "drill-secret"
    assert scan_for_secrets(folder, secrets) == []
    assert verify_folder(folder).ok
