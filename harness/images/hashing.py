"""Content hashes of recipes and their inputs.

A recipe hash is SHA-256 over length-prefixed ``(key, value)`` fields, so no two different
field lists can produce the same byte stream. Files contribute their path relative to the
recipe and the SHA-256 of their bytes; directory trees contribute a manifest of every entry
(type, permission bits, content digest or link target). Timestamps and owners never count:
the same content on another machine or checkout gives the same hash.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

# Bump when the way hashes are computed, or the way the builder assembles an image from a
# recipe (harness.images code), changes: every image is then rebuilt once.
SCHEME = "scrydon-drill-image-recipe/1"
# 64 bits: a local cache key, short enough to read in a tag, long enough never to collide.
HASH_LENGTH = 16


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def tree_manifest(root: Path, exclude: Iterable[str] = ()) -> list[str]:
    """One line per entry below ``root``, sorted by path: what a tree's hash is made of.

    ``exclude`` lists relative paths left out (with everything below them).
    """
    skip = set(exclude)
    lines: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if str(rel_dir / d) not in skip)
        for name in sorted(dirnames + filenames):
            rel = str(rel_dir / name) if str(rel_dir) != "." else name
            if rel in skip:
                continue
            path = Path(dirpath) / name
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                lines.append((rel, f"l {rel} -> {os.readlink(path)}"))
            elif stat.S_ISDIR(st.st_mode):
                lines.append((rel, f"d {rel} {mode:o}"))
            elif stat.S_ISREG(st.st_mode):
                lines.append((rel, f"f {rel} {mode:o} {file_digest(path)}"))
            else:
                lines.append((rel, f"? {rel}"))
    return [line for _, line in sorted(lines)]


def tree_digest(root: Path, exclude: Iterable[str] = ()) -> str:
    """SHA-256 of :func:`tree_manifest`, hex."""
    return hashlib.sha256("\n".join(tree_manifest(root, exclude)).encode()).hexdigest()


class RecipeHasher:
    """Accumulates the fields of one recipe and yields its short hash."""

    def __init__(self, scheme: str = SCHEME) -> None:
        self._h = hashlib.sha256()
        self.field("scheme", scheme)

    def field(self, key: str, value: str | bytes) -> None:
        """Add one named value."""
        data = value.encode() if isinstance(value, str) else value
        for part in (key.encode(), data):
            self._h.update(f"{len(part)}:".encode())
            self._h.update(part)

    def file(self, rel: str, path: Path) -> None:
        """Add a file by its path in the recipe and the digest of its bytes."""
        self.field(f"file:{rel}", file_digest(path))

    def hexdigest(self, length: int = HASH_LENGTH) -> str:
        """The first ``length`` hex characters of the digest."""
        return self._h.hexdigest()[:length]
