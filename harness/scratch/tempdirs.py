"""A private temporary folder per harness process, removable after a SIGKILL.

Python's ``tempfile`` folders (posture's WAL reads, downloads checked before use, the
better-auth work folder) are removed by ``with`` blocks, which a SIGKILL never reaches. So a
harness process sends its temporary files to ``<system tmp>/scrydon-drill-tmp/<pid>-<ticks>/``:
the name says which process owns it (pid *and* start time, so a recycled pid does not count)
and the sweep removes the folders of processes that are gone. Only folders inside that
holder, named that way, are ever removed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.scratch.procinfo import is_alive, start_ticks

HOLDER_NAME = "scrydon-drill-tmp"
_NAME = re.compile(r"^(\d+)-(\d+)$")
# The system's temp folder as it was before this process redirected its own.
_SYSTEM_TMP = Path(tempfile.gettempdir())


def system_tmp() -> Path:
    """The temp folder the machine gives this process (``TMPDIR`` or /tmp)."""
    return _SYSTEM_TMP


def holder() -> Path:
    """The folder holding every harness process's private temp folder."""
    return _SYSTEM_TMP / HOLDER_NAME


def use_private_tempdir() -> Path:
    """Send this process's ``tempfile`` folders into its own private folder; return it.

    Idempotent. The folder is removed at a normal exit; after a kill, by the next sweep.
    Only Python's ``tempfile`` is redirected: the servers keep the machine's ``TMPDIR`` (they
    run as another user, who could not write into a folder of ours).
    """
    pid = os.getpid()
    name = f"{pid}-{start_ticks(pid) or 0}"
    path = holder() / name
    if tempfile.tempdir == str(path):
        return path
    holder().mkdir(parents=True, exist_ok=True)
    path.mkdir(exist_ok=True)
    # 0711 like /tmp for traversal: a server user may need to reach a folder made inside.
    os.chmod(path, 0o711)
    tempfile.tempdir = str(path)
    atexit.register(shutil.rmtree, path, True)
    return path


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """Within the block, ``tempfile`` uses this process's private folder; afterwards the
    previous setting is back and the folder is removed (a command run in-process, as the
    tests do, leaves the caller's temp folder as it found it)."""
    previous = tempfile.tempdir
    path = use_private_tempdir()
    try:
        yield path
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(path, ignore_errors=True)


def sweep_tempdirs() -> list[Path]:
    """Remove the private temp folders of harness processes that are gone; return them."""
    removed: list[Path] = []
    base = holder()
    if not base.is_dir():
        return removed
    for entry in sorted(base.iterdir()):
        match = _NAME.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue  # not one of ours: never touched
        pid, ticks = int(match.group(1)), int(match.group(2))
        if pid == os.getpid() or is_alive(pid, ticks or None):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed
