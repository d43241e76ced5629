"""The build plan: every recipe hash, computed before anything is built.

Planning reads the recipes, the machine's apt configuration and the inputs, so a missing input
fails at once rather than after a minute of debootstrap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.images.base import BaseSpec, base_hash, base_spec
from harness.images.errors import UnknownImage
from harness.images.inputs import ImageInput, inputs_for
from harness.images.recipes import BASE, ImageRecipe, image_recipes, recipe_hash


@dataclass(frozen=True)
class Plan:
    """What one image is made of and the hash that names it."""

    recipe: ImageRecipe
    recipe_hash: str
    inputs: tuple[ImageInput, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict)
    base: BaseSpec | None = None

    @property
    def tag(self) -> str:
        """The immutable tag."""
        return self.recipe.tag(self.recipe_hash)


def _select(names: Iterable[str] | None) -> list[str]:
    recipes = image_recipes()
    wanted = list(recipes) if names is None else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in recipes]
    if unknown:
        raise UnknownImage(f"no recipe for {', '.join(unknown)}",
                           remedy=f"choose among {', '.join(recipes)}")
    # The base first: every other image is built FROM it.
    return [n for n in recipes if n in wanted or (n == BASE and wanted)]


def plan_images(names: Iterable[str] | None = None) -> list[Plan]:
    """The build plan for ``names`` (all recipes when None), the base image first."""
    selected = _select(names)
    if not selected:
        return []
    recipes = image_recipes()
    base_recipe = recipes[BASE]
    spec = base_spec(base_recipe)
    base_plan = Plan(base_recipe, base_hash(base_recipe, spec), base=spec)
    plans = []
    for name in selected:
        if name == BASE:
            plans.append(base_plan)
            continue
        recipe = recipes[name]
        inputs = tuple(inputs_for(name))
        args: dict[str, str] = {}
        for item in inputs:
            args.update(item.build_args)
        # The upstream reference is written into the image's labels, so it is content too.
        digest = recipe_hash(name, recipe.directory,
                             fields={"base": base_plan.recipe_hash, "upstream": recipe.upstream},
                             inputs=[item.identity() for item in inputs])
        plans.append(Plan(recipe, digest, inputs, args))
    return plans
