"""Scratch providers by name, imported only when asked for.

Optional stacks (containers, Kubernetes) must not be imported by a run that does not use
them; when a user asks for one that is not installed, the error names the install command.
"""

from __future__ import annotations

import importlib

from harness.errors import ScratchError

# name -> (module, class, pip extra that provides its dependencies)
_PROVIDERS: dict[str, tuple[str, str, str]] = {
    "local": ("harness.scratch.local", "LocalProvider", "local"),
    "external": ("harness.scratch.external", "ExternalProvider", "local"),
}


def available() -> list[str]:
    """Names of the providers this version knows about."""
    return sorted(_PROVIDERS)


def get_provider(name: str) -> type:
    """Return the provider class registered under ``name``."""
    if name not in _PROVIDERS:
        raise ScratchError(
            f"scratch provider '{name}' is not available in this version",
            remedy=f"use one of: {', '.join(available())}",
        )
    module, cls, extra = _PROVIDERS[name]
    try:
        return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise ScratchError(
            f"scratch provider '{name}' needs packages that are not installed: {exc}",
            remedy=f"pip install 'scrydon-drill[{extra}]'",
        ) from exc
