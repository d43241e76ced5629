"""Posture without a restore: ``scrydon-drill posture`` in seconds with evidence, and the
drill's posture checks answering while the scratch environment cannot even start."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import EXIT_FAILED, EXIT_NOT_STARTED, EXIT_PASSED
from tests.conftest import python

pytestmark = [pytest.mark.integration]


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python(), "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def evidence(reports: Path) -> dict[str, Any]:
    (folder,) = [p for p in reports.iterdir() if (p / "evidence.json").exists()]
    data: dict[str, Any] = json.loads((folder / "evidence.json").read_text())
    data["_folder"] = str(folder)
    return data


def test_posture_command_takes_seconds_and_writes_evidence(reference: Any, tmp_path: Path,
                                                           measure: Any) -> None:
    t0 = time.monotonic()
    proc = cli("posture", "--config", str(reference.drill_config),
               "--set", f"report.dir={tmp_path / 'ok'}")
    seconds = time.monotonic() - t0
    assert proc.returncode == EXIT_PASSED, proc.stdout + proc.stderr
    ev = evidence(tmp_path / "ok")
    assert ev["kind"] == "posture" and ev["verdict"] == "pass"
    ids = {c["id"] for c in ev["checks"]}
    assert ids == {"posture.dump-freshness", "posture.dump-retention",
                   "posture.dump-completeness", "posture.wal-continuity",
                   "posture.wal-retention", "posture.warehouse-retention", "posture.master-key"}
    assert any("objects-replica was not run" in n for n in ev["notes"])
    assert seconds < 30
    verified = cli("verify-evidence", ev["_folder"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    measure(f"scrydon-drill posture on the reference: {seconds:.1f} s (process included), "
            f"{len(ids)} checks, evidence verified")

    broken = tmp_path / "broken"
    shutil.copytree(reference.backups, broken)
    last = reference.meta["backup_runs"][-1]["stamp"]
    (broken / "postgres" / "dumps" / last / "cortex.dump").unlink()
    failed = cli("posture", "--config", str(reference.drill_config),
                 "--set", f"backups.source={broken}", "--set", f"report.dir={tmp_path / 'bad'}")
    assert failed.returncode == EXIT_FAILED, failed.stdout + failed.stderr
    bad = {c["id"]: c for c in evidence(tmp_path / "bad")["checks"]}
    assert bad["posture.dump-completeness"]["verdict"] == "fail"
    assert "cortex" in bad["posture.dump-completeness"]["message"]

    gone = cli("posture", "--set", f"backups.source={tmp_path}/nowhere",
               "--set", f"report.dir={tmp_path / 'gone'}")
    assert gone.returncode == EXIT_NOT_STARTED, gone.stdout + gone.stderr
    assert "does not exist" in " ".join(evidence(tmp_path / "gone")["run_errors"])


def test_drill_posture_answers_when_the_scratch_cannot_start(reference: Any, run_root: Path,
                                                             tmp_path: Path) -> None:
    # No PostgreSQL 99 exists: provisioning fails, every check needing the restore fails with
    # it, and the posture checks still run (from the catalogue) and pass.
    proc = cli("drill", "--config", str(reference.drill_config), "--root", str(run_root),
               "--set", f"report.dir={tmp_path / 'r'}", "--set", "scratch.postgres_version=99",
               timeout=600)
    ev = evidence(tmp_path / "r")
    verdicts = {c["id"]: c["verdict"] for c in ev["checks"]}
    posture = {k: v for k, v in verdicts.items() if k.startswith("posture.")
               and k != "posture.objects-replica"}
    assert len(posture) == 7 and set(posture.values()) == {"pass"}, ev["checks"]
    assert verdicts["restore.postgres"] == "fail"
    assert verdicts["posture.objects-replica"] == "fail"  # it needs the restored index
    assert proc.returncode == EXIT_NOT_STARTED, proc.stdout[-3000:]
