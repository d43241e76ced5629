"""The scratch providers this version knows: name, where its code is, what it needs installed.

Kept at the bottom of the harness so the configuration can offer exactly these names for
``scratch.provider``, while the providers themselves (and their optional dependencies) are
imported only when a run asks for one.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from harness.errors import ConfigError


@dataclass(frozen=True)
class ProviderEntry:
    """One scratch provider."""

    name: str
    module: str
    cls: str
    extra: str  # the pip extra that brings its dependencies
    requires: tuple[str, ...] = ()  # top-level modules that must be importable


PROVIDERS: dict[str, ProviderEntry] = {
    "local": ProviderEntry("local", "harness.scratch.local", "LocalProvider", "local"),
    "external": ProviderEntry("external", "harness.scratch.external", "ExternalProvider",
                              "local"),
    "containers": ProviderEntry("containers", "harness.scratch.containers",
                                "ContainersProvider", "containers",
                                requires=("testcontainers", "docker")),
    # kubectl and helm are binaries, found when the provider starts (harness/scratch/kube.py).
    "kubernetes": ProviderEntry("kubernetes", "harness.scratch.kubernetes",
                                "KubernetesProvider", "kubernetes"),
}


def provider_names() -> tuple[str, ...]:
    """The values ``scratch.provider`` accepts."""
    return tuple(PROVIDERS)


def check_available(name: str) -> ProviderEntry:
    """The provider's entry; a usage error naming the install command when its extra is not
    installed (or the name is unknown)."""
    if name not in PROVIDERS:
        raise ConfigError(f"scratch provider '{name}' is not known to this version",
                          remedy=f"use one of: {', '.join(PROVIDERS)}")
    entry = PROVIDERS[name]
    missing = [m for m in entry.requires if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"scratch provider '{name}' needs {', '.join(missing)}, which is not installed",
            remedy=f"pip install 'scrydon-drill[{entry.extra}]'")
    return entry
