"""Building a Dockerfile recipe through the engine's build API (the classic builder).

The context is written by :mod:`harness.images.context`; ``BASE`` and the inputs' build
arguments are passed as build arguments; nothing is ever pulled (there is no registry, and
``FROM`` names the local base image). Step lines go to ``progress``; on failure the error
carries the tail of the build output.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from harness.images.context import write_context
from harness.images.engine import Engine
from harness.images.errors import ImageBuildFailed
from harness.images.plan import Plan
from harness.images.recipes import IMAGE_LABEL, RECIPE_LABEL, UPSTREAM_LABEL

# Lines of the build output kept for error messages.
LOG_TAIL = 60


def build_dockerfile(engine: Engine, plan: Plan, base_tag: str, force: bool,
                     progress: Callable[[str], None]) -> str:
    """Build ``plan`` FROM ``base_tag``; return the new image's id."""
    name = plan.recipe.name
    labels = {RECIPE_LABEL: plan.recipe_hash, IMAGE_LABEL: name,
              UPSTREAM_LABEL: plan.recipe.upstream}
    versions = [f"{i.name} {i.version}" for i in plan.inputs]
    if versions:
        labels["org.opencontainers.image.version"] = ", ".join(versions)
    log: list[str] = []
    with tempfile.TemporaryFile(prefix="scrydon-drill-context-") as context:
        write_context(plan.recipe, plan.inputs, context)
        context.seek(0)
        try:
            stream = engine.client.api.build(
                fileobj=context, custom_context=True, tag=plan.tag, decode=True,
                buildargs={"BASE": base_tag, **plan.build_args}, labels=labels,
                # Never pull: there is no registry, and FROM is the local base image.
                pull=False, rm=True, forcerm=True, nocache=force)
            image_id = ""
            for event in stream:
                if "stream" in event:
                    for line in str(event["stream"]).splitlines():
                        log.append(line)
                        if line.startswith("Step "):
                            progress(f"{name}: {line}")
                if "error" in event:
                    detail = "\n".join([*log[-LOG_TAIL:], str(event["error"])])
                    raise ImageBuildFailed(f"docker build of {name} failed", path=plan.tag,
                                           detail=detail, remedy=_build_remedy(name))
                if isinstance(event.get("aux"), dict) and "ID" in event["aux"]:
                    image_id = str(event["aux"]["ID"])
        except ImageBuildFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - SDK and transport errors alike
            raise ImageBuildFailed(f"docker build of {name} failed", path=plan.tag,
                                   detail="\n".join([*log[-LOG_TAIL:], str(exc)]),
                                   remedy=_build_remedy(name)) from exc
    return image_id or str(engine.client.images.get(plan.tag).id)


def _build_remedy(name: str) -> str:
    if name == "mariadb":
        return ("the build installs from the Debian mirror over the engine's default bridge "
                "network: check that containers reach it (docker run --rm "
                "scrydon-drill/base:local apt-get update)")
    return "read the build output above; rebuild with force=True after fixing the cause"
