"""Faults of the environment, not of the backups: each must end the drill with exit 3 and a
message naming the cause, never a verdict on the backups; nothing may be left running and
nothing written to the source.

* the scratch filesystem fills up while restoring (scratch.root on a small tmpfs)
* the backup source disappears mid-run (its folder removed; its S3 server stopped)
* the scratch PostgreSQL dies while pg_restore runs (SIGKILL to its postmaster)
* the scratch PostgreSQL's clock is two days behind (libfaketime on its binary)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.backup.clock import find_libfaketime
from harness.scratch.procinfo import processes_owned_by
from harness.scratch.run import Run
from harness.scratch.servers import LocalSeaweed
from harness.scratch.sweep import sweep
from harness.tools import pgbin
from tests.integration.test_catalog_reference import upload_tree
from tests.integration.test_drills import REPO, copy_backups, private_dir, tree_hashes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

S3_KEYS = {"access": "envfault-access", "secret": "envfault-secret-0123456789"}


@dataclass
class Outcome:
    code: int
    output: str
    run_ids: set[str] = field(default_factory=set)
    acted: str = ""


def watch_runs(root: Path, seen: set[str], stop: threading.Event) -> None:
    """Note every run folder that appears under ``root`` (to look for leftovers later)."""
    while not stop.is_set():
        if root.is_dir():
            seen.update(p.name for p in root.iterdir())
        time.sleep(0.05)


def run_drill(work: Path, name: str, config: Path, *, sets: dict[str, str] | None = None,
              env: dict[str, str] | None = None,
              trigger: Callable[[Path, Outcome], None] | None = None) -> Outcome:
    """``scrydon-drill drill`` with its own root; ``trigger`` acts on it from a thread."""
    root = work / f"root-{name}"
    argv = [sys.executable, "-m", "harness.cli", "drill", "--config", str(config),
            "--root", str(root), "--set", f"report.dir={work / f'reports-{name}'}"]
    for key, value in (sets or {}).items():
        argv += ["--set", f"{key}={value}"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}
    full_env.update(env or {})
    outcome = Outcome(code=-1, output="")
    stop = threading.Event()
    threads = [threading.Thread(target=watch_runs, args=(root, outcome.run_ids, stop))]
    if trigger is not None:
        threads.append(threading.Thread(target=trigger, args=(root, outcome)))
    proc = subprocess.Popen(argv, cwd=REPO, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for t in threads:
        t.start()
    try:
        outcome.output, _ = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        outcome.output = proc.communicate()[0] + "\n[killed: timeout]"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    outcome.code = proc.returncode
    return outcome


def assert_clean(outcome: Outcome, root: Path) -> None:
    """Nothing of the run is left: no marked process, no run folder."""
    assert outcome.run_ids, "no run folder was ever seen"
    assert processes_owned_by(outcome.run_ids) == {}
    assert not root.is_dir() or list(root.iterdir()) == []


def pids_named(name: str, needle: str = "") -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != name:
                continue
            if needle and needle not in (proc / "cmdline").read_bytes().decode(errors="replace"):
                continue
        except OSError:
            continue
        out.append(int(proc.name))
    return out


def postmasters_of(run_ids: set[str]) -> list[int]:
    """The postmasters (PostgreSQL processes whose parent is not one) of these runs."""
    owned = processes_owned_by(run_ids)
    out = []
    for pid in owned:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                continue
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if Path(f"/proc/{ppid}/comm").read_text().strip() != "postgres":
                out.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return out


def serve_on_s3(seaweed: LocalSeaweed, bucket: str, prefix: str, backups: Path) -> Any:
    """Start ``seaweed``, upload ``backups`` under ``bucket/prefix``; return its client."""
    seaweed.start()
    seaweed.wait_ready(60)
    client: Any = seaweed.endpoint.client()
    client.create_bucket(Bucket=bucket)
    upload_tree(client, bucket, prefix, backups)
    return client


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    path = private_dir("scrydon-drill-envfault-")
    try:
        yield path
    finally:
        for root in path.glob("root-*"):
            sweep(root, include_kept=True)
        shutil.rmtree(path, ignore_errors=True)


def test_a_full_scratch_filesystem_is_named_and_exits_3(reference: Any, work: Path,
                                                        measure) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = work / "small"
    small.mkdir()

    def mount(size_kib: int) -> None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs",
                        str(small)], check=True)

    try:
        # How much the ready (still empty) scratch environment takes on this machine...
        mount(1024 * 1024)
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "up", "--root",
                                 str(small / "root-probe")], cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "press Ctrl-C" in line:
                break
        used = shutil.disk_usage(small).used
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        subprocess.run(["umount", str(small)], check=True)
        # ...plus 3 MiB: the servers start, the first CREATE DATABASE (a copy of template1,
        # several MiB) or pg_restore runs out of room.
        size_kib = used // 1024 + 3 * 1024
        mount(size_kib)
        # The free-disk preflight would refuse this before anything starts (tested below):
        # here the disk must fill up during the restore.
        outcome = run_drill(small, "full", reference.drill_config,
                            sets={"scratch.check_free_disk": "false"})
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
    measure(f"disk full: tmpfs of {size_kib / 1024:.0f} MiB (ready environment took "
            f"{used / 1024 / 1024:.0f} MiB): exit {outcome.code}")
    assert outcome.code == 3, outcome.output[-4000:]
    assert "the scratch filesystem is full" in outcome.output, outcome.output[-4000:]
    assert processes_owned_by(outcome.run_ids) == {}


def test_too_little_free_disk_is_refused_before_any_server_starts(reference: Any, work: Path,
                                                                 measure) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = work / "small-preflight"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(small)],
                   check=True)
    try:
        outcome = run_drill(small, "preflight", reference.drill_config)
        runs = list((small / "root-preflight").glob("*")) if (small / "root-preflight").is_dir() \
            else []
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
    line = next((x for x in outcome.output.splitlines() if "free; this restore needs" in x), "")
    measure(f"free-disk preflight on a 64 MiB tmpfs: exit {outcome.code}: {line.strip()}")
    assert outcome.code == 3, outcome.output[-4000:]
    assert line, outcome.output[-4000:]
    assert "servers 512.0 MiB" in line and "postgres" in line
    assert "exit 3: the scratch environment or the backup source failed, not the backups" \
        in outcome.output
    assert runs == [], "a run folder was made before the preflight refused"
    assert processes_owned_by(outcome.run_ids) == {}


def test_the_source_folder_removed_mid_run_is_named_and_exits_3(reference: Any, work: Path
                                                                ) -> None:
    source = copy_backups(reference.backups, work / "vanishing")
    config = work / "vanishing.toml"
    config.write_text(reference.drill_config.read_text().replace(
        str(reference.backups), str(source)))
    before = tree_hashes(reference.backups)

    def remove_when_provisioning(root: Path, outcome: Outcome) -> None:
        # Posture has read the source by the time the scratch environment is made.
        deadline = time.monotonic() + 120
        while not (root.is_dir() and any(root.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.02)
        shutil.rmtree(source)
        outcome.acted = "removed"

    outcome = run_drill(work, "vanish", config, trigger=remove_when_provisioning)
    assert outcome.acted == "removed"
    assert outcome.code == 3, outcome.output[-4000:]
    assert "no longer exists" in outcome.output, outcome.output[-4000:]
    assert f"{source} no longer exists" in outcome.output
    assert_clean(outcome, work / "root-vanish")
    assert tree_hashes(reference.backups) == before


def test_the_s3_source_stopped_mid_run_is_named_and_exits_3(reference: Any, work: Path) -> None:
    helpers = work / "s3-helpers"
    seaweed = LocalSeaweed(Run.create(helpers), name="backups", access_key=S3_KEYS["access"],
                           secret_key=S3_KEYS["secret"])
    try:
        client = serve_on_s3(seaweed, "dr-backups", "scrydon", reference.backups)
        listing = sorted((o["Key"], o["ETag"]) for o in
                         client.list_objects_v2(Bucket="dr-backups", MaxKeys=1000)["Contents"])

        def stop_when_provisioning(root: Path, outcome: Outcome) -> None:
            deadline = time.monotonic() + 120
            while not (root.is_dir() and any(root.iterdir())) and time.monotonic() < deadline:
                time.sleep(0.02)
            seaweed.stop()
            outcome.acted = "stopped"

        outcome = run_drill(work, "s3stop", reference.drill_config, sets={
            "backups.source": "s3://dr-backups/scrydon",
            "backups.s3_endpoint": seaweed.endpoint.url,
            "backups.s3_access_key": S3_KEYS["access"],
            "backups.s3_secret_key": S3_KEYS["secret"], "backups.connect_attempts": "1",
            "backups.connect_timeout_seconds": "2"}, trigger=stop_when_provisioning)
        assert outcome.acted == "stopped"
        assert outcome.code == 3, outcome.output[-4000:]
        assert "S3" in outcome.output and "unreachable" in outcome.output, \
            outcome.output[-4000:]
        assert S3_KEYS["secret"] not in outcome.output
        assert_clean(outcome, work / "root-s3stop")
        # Started again on its data, the source holds exactly what it held.
        seaweed.start()
        seaweed.wait_ready(60)
        client = seaweed.endpoint.client()
        assert sorted((o["Key"], o["ETag"]) for o in client.list_objects_v2(
            Bucket="dr-backups", MaxKeys=1000)["Contents"]) == listing
    finally:
        seaweed.stop()
        sweep(helpers, include_kept=True)


def test_the_scratch_postgres_dying_mid_restore_is_named_and_exits_3(reference: Any,
                                                                     work: Path) -> None:
    def kill_during_pg_restore(root: Path, outcome: Outcome) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if pids_named("pg_restore", str(reference.backups)):
                for pid in postmasters_of(outcome.run_ids):
                    os.kill(pid, signal.SIGKILL)
                    outcome.acted = f"killed postmaster {pid}"
                return
            time.sleep(0.005)

    outcome = run_drill(work, "pgdies", reference.drill_config, trigger=kill_during_pg_restore)
    assert outcome.acted.startswith("killed"), "pg_restore was never seen running"
    assert outcome.code == 3, outcome.output[-4000:]
    assert "the scratch postgres server stopped answering during the restore" in \
        outcome.output, outcome.output[-4000:]
    assert_clean(outcome, work / "root-pgdies")


def test_a_scratch_postgres_with_a_skewed_clock_is_refused_with_exit_3(reference: Any,
                                                                       work: Path) -> None:
    # Every PostgreSQL here, seen through a folder whose `postgres` runs two days behind.
    wrappers = []
    for inst in pgbin.installations():
        folder = work / "skewed" / f"pg{inst.major}-{len(wrappers)}"
        folder.mkdir(parents=True)
        for tool in inst.bindir.iterdir():
            if tool.name != "postgres":
                (folder / tool.name).symlink_to(tool)
        script = folder / "postgres"
        script.write_text(f"#!/bin/sh\nLD_PRELOAD={find_libfaketime()} FAKETIME=-2d "
                          f"exec {inst.bindir / 'postgres'} \"$@\"\n")
        script.chmod(0o755)
        wrappers.append(str(folder))
    os.chmod(work / "skewed", 0o755)
    outcome = run_drill(work, "skew", reference.drill_config,
                        env={"SCRYDON_DRILL_PG_BINDIRS": ":".join(wrappers)})
    assert outcome.code == 3, outcome.output[-4000:]
    assert "clocks are skewed" in outcome.output and "postgres -1728" in outcome.output, \
        outcome.output[-4000:]
    assert_clean(outcome, work / "root-skew")
