"""A drill run: its id, its private directory and the marker that proves we created it.

Every resource a run creates carries the run id: its directory is ``<root>/<run-id>/`` with a
``run.json`` marker, and every process it starts has ``SCRYDON_DRILL_OWNER=<run-id>`` in its
environment. The sweep (:mod:`harness.scratch.sweep`) relies on exactly these two marks and
on nothing else, so it can never remove something the harness did not create.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.scratch.procinfo import start_ticks
from harness.scratch.tempdirs import system_tmp

MARKER_NAME = "run.json"
MARKER_MAGIC = "scrydon-drill-run/v1"
RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def default_root() -> Path:
    """The directory that holds run directories when the config names none."""
    return system_tmp() / "scrydon-drill"


def new_run_id(now: dt.datetime | None = None) -> str:
    """Return a sortable, unique run id such as ``20261124T051700Z-3fa9c1``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_directory(root: str | os.PathLike[str] | None, run_id: str) -> Path:
    """The folder of run ``run_id`` under ``root`` (the default root when None)."""
    return (Path(root) if root else default_root()) / run_id


@dataclass
class Run:
    """One drill run's identity and directory."""

    run_id: str
    directory: Path
    owner_pid: int = field(default_factory=os.getpid)

    @classmethod
    def create(cls, root: str | os.PathLike[str] | None = None, run_id: str | None = None) -> Run:
        """Create the run directory and its marker under ``root``; interrupted half-way, it
        removes what it made."""
        directory = run_directory(root, run_id or new_run_id())
        base = directory.parent
        if not base.exists():
            base.mkdir(parents=True)
            # Servers run as an unprivileged user: they must be able to traverse this folder.
            os.chmod(base, 0o755)
        directory.mkdir(mode=0o711)
        try:
            os.chmod(directory, 0o711)
            run = cls(run_id=directory.name, directory=directory)
            run.write_marker()
        except BaseException:
            remove_run_directory(directory)
            raise
        return run

    def marker(self) -> dict[str, Any]:
        """Return the marker content identifying this run and its owner process."""
        return {
            "magic": MARKER_MAGIC,
            "run_id": self.run_id,
            "owner_pid": self.owner_pid,
            "owner_start_ticks": start_ticks(self.owner_pid),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            "kept": False,
        }

    def write_marker(self, **updates: Any) -> None:
        """Write (or update) ``run.json`` atomically."""
        path = self.directory / MARKER_NAME
        data = self.marker()
        if path.exists():
            data = json.loads(path.read_text())
        data.update(updates)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)

    def mark_kept(self, reason: str) -> None:
        """Record that the user asked to keep this run's environment (sweeps skip it)."""
        self.write_marker(kept=True, kept_reason=reason)

    def subdir(self, name: str, mode: int = 0o700) -> Path:
        """Create and return a subdirectory of the run directory."""
        path = self.directory / name
        path.mkdir(mode=mode, parents=True, exist_ok=True)
        return path


def read_marker(directory: Path) -> dict[str, Any] | None:
    """Return the marker of a run directory, or None if it is not one of ours."""
    path = directory / MARKER_NAME
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("magic") != MARKER_MAGIC:
        return None
    if data.get("run_id") != directory.name:
        return None
    return data


def remove_run_directory(directory: Path) -> None:
    """Remove a run directory so that an interruption at any moment stays sweepable.

    Everything but the marker goes first and the marker last: killed half-way, the folder
    still carries its marker and the next sweep recognises and removes it. Killed between
    the marker and the final ``rmdir``, what remains is an empty folder named like a run id,
    which the sweep removes too (an ``rmdir`` can never delete anything else).
    """
    marker = directory / MARKER_NAME
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        if entry == marker:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)  # a failure keeps the marker: the sweep finishes the job
        else:
            entry.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    directory.rmdir()


def remove_killed_run_directory(directory: Path) -> None:
    """:func:`remove_run_directory` for a run whose processes were killed a moment ago: one
    of them may still have been closing files in it, so a failure is retried once."""
    try:
        remove_run_directory(directory)
    except OSError:
        time.sleep(0.5)
        remove_run_directory(directory)


def is_empty_run_folder(directory: Path) -> bool:
    """True for an empty folder named like a run id: what an interrupted removal leaves."""
    if not RUN_ID_PATTERN.match(directory.name) or directory.is_symlink():
        return False
    try:
        return directory.is_dir() and not any(directory.iterdir())
    except OSError:
        return False
