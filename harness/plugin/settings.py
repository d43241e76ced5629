"""The drill configuration of a pytest run, resolved once and shared by fixtures and hooks."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config import DrillConfig, parse_assignments, resolve

CONFIG_KEY = pytest.StashKey[DrillConfig]()


def resolve_config(config: pytest.Config, arguments: dict[str, dict[str, Any]] | None = None
                   ) -> DrillConfig:
    """Resolve the drill configuration for a pytest run (CLI options > file > env > default)."""
    cli = parse_assignments(list(config.getoption("--drill-set") or []))
    if config.getoption("--drill-scratch"):
        cli.setdefault("scratch", {})["provider"] = config.getoption("--drill-scratch")
    if config.getoption("--drill-keep"):
        cli.setdefault("scratch", {})["keep"] = config.getoption("--drill-keep")
    return resolve(arguments=arguments, cli=cli, config_file=config.getoption("--drill-config"))


def drill_config_of(config: pytest.Config) -> DrillConfig:
    """The run's configuration, resolved on first use and kept in the pytest stash."""
    if CONFIG_KEY not in config.stash:
        config.stash[CONFIG_KEY] = resolve_config(config)
    return config.stash[CONFIG_KEY]
