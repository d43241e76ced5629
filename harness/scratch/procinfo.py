"""Facts about processes read from /proc, used to prove a process is ours before touching it."""

from __future__ import annotations

import os
from pathlib import Path

from harness.records import OWNER_ENV


def start_ticks(pid: int) -> int | None:
    """Return the process start time in clock ticks since boot, or None if it is gone.

    Together with the pid this identifies a process uniquely, so a recycled pid is never
    mistaken for the process we started.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])  # field 22 overall


def is_alive(pid: int, ticks: int | None = None) -> bool:
    """True if ``pid`` runs (and, when given, started at ``ticks``) and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat[stat.rfind(")") + 2 :].split()[0]
    if state == "Z":
        return False
    return ticks is None or start_ticks(pid) == ticks


def owner_of(pid: int) -> str | None:
    """Return the run id in the process's ``SCRYDON_DRILL_OWNER`` variable, if any."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    prefix = (OWNER_ENV + "=").encode()
    for entry in raw.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix):].decode(errors="replace")
    return None


def processes_owned_by(run_ids: set[str]) -> dict[int, str]:
    """Map pid -> run id for every live process whose owner variable names one of ``run_ids``."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid():
            continue
        owner = owner_of(pid)
        if owner in run_ids and is_alive(pid):
            found[pid] = owner
    return found


def process_group(pid: int) -> int | None:
    """Return the process group id of ``pid`` (None if it is gone)."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def members_of_group(pgid: int, run_id: str) -> list[int]:
    """Return live processes in group ``pgid`` that carry ``run_id`` as their owner mark."""
    return [pid for pid in processes_owned_by({run_id}) if process_group(pid) == pgid]


def group_members(pgid: int) -> list[int]:
    """Every live process whose process group is ``pgid``.

    Used only for groups whose leader carries our owner mark: PostgreSQL overwrites the
    environment area of its child processes for their titles, so the children of a marked
    postmaster are found through its process group instead.
    """
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and process_group(int(entry)) == pgid and is_alive(int(entry)):
            members.append(int(entry))
    return members
