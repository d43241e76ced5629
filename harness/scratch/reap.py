"""Stop processes of a run for good: the sweep of dead runs and a closing session share this.

A process belongs to a run when its environment carries the run's owner mark, or when it
is in a process group led by such a process (PostgreSQL overwrites its children's
environment for their titles). Whatever stops them waits until they are really gone: a
folder they still write into cannot be removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable

from harness.scratch.procinfo import group_members, is_alive, process_group, processes_owned_by

# Seconds to wait for SIGKILLed processes to vanish (the kernel frees them at once; this
# only bounds a process stuck in uninterruptible I/O).
_KILL_WAIT = 10.0


def owned_processes(run_ids: set[str]) -> dict[int, str]:
    """Map pid -> run id for every live process of ``run_ids`` (marked, or in a group a
    marked process leads)."""
    victims = processes_owned_by(run_ids)
    for pid, rid in list(victims.items()):
        if process_group(pid) == pid:
            for member in group_members(pid):
                victims.setdefault(member, rid)
    return victims


def terminate(pids: Iterable[int], grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (at once when ``grace`` is 0); return
    once every one of ``pids`` is gone (our own children among them are reaped)."""
    pids = list(pids)
    if grace > 0:
        _send(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _living(pids):
            time.sleep(0.05)
    _send([p for p in pids if is_alive(p)], signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT
    while _living(pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def kill_process_tree(popen: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started in its own session and everything in its group, then wait
    for all of them: a one-shot command (initdb, mariadb-install-db) interrupted half-way
    must not leave the bootstrap server it started writing into the run folder."""
    pgid = popen.pid
    try:
        os.killpg(pgid, signal.SIGKILL)  # the leader is not reaped yet: the group is ours
    except (ProcessLookupError, PermissionError):
        pass
    try:  # a child caught before its setsid() has no group of its own yet
        os.kill(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    popen.wait()
    deadline = time.monotonic() + _KILL_WAIT
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _send(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _living(pids: list[int]) -> bool:
    for pid in pids:  # reap our own children among them (zombies count as gone, but linger)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    return any(is_alive(p) for p in pids)
