"""``scrydon-drill doctor``: ready on a healthy setup, each missing piece named with its
remedy and exit 3 otherwise; no credential's value is ever printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.reference.build import DEFAULT_ADMIN_PASSWORD

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]


def doctor(config: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "harness.cli", "doctor", "--config", str(config)]
    for item in sets:
        argv += ["--set", item]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_a_healthy_setup_is_ready(reference: Any) -> None:
    out = doctor(reference.drill_config)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ready to drill" in out.stdout
    assert "ok      PostgreSQL 16" in out.stdout
    assert "newest restorable set" in out.stdout
    assert DEFAULT_ADMIN_PASSWORD not in out.stdout + out.stderr


def test_each_missing_piece_is_named_with_its_remedy(reference: Any, tmp_path: Path) -> None:
    out = doctor(reference.drill_config, "scratch.postgres_version=11",
                 f"backups.source={tmp_path / 'nowhere'}", "admin.password=")
    assert out.returncode == 3, out.stdout + out.stderr
    text = out.stdout
    assert "MISSING PostgreSQL 11 server and client tools" in text
    assert f"MISSING backup source (read-only listing): backup source directory " \
           f"{tmp_path / 'nowhere'} does not exist" in text
    assert "MISSING admin password (signin checks): not set" in text
    assert "what to do: set SCRYDON_DRILL_ADMIN_PASSWORD" in text
    assert "not ready" in text


def test_an_unreachable_docker_engine_or_cluster_is_missing(reference: Any,
                                                            tmp_path: Path) -> None:
    out = doctor(reference.drill_config, "scratch.provider=containers",
                 f"containers.docker_host=unix://{tmp_path / 'no-engine.sock'}")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "MISSING Docker engine" in out.stdout
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: https://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
        "    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n")
    out = doctor(reference.drill_config, "scratch.provider=kubernetes",
                 f"kubernetes.kubeconfig={kubeconfig}")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "MISSING Kubernetes cluster" in out.stdout or "MISSING kubectl" in out.stdout
