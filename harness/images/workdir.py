"""Removing the builder's scratch folders without ever reaching into a mount.

debootstrap mounts ``/proc`` (and, in some environments, binds the machine's ``/dev``) inside
the root filesystem it builds, and unmounts them when it exits. If it is killed they stay
mounted, and a plain recursive delete would then delete files of the machine itself. So
mounts below the folder are unmounted first, and the folder is left in place (and reported)
if any of them cannot be.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.images.errors import ImagesError
from harness.tools.wait import tail

__all__ = ["mounts_below", "remove_tree", "tail"]


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def mounts_below(folder: Path) -> list[Path]:
    """Mount points at or below ``folder``, deepest first."""
    root = folder.resolve()
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = Path(_unescape(fields[4]))
            if point == root or root in point.parents:
                found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_tree(folder: Path) -> None:
    """Unmount whatever is mounted below ``folder``, then delete it.

    Raises :class:`ImagesError` (leaving the folder) if a mount cannot be removed.
    """
    if not folder.exists():
        return
    for point in mounts_below(folder):
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)
    left = mounts_below(folder)
    if left:
        raise ImagesError("a build folder still has file systems mounted in it; left in place",
                          path=str(folder), detail="\n".join(map(str, left)),
                          remedy=f"umount them ({', '.join(map(str, left))}), then delete "
                                 f"{folder}")
    shutil.rmtree(folder)
