"""Building the images: plan every hash first, then build only what is missing.

An image whose hash tag exists (with the matching recipe label) is reused; ``force`` rebuilds
regardless, without the engine's layer cache. The moving ``:local`` tag then points at the
image in use, and images the build replaced are deleted when nothing uses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from harness.images.base import build_base
from harness.images.dockerfile import build_dockerfile
from harness.images.engine import Engine, connect
from harness.images.plan import Plan, plan_images
from harness.images.prune import remove_superseded, superseded
from harness.images.recipes import MOVING_TAG, RECIPE_LABEL

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageInfo:
    """The outcome for one image.

    ``tag`` is the immutable ``scrydon-drill/<name>:<recipe_hash>``, ``local_tag`` the moving
    ``scrydon-drill/<name>:local``; ``built`` is False when an existing image was reused;
    ``seconds`` is the wall time spent on this image (build or lookup); ``size_bytes`` the
    image's size as the engine reports it (all layers).
    """

    name: str
    tag: str
    local_tag: str
    image_id: str
    recipe_hash: str
    built: bool
    seconds: float
    size_bytes: int


def _image(engine: Engine, tag: str) -> Any | None:
    import docker.errors

    try:
        return engine.client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _reusable(image: Any | None, plan: Plan) -> bool:
    labels = (image.attrs.get("Config", {}).get("Labels") or {}) if image else {}
    # A tag someone else put on another image is not ours to reuse.
    return labels.get(RECIPE_LABEL) == plan.recipe_hash


def _ensure(engine: Engine, plan: Plan, base_tag: str, force: bool,
            progress: Progress, replaced: list[str]) -> ImageInfo:
    recipe = plan.recipe
    started = time.monotonic()
    found = _image(engine, plan.tag)
    previous_local = _image(engine, recipe.local_tag)
    built = force or not _reusable(found, plan)
    if built:
        progress(f"{recipe.name}: building {plan.tag}")
        if plan.base is not None:
            build_base(engine, recipe, plan.base, plan.recipe_hash, progress)
        else:
            build_dockerfile(engine, plan, base_tag, force, progress)
        image = engine.client.images.get(plan.tag)
    else:
        image = found
    replaced.extend(superseded(found, previous_local, image, plan))
    # The moving tag follows the image in use, also when it was found rather than built.
    image.tag(recipe.repository, MOVING_TAG)
    seconds = time.monotonic() - started
    info = ImageInfo(name=recipe.name, tag=plan.tag, local_tag=recipe.local_tag,
                     image_id=str(image.id), recipe_hash=plan.recipe_hash, built=built,
                     seconds=seconds, size_bytes=int(image.attrs.get("Size", 0)))
    what = "built" if built else "cached"
    progress(f"{recipe.name}: {what} {plan.tag} in {seconds:.1f} s, "
             f"{info.size_bytes / 1e6:.0f} MB")
    return info


def build_images(names: Iterable[str] | None = None, *, docker_host: str | None = None,
                 force: bool = False, progress: Progress = print) -> dict[str, ImageInfo]:
    """Build (or reuse) the local images; return name -> :class:`ImageInfo`.

    ``names`` picks recipes (``postgres``, ``seaweedfs``, ``mariadb``, ``base``; default all);
    the base image is always included because the others are built from it. ``docker_host``
    names the engine (default: ``$DOCKER_HOST``, then the project's engine socket, then the
    engine's default socket). ``force`` rebuilds the named images (the base only when named,
    or when ``names`` is None) even when an image with the recipe's hash tag exists, without
    layer cache (apt fetches current packages). ``progress`` receives one line per step.

    Raises :class:`~harness.images.errors.EngineUnavailable` when no engine is reachable,
    :class:`~harness.images.errors.ImageInputMissing` when an input is not on this machine,
    :class:`~harness.images.errors.ImageBuildFailed` with the build log's tail on failure.
    """
    names = None if names is None else list(names)
    plans = plan_images(names)
    if not plans:
        return {}
    # force concerns the images asked for; the base only when it is asked for (or all are).
    forced = {p.recipe.name for p in plans} if names is None else set(names)
    engine = connect(docker_host)
    try:
        results: dict[str, ImageInfo] = {}
        replaced: list[str] = []
        base_tag = plans[0].tag
        for plan in plans:
            rebuild = force and plan.recipe.name in forced
            results[plan.recipe.name] = _ensure(engine, plan, base_tag, rebuild, progress,
                                                replaced)
        remove_superseded(engine, replaced, progress)
        return results
    finally:
        engine.close()


def summary_table(infos: dict[str, ImageInfo]) -> str:
    """One line per image: name, tag, built or cached, seconds, size."""
    lines = [f"{'image':<10} {'tag':<42} {'outcome':<7} {'seconds':>8} {'size MB':>8}"]
    for info in infos.values():
        outcome = "built" if info.built else "cached"
        lines.append(f"{info.name:<10} {info.tag:<42} {outcome:<7} {info.seconds:>8.1f} "
                     f"{info.size_bytes / 1e6:>8.1f}")
    return "\n".join(lines)
