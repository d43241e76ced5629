"""Scratch providers by name, imported only when asked for (see :mod:`harness.registry`)."""

from __future__ import annotations

import importlib

from harness.registry import check_available
from harness.scratch.base import ScratchProvider


def get_provider(name: str) -> type[ScratchProvider]:
    """The provider class registered under ``name``; a usage error with the install
    command when its extra is not installed."""
    entry = check_available(name)
    cls: type[ScratchProvider] = getattr(importlib.import_module(entry.module), entry.cls)
    return cls
