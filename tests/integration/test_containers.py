"""The drill on containers: a Docker engine, the images built without a registry, every check.

Needs a Docker engine (``scripts/test.sh`` starts a private one and builds the images); on a
machine without one these tests are skipped, except in CI, where a missing engine fails them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.selftest import DrillRunner, run_matrix
from harness.config import resolve
from harness.scratch.base import RUN_LABEL
from harness.scratch.run import Run
from tests.conftest import private_run_root, python

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTAINERS = {"scratch.provider": "containers"}
# Faults of every kind (file, key, objects, warehouse, content, skew) caught exactly as on the
# local provider: the matrix code is the same, only the provider differs.
FAULTS = ("dump-truncated", "dump-skewed-analytics", "masterkey-different", "kb-blob-missing",
          "warehouse-rows-truncated", "admin-password-changed")


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """The Docker engine, with the local images built (cached by recipe hash)."""
    from harness.images import build_images
    from harness.images.engine import connect

    try:
        eng = connect(None, timeout=60)
    except Exception as exc:  # noqa: BLE001 - skipped or failed below, with the reason
        if os.environ.get("CI"):
            pytest.fail(f"CI has no Docker engine: {exc}")
        pytest.skip(f"no Docker engine reachable: {exc}")
    try:
        build_images(progress=lambda line: None)
        yield eng
    finally:
        eng.close()


def labelled(engine: Any, run_ids: set[str] | None = None) -> list[Any]:
    found = engine.client.containers.list(all=True, filters={"label": RUN_LABEL})
    return [c for c in found if run_ids is None or c.labels.get(RUN_LABEL) in run_ids]


def drill(reference: Any, root: Path, reports: Path, sets: dict[str, str]) -> dict[str, Any]:
    argv = [python(), "-m", "harness.cli", "drill", "--config", str(reference.drill_config),
            "--root", str(root), "--set", f"report.dir={reports}"]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    found = sorted(reports.glob("*/evidence.json"))
    evidence = json.loads(found[-1].read_text()) if found else {}
    return {"returncode": proc.returncode, "output": proc.stdout[-4000:] + proc.stderr[-2000:],
            "evidence": evidence,
            "checks": {c["id"]: c for c in evidence.get("checks", [])}}


def test_the_clean_drill_and_pitr_pass_on_containers(engine: Any, reference: Any,
                                                     tmp_path: Path, measure: Any) -> None:
    target = reference.meta["backup_runs"][1]["server_time"]
    with private_run_root("sdc-") as root:
        t0 = time.monotonic()
        run = drill(reference, root, tmp_path / "r", {**CONTAINERS,
                                                      "drill.pitr_target": target})
        seconds = time.monotonic() - t0
    verdicts = {k: c["verdict"] for k, c in run["checks"].items()}
    assert verdicts and set(verdicts.values()) == {"pass"}, (verdicts, run["output"])
    assert run["returncode"] == 0, run["output"]
    assert "restore.pitr" in verdicts and "signin.live" in verdicts
    env = run["evidence"]["environment"]
    assert env["provider"] == "containers"
    assert "sha256:" in env["postgres_image"] and "sha256:" in env["warehouse_image"]
    assert run["evidence"]["versions"]["postgres image"]
    assert labelled(engine, {run["evidence"]["run_id"]}) == []  # nothing left behind
    measure(f"clean drill + PITR on containers: {len(verdicts)} checks passed in "
            f"{seconds:.1f} s (images {env['postgres_image'].split()[0]}, "
            f"{env['objects_image'].split()[0]}, {env['warehouse_image'].split()[0]})")


def test_a_targeted_restore_on_containers(engine: Any, reference: Any) -> None:
    with private_run_root("sdt-") as root:
        proc = subprocess.run(
            [python(), "-m", "harness.cli", "restore", "--config", str(reference.drill_config),
             "--root", str(root), "--set", "scratch.provider=containers", "--keep", "never",
             "--table", "auth.audit_log"], capture_output=True, text=True, timeout=600,
            check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "restored auth.audit_log:" in proc.stdout and " rows" in proc.stdout


def test_faults_are_caught_on_containers_as_on_local_processes(engine: Any, reference: Any,
                                                                measure: Any) -> None:
    with private_run_root("sdf-") as root:
        runner = DrillRunner(reference.drill_config, root,
                             sets=[f"{k}={v}" for k, v in CONTAINERS.items()])
        matrix = run_matrix(reference.backups, root / "m", runner, faults=FAULTS,
                            meta=reference.meta, progress=lambda line: None)
    caught, total = matrix.detection()
    measure(f"fault matrix on containers: {matrix.summary()}")
    assert total == len(FAULTS) and caught == total, matrix.render_text()
    assert matrix.clean is not None and matrix.clean.ok, matrix.render_text()
    assert matrix.source_unchanged is True


def test_sigkill_mid_setup_then_the_sweep_removes_exactly_that_run(engine: Any) -> None:
    decoy = engine.client.containers.run("scrydon-drill/base:local", ["sleep", "600"],
                                         detach=True, labels={"purpose": "decoy"})
    with private_run_root("sdk-") as root:
        proc = subprocess.Popen([python(), "-m", "harness.cli", "up", "--root", str(root),
                                 "--scratch", "containers"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            runs = [p.name for p in root.iterdir() if p.is_dir()]
            while time.monotonic() < deadline and not (runs and labelled(engine, set(runs))):
                time.sleep(0.2)
                runs = [p.name for p in root.iterdir() if p.is_dir()]
            assert runs and labelled(engine, set(runs)), "no container was started"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        left = labelled(engine, set(runs))
        assert left, "the killed run left no container to sweep"
        swept = subprocess.run([python(), "-m", "harness.cli", "sweep", "--root", str(root)],
                               capture_output=True, text=True, timeout=120, check=False)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert labelled(engine, set(runs)) == []
        assert f"removed {len(left)} other resource(s)" in swept.stdout
    decoy.reload()
    assert decoy.status == "running"
    decoy.remove(force=True)


def test_provisioning_time_containers_vs_local(engine: Any, measure: Any) -> None:
    from harness.scratch.containers import ContainersProvider
    from harness.scratch.local import LocalProvider

    times: dict[str, tuple[float, float]] = {}
    with private_run_root("sdp-") as root:
        cfg = resolve(environ={}, arguments={"scratch": {"root": str(root)}})
        for name, cls in (("local", LocalProvider), ("containers", ContainersProvider)):
            provider = cls(cfg, Run.create(root))
            t0 = time.monotonic()
            provider.start()
            up = time.monotonic() - t0
            t1 = time.monotonic()
            provider.stop()
            times[name] = (up, time.monotonic() - t1)
    measure("scratch up+ready / down: " + "; ".join(
        f"{k} {u:.1f} s / {d:.1f} s" for k, (u, d) in times.items())
        + f" (containers/local up: {times['containers'][0] / times['local'][0]:.2f}x)")
    assert all(u > 0 for u, _ in times.values())


def test_a_store_that_exits_fails_setup_with_its_log_and_leaves_nothing(engine: Any) -> None:
    """The warehouse image here runs no server (the base image exits at once): setup must
    fail naming the store and image with the container's log, and remove what started."""
    from harness.errors import ServerStartError
    from harness.scratch.containers import ContainersProvider

    with private_run_root("sdh-") as root:
        cfg = resolve(environ={}, arguments={
            "scratch": {"root": str(root), "ready_timeout": 60},
            "containers": {"warehouse_image": "scrydon-drill/base:local",
                           "env": "SCRYDON_PROBE=1"}})
        run = Run.create(root)
        with pytest.raises(ServerStartError) as info:
            ContainersProvider(cfg, run).start()
        assert labelled(engine, {run.run_id}) == [], "a half-started setup left containers"
    message = info.value.render()
    assert "warehouse container (scrydon-drill/base:local) exited before it was ready" in message


def test_a_missing_image_is_named_with_the_remedy(engine: Any) -> None:
    from harness.errors import ScratchError
    from harness.scratch.containers import ContainersProvider

    with private_run_root("sdi-") as root:
        cfg = resolve(environ={}, arguments={
            "scratch": {"root": str(root)},
            "containers": {"postgres_image": "registry.invalid/nothing:1", "pull": "never"}})
        run = Run.create(root)
        with pytest.raises(ScratchError) as info:
            ContainersProvider(cfg, run).start()
        assert labelled(engine, {run.run_id}) == []
    text = info.value.render()
    assert "no image for the postgres store: registry.invalid/nothing:1: not in the engine" in text
    assert "containers.postgres_image" in text and info.value.exit_code == 3


def test_no_engine_is_a_start_failure_that_says_how_to_get_one(tmp_path: Path) -> None:
    with private_run_root("sdn-") as root:
        proc = subprocess.run(
            [python(), "-m", "harness.cli", "up", "--root", str(root), "--scratch",
             "containers", "--set", f"containers.docker_host=unix://{tmp_path}/none.sock"],
            capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "the containers provider needs a Docker engine" in proc.stderr
    assert "dockerd" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_removes_the_run_containers(engine: Any, sig: int) -> None:
    with private_run_root("sdu-") as root:
        proc = subprocess.Popen([python(), "-m", "harness.cli", "up", "--root", str(root),
                                 "--scratch", "containers"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            line, seen = "", []
            deadline = time.monotonic() + 120
            while "press Ctrl-C" not in line and time.monotonic() < deadline:
                line = proc.stdout.readline() if proc.stdout else ""
                seen.append(line)
                assert line or proc.poll() is None, "up exited early: " + "".join(seen)
            runs = {p.name for p in root.iterdir() if p.is_dir()}
            assert len(labelled(engine, runs)) == 3
            os.kill(proc.pid, sig)
            assert proc.wait(timeout=60) != 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert labelled(engine, runs) == [], f"{signal.Signals(sig).name} left containers"
