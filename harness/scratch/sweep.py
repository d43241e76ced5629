"""Find and remove what killed runs left behind — and nothing else.

A directory is a leftover only if it sits directly under the run root, holds a ``run.json``
marker written by the harness (magic string and matching run id) and its owner process is
gone (pid *and* start time compared, so a recycled pid does not count as alive). A process is a
leftover only if its environment carries ``SCRYDON_DRILL_OWNER`` naming such a dead run.
Kept runs (``--drill-keep``) are skipped unless asked for.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.scratch.procinfo import group_members, is_alive, process_group, processes_owned_by
from harness.scratch.run import default_root, read_marker


@dataclass
class SweepReport:
    """What a sweep found and did."""

    root: Path
    removed_dirs: list[Path] = field(default_factory=list)
    killed: dict[int, str] = field(default_factory=dict)
    skipped_active: list[str] = field(default_factory=list)
    skipped_kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One human-readable paragraph."""
        parts = [f"sweep of {self.root}: removed {len(self.removed_dirs)} run folder(s), "
                 f"killed {len(self.killed)} process(es)"]
        if self.skipped_active:
            parts.append(f"left {len(self.skipped_active)} active run(s) alone")
        if self.skipped_kept:
            parts.append(f"left {len(self.skipped_kept)} kept run(s) alone "
                         "(scrydon-drill sweep --include-kept removes them)")
        if self.errors:
            parts.append("errors: " + "; ".join(self.errors))
        return ", ".join(parts)


def _owner_alive(marker: dict[str, object]) -> bool:
    pid = marker.get("owner_pid")
    ticks = marker.get("owner_start_ticks")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    return is_alive(pid, ticks if isinstance(ticks, int) else None)


def sweep(root: str | os.PathLike[str] | None = None, *, include_kept: bool = False,
          only: set[str] | None = None, grace: float = 2.0) -> SweepReport:
    """Remove leftovers of dead runs under ``root``; see the module docstring for the rules.

    ``only`` restricts the sweep to the given run ids (used to remove one kept run);
    a run whose owner is alive is never touched, kept or not.
    """
    base = Path(root) if root else default_root()
    report = SweepReport(root=base)
    if not base.is_dir():
        return report
    dead: dict[str, Path] = {}
    for entry in sorted(base.iterdir()):
        if not entry.is_dir() or entry.is_symlink():
            continue
        marker = read_marker(entry)
        if marker is None:
            continue  # not ours: never touched
        rid = str(marker["run_id"])
        if only is not None and rid not in only:
            continue
        if _owner_alive(marker):
            report.skipped_active.append(rid)
            continue
        if marker.get("kept") and not include_kept:
            report.skipped_kept.append(rid)
            continue
        dead[rid] = entry
    if not dead:
        return report

    # Processes first: a server must be gone before its data directory is deleted.
    victims = processes_owned_by(set(dead))
    # Members of a process group led by a marked process are ours too (see group_members).
    for pid, rid in list(victims.items()):
        if process_group(pid) == pid:
            for member in group_members(pid):
                victims.setdefault(member, rid)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_alive(p) for p in victims):
        time.sleep(0.1)
    for pid, rid in victims.items():
        if is_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        report.killed[pid] = rid
    # Reap our own children if any were among them (zombies otherwise linger in ps).
    for pid in victims:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    for rid, directory in dead.items():
        # Sockets SeaweedFS left in /tmp (recorded in the run folder, so provably ours).
        from harness.scratch.servers import TMP_SOCKETS_FILE, remove_tmp_sockets

        for listing in directory.glob(f"*/{TMP_SOCKETS_FILE}"):
            remove_tmp_sockets(listing)
        try:
            shutil.rmtree(directory)
            report.removed_dirs.append(directory)
        except OSError as exc:
            report.errors.append(f"{directory}: {exc}")
    return report
