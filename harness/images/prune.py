"""Which images a build replaced, and deleting them when nothing uses them any more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.images.engine import Engine
from harness.images.plan import Plan
from harness.images.recipes import RECIPE_LABEL


def superseded(found: Any | None, previous_local: Any | None, image: Any,
               plan: Plan) -> list[str]:
    """References of the images that ``image`` replaces.

    Those are a forced rebuild's predecessor under the same tag, and the image ``:local``
    pointed at before when the recipe hash changed (only if it is one of ours, by label).
    """
    gone: list[str] = []
    if found is not None and found.id != image.id:
        gone.append(str(found.id))
    if previous_local is None or previous_local.id == image.id:
        return gone
    if found is None or previous_local.id != found.id:
        labels = previous_local.attrs.get("Config", {}).get("Labels") or {}
        old_hash = labels.get(RECIPE_LABEL)
        if old_hash and old_hash != plan.recipe_hash:
            old_tag = plan.recipe.tag(old_hash)
            # By its hash tag: untagging deletes it once nothing else refers to it.
            gone.append(old_tag if old_tag in previous_local.tags else str(previous_local.id))
    return gone


def remove_superseded(engine: Engine, references: list[str],
                      progress: Callable[[str], None]) -> None:
    """Delete images the new builds replaced, dependents (built later) first.

    Best effort and never forced: an image still used by a container, or by an image that
    was not rebuilt, stays where it is.
    """
    import docker.errors

    for reference in reversed(references):
        try:
            engine.client.images.remove(reference)
            progress(f"removed superseded image {reference}")
        except docker.errors.APIError:
            continue
