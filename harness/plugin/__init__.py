"""The pytest plugin (entry point ``scrydon_drill``): options, fixtures and the evidence hooks.

Loaded into every pytest run of an environment where scrydon-drill is installed, so it
imports nothing heavy at module level: servers, database drivers and providers are imported
by the fixtures that need them, and the evidence collector stays registered only in runs that
collect drill checks (or ask for a report with ``--drill-report``).
"""

from __future__ import annotations

from harness.plugin.fixtures import (
    drill_config,
    drill_restored,
    pytest_addoption,
    pytest_configure,
    scratch,
    scratch_factory,
    scratch_session,
)

__all__ = ["drill_config", "drill_restored", "pytest_addoption", "pytest_configure", "scratch",
           "scratch_factory", "scratch_session"]
