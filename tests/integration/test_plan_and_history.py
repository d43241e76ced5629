"""``scrydon-drill plan`` (the catalogue only: nothing provisioned) and ``history``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.evidence.history import DirectoryHistory, HistoryEntry

pytestmark = [pytest.mark.integration]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def entry(run_id: str, rto: float, *, failed: bool = False, target: float = 60) -> dict[str, Any]:
    return {"run_id": run_id, "started_at": f"2026-{run_id[4:6]}-{run_id[6:8]}T04:00:00+00:00",
            "verdict": "fail" if failed else "pass", "failed": failed, "kind": "drill",
            "rto_seconds": rto, "rpo_seconds": 7200.0, "rto_target_seconds": target,
            "rpo_target_seconds": 86400.0, "checks": 27, "checks_failed": 1 if failed else 0}


def test_plan_names_the_set_the_checks_and_an_estimate_without_provisioning(
        reference: Any, tmp_path: Path) -> None:
    history = tmp_path / "reports" / "history"
    for rid, rto in (("20260702T040000Z-aaaaaa", 30.0), ("20260802T040000Z-bbbbbb", 34.0),
                     ("20260902T040000Z-cccccc", 32.0)):
        DirectoryHistory(history).add(HistoryEntry.from_dict(entry(rid, rto)))
    root = tmp_path / "root"
    out = cli("plan", "--config", str(reference.drill_config), "--root", str(root),
              "--set", "drill.pitr_target=2026-11-20T00:00:00Z", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    newest = reference.meta["backup_runs"][-1]["stamp"]
    assert f"restore set: {newest}" in out.stdout
    for db in ("auth", "agentic", "analytics", "cortex", "ontology"):
        assert f"{db}.dump" in out.stdout
    assert "checks that would run (28, provider local)" in out.stdout
    assert "restore.pitr" in out.stdout.split("checks that would run")[1].splitlines()[0]
    assert "left out: k8s.rollout would not run" in out.stdout
    assert "estimated recovery time: 32 s (median RTO of the last 3 passing drills" in out.stdout
    assert not root.exists(), "plan must not provision anything"


def test_plan_without_a_restorable_set_exits_non_zero(tmp_path: Path) -> None:
    empty = tmp_path / "empty-backups"
    empty.mkdir()
    config = tmp_path / "drill.toml"
    config.write_text(f'[backups]\nsource = "{empty}"\n')
    out = cli("plan", "--config", str(config), cwd=tmp_path)
    assert out.returncode != 0
    assert "no" in out.stderr.lower() and str(empty) in out.stderr


def test_history_lists_runs_targets_and_regressions(reference: Any, tmp_path: Path) -> None:
    history = tmp_path / "reports" / "history"
    rows = [("20260602T040000Z-a00001", 30.0, False), ("20260702T040000Z-a00002", 31.0, False),
            ("20260802T040000Z-a00003", 29.0, True), ("20260902T040000Z-a00004", 75.0, False)]
    for rid, rto, failed in rows:
        (history).mkdir(parents=True, exist_ok=True)
        (history / f"{rid}.json").write_text(json.dumps(entry(rid, rto, failed=failed)))
    out = cli("history", "--config", str(reference.drill_config), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"past runs in {history}")
    last = next(line for line in lines if "a00004" in line)
    assert "RTO over target 60 s" in last and "RTO regressed (2.5x the median of 2 runs" in last
    failed = next(line for line in lines if "a00003" in line)
    assert " fail " in failed
    assert lines[-1] == "4 drill(s), 3 passed, 1 RTO regression(s)"
