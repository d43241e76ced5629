"""The sweep removes leftovers of dead runs, and nothing else."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from harness.scratch.procinfo import is_alive, owner_of, start_ticks
from harness.scratch.run import MARKER_NAME, Run, read_marker
from harness.scratch.sweep import sweep
from tests.conftest import spawn_marked


def dead_pid() -> tuple[int, int]:
    """A pid (and its start ticks) of a process that has exited."""
    p = subprocess.Popen(["sleep", "0.2"])
    ticks = start_ticks(p.pid)
    p.wait()
    assert ticks is not None
    return p.pid, ticks


def make_dead_run(root: Path, run_id: str) -> Run:
    run = Run.create(root, run_id=run_id)
    pid, ticks = dead_pid()
    run.write_marker(owner_pid=pid, owner_start_ticks=ticks)
    (run.subdir("server") / "data").write_text("leftover")
    return run


def wait_gone(proc: subprocess.Popen[bytes], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(0.05)
    return False


def test_sweep_removes_only_dead_runs_and_their_processes(run_root: Path) -> None:
    dead = make_dead_run(run_root, "20260101T000000Z-dead01")
    leftover = spawn_marked(dead.run_id)
    live = Run.create(run_root, run_id="20260101T000000Z-live01")  # owned by this test process
    live_child = spawn_marked(live.run_id)
    stranger = spawn_marked(None)  # no owner mark at all
    foreign = spawn_marked("someone-elses-run")  # a mark naming no run folder here
    not_ours = run_root / "20260101T000000Z-abcdef"
    not_ours.mkdir()
    (not_ours / "file").write_text("keep me")
    fake_marker = run_root / "20260101T000000Z-fake00"
    fake_marker.mkdir()
    (fake_marker / MARKER_NAME).write_text(json.dumps({"magic": "other", "run_id": fake_marker.name}))
    try:
        assert owner_of(leftover.pid) == dead.run_id
        report = sweep(run_root)
        assert wait_gone(leftover), "the dead run's process survived the sweep"
        assert report.killed == {leftover.pid: dead.run_id}
        assert report.removed_dirs == [dead.directory]
        assert not dead.directory.exists()
        assert report.skipped_active == [live.run_id]
        for proc in (live_child, stranger, foreign):
            assert proc.poll() is None, "sweep touched a process it did not create"
        assert live.directory.exists() and (not_ours / "file").exists() and fake_marker.exists()
    finally:
        for proc in (leftover, live_child, stranger, foreign):
            proc.kill()
            proc.wait()


def test_recycled_owner_pid_is_not_mistaken_for_alive(run_root: Path) -> None:
    run = Run.create(run_root, run_id="20260101T000000Z-recycl")
    # Same pid as a live process (ours) but a different start time: the owner is dead.
    run.write_marker(owner_pid=1, owner_start_ticks=(start_ticks(1) or 0) + 12345)
    report = sweep(run_root)
    assert report.removed_dirs == [run.directory]


def test_kept_runs_survive_unless_asked(run_root: Path) -> None:
    run = make_dead_run(run_root, "20260101T000000Z-kept01")
    run.mark_kept("test")
    child = spawn_marked(run.run_id)
    try:
        report = sweep(run_root)
        assert report.skipped_kept == [run.run_id] and child.poll() is None
        report = sweep(run_root, include_kept=True, only={run.run_id})
        assert wait_gone(child) and not run.directory.exists()
    finally:
        child.kill()
        child.wait()


def test_marker_must_match_folder_name(run_root: Path) -> None:
    run = Run.create(run_root, run_id="20260101T000000Z-name01")
    assert read_marker(run.directory) is not None
    moved = run.directory.rename(run_root / "20260101T000000Z-name02")
    assert read_marker(moved) is None


def test_is_alive_ignores_zombies_and_gone_processes() -> None:
    p = subprocess.Popen(["true"])
    time.sleep(0.3)  # exited but not reaped: a zombie
    assert not is_alive(p.pid)
    p.wait()
    assert not is_alive(p.pid)


def test_a_run_folder_whose_removal_was_interrupted_is_still_swept(run_root: Path,
                                                                   monkeypatch) -> None:
    import harness.scratch.run as runmod

    run = make_dead_run(run_root, "20260101T000000Z-half01")
    (run.subdir("reports") / "evidence.json").write_text("{}")
    real_rmtree = runmod.shutil.rmtree
    calls: list[Path] = []

    def failing_rmtree(path, *args, **kwargs):  # the removal dies after its first folder
        calls.append(Path(path))
        if len(calls) > 1:
            raise OSError("interrupted")
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(runmod.shutil, "rmtree", failing_rmtree)
    try:
        runmod.remove_run_directory(run.directory)
    except OSError:
        pass
    monkeypatch.setattr(runmod.shutil, "rmtree", real_rmtree)
    assert len(calls) == 2
    assert read_marker(run.directory) is not None, "the marker must be the last thing removed"
    report = sweep(run_root)
    assert not run.directory.exists()
    assert run.directory in report.removed_dirs


def test_an_empty_folder_named_like_a_run_is_swept_and_nothing_else_without_a_marker(
        run_root: Path) -> None:
    emptied = run_root / "20260101T000000Z-e0e0e0"  # killed between marker and rmdir
    emptied.mkdir()
    other_empty = run_root / "my-folder"
    other_empty.mkdir()
    full = run_root / "20260101T000000Z-f0f0f0"
    full.mkdir()
    (full / "file").write_text("keep me")
    report = sweep(run_root)
    assert not emptied.exists() and emptied in report.removed_dirs
    assert other_empty.is_dir() and (full / "file").read_text() == "keep me"
