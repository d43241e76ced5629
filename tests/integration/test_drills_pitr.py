"""restore.pitr in a real drill run: passes at a reachable target, fails past the archive."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import python

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def drill(reference, run_root: Path, reports: Path, target: str) -> dict:
    proc = subprocess.run(
        [python(), "-m", "harness.cli", "drill", "--config", str(reference.drill_config),
         "--root", str(run_root), "--set", f"report.dir={reports}", "--pitr-target", target],
        capture_output=True, text=True, timeout=600)
    (folder,) = [p for p in reports.iterdir() if (p / "evidence.json").exists()]
    evidence = json.loads((folder / "evidence.json").read_text())
    return {"returncode": proc.returncode, "output": proc.stdout + proc.stderr,
            "checks": {c["id"]: c for c in evidence["checks"]}}


def test_pitr_check_passes_at_a_real_target_and_fails_beyond_the_archive(
        reference, run_root: Path, tmp_path: Path) -> None:
    run2 = reference.meta["backup_runs"][1]
    ok = drill(reference, run_root, tmp_path / "ok", run2["server_time"])
    pitr = ok["checks"]["restore.pitr"]
    assert pitr["verdict"] == "pass", ok["output"][-3000:]
    assert "recovery stopping before commit" in pitr["message"]
    assert ok["returncode"] == 0
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).isoformat()
    bad = drill(reference, run_root, tmp_path / "bad", future)
    pitr = bad["checks"]["restore.pitr"]
    assert pitr["verdict"] == "fail"
    assert "WAL archive ends before the recovery target" in pitr["message"]
    assert bad["returncode"] != 0
    assert [p for p in run_root.iterdir()] == [], "a drill left its run folder behind"
