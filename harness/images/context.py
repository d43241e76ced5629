"""The build context of a Dockerfile recipe: the recipe's files plus its inputs, as a tar.

Written by the harness rather than by a ``docker build <dir>``, so the inputs are taken from
where they are installed without being copied into the repository, and file ownership and
permissions inside the image never depend on the checkout: everything belongs to root,
recipe scripts (``*.sh``) are executable and other recipe files are not, inputs keep their
permission bits.
"""

from __future__ import annotations

import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from harness.images.inputs import ImageInput
from harness.images.recipes import ImageRecipe


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _recipe_file(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info = _owned_by_root(info)
    info.mode = 0o755 if info.name.endswith(".sh") else 0o644
    return info


def write_context(recipe: ImageRecipe, inputs: Sequence[ImageInput], out: BinaryIO) -> None:
    """Write the context tar of ``recipe`` with ``inputs`` to ``out``."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in recipe.files():
            tar.add(path, arcname=rel, recursive=False, filter=_recipe_file)
        for item in inputs:
            excluded = {f"{item.dest}/{rel}" for rel in item.exclude}

            def keep(info: tarfile.TarInfo,
                     excluded: set[str] = excluded) -> tarfile.TarInfo | None:
                return None if info.name in excluded else _owned_by_root(info)

            # tar.add recurses in sorted order and stores symbolic links as links.
            tar.add(item.source, arcname=item.dest, recursive=True, filter=keep)


def context_members(path: Path) -> list[str]:
    """Names in a written context (for tests and troubleshooting)."""
    with tarfile.open(path) as tar:
        return tar.getnames()
