"""Find and remove what killed runs left behind — and nothing else.

A directory is a leftover only if it sits directly under the run root, holds a ``run.json``
marker written by the harness (magic string and matching run id) and its owner process is
gone (pid *and* start time compared, so a recycled pid does not count as alive). Each
provider then removes its own kind of leftover of exactly those runs (the local provider the
processes whose environment carries ``SCRYDON_DRILL_OWNER`` naming one; the containers and
Kubernetes providers what carries their run label). Kept runs (``--drill-keep``) are skipped
unless asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from harness.registry import PROVIDERS
from harness.scratch.base import ScratchProvider, SweepReport
from harness.scratch.procinfo import is_alive
from harness.scratch.run import (
    default_root,
    is_empty_run_folder,
    read_marker,
    remove_killed_run_directory,
)
from harness.scratch.tempdirs import sweep_tempdirs

__all__ = ["SweepReport", "sweep", "sweepers"]


def _owner_alive(marker: dict[str, object]) -> bool:
    pid = marker.get("owner_pid")
    ticks = marker.get("owner_start_ticks")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    return is_alive(pid, ticks if isinstance(ticks, int) else None)


def sweep(root: str | os.PathLike[str] | None = None, *, include_kept: bool = False,
          only: set[str] | None = None) -> SweepReport:
    """Remove leftovers of dead runs under ``root``; see the module docstring for the rules.

    ``only`` restricts the sweep to the given run ids (used to remove one kept run);
    a run whose owner is alive is never touched, kept or not.
    """
    base = Path(root) if root else default_root()
    report = SweepReport(root=base)
    # Temp folders of killed harness processes (not of a run: they may predate the run).
    report.removed_dirs.extend(sweep_tempdirs())
    if not base.is_dir():
        return report
    dead: dict[str, Path] = {}
    for entry in sorted(base.iterdir()):
        if not entry.is_dir() or entry.is_symlink():
            continue
        marker = read_marker(entry)
        if marker is None:
            if is_empty_run_folder(entry):
                # A removal interrupted after its marker: only an empty folder is left.
                try:
                    entry.rmdir()
                    report.removed_dirs.append(entry)
                except OSError:
                    pass  # not empty any more: someone is using it, leave it
            continue  # otherwise not ours: never touched
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

    # Each provider removes its own kind of leftover first (processes, containers,
    # namespaces): a server must be gone before its data directory is deleted.
    for provider in sweepers():
        try:
            provider.sweep(dead, report)
        except Exception as exc:  # noqa: BLE001 - one provider's failure must not stop the rest
            report.errors.append(f"{provider.name}: {type(exc).__name__}: {exc}")
    for directory in dead.values():
        try:
            remove_killed_run_directory(directory)
            report.removed_dirs.append(directory)
        except OSError as exc:
            report.errors.append(f"{directory}: {exc}")
    return report


def sweepers() -> list[type[ScratchProvider]]:
    """The provider classes whose dependencies are installed (each sweeps its own kind)."""
    out: list[type[ScratchProvider]] = []
    for entry in PROVIDERS.values():
        if any(importlib.util.find_spec(m) is None for m in entry.requires):
            continue
        cls = getattr(importlib.import_module(entry.module), entry.cls)
        if cls not in out:
            out.append(cls)
    return out
