"""Configuration: precedence, validation, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import parse_assignments, resolve
from harness.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "drill.toml"
    p.write_text(text)
    return p


def test_defaults_when_nothing_is_set() -> None:
    cfg = resolve(environ={})
    assert cfg.scratch.provider == "local"
    assert cfg.scratch.keep == "never"
    assert cfg.sources["scratch.keep"] == "default"


def test_precedence_argument_over_cli_over_file_over_env(tmp_path: Path) -> None:
    f = write(tmp_path, '[scratch]\nkeep = "failed"\npostgres_version = 18\nready_timeout = 5\n')
    env = {"SCRYDON_DRILL_SCRATCH_KEEP": "always", "SCRYDON_DRILL_SCRATCH_STOP_TIMEOUT": "4",
           "SCRYDON_DRILL_SCRATCH_READY_TIMEOUT": "7"}
    cfg = resolve(environ=env, config_file=f,
                  cli=parse_assignments(["scratch.postgres_version=16", "scratch.keep=never"]),
                  arguments={"scratch": {"keep": "always"}})
    assert cfg.scratch.keep == "always" and cfg.sources["scratch.keep"] == "argument"
    assert cfg.scratch.postgres_version == 16 and cfg.sources["scratch.postgres_version"] == "cli"
    assert cfg.scratch.ready_timeout == 5.0 and cfg.sources["scratch.ready_timeout"].startswith("file:")
    assert cfg.scratch.stop_timeout == 4.0 and cfg.sources["scratch.stop_timeout"] == "env"


def test_unknown_key_in_file_is_an_error_with_suggestion(tmp_path: Path) -> None:
    f = write(tmp_path, '[scratch]\nprovidr = "local"\n')
    with pytest.raises(ConfigError) as err:
        resolve(environ={}, config_file=f)
    assert "scratch.providr" in str(err.value) and "provider" in str(err.value)
    assert str(f) in str(err.value)


def test_unknown_section_and_env_variable_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[scrach\]"):
        resolve(environ={}, config_file=write(tmp_path, "[scrach]\nkeep='never'\n"))
    with pytest.raises(ConfigError, match="SCRYDON_DRILL_SCRACH_KEEP"):
        resolve(environ={"SCRYDON_DRILL_SCRACH_KEEP": "never"})


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        resolve(environ={"SCRYDON_DRILL_SCRATCH_KEEP": "sometimes"})
    with pytest.raises(ConfigError, match="postgres_version"):
        resolve(environ={}, cli=parse_assignments(["scratch.postgres_version=sixteen"]))
    with pytest.raises(ConfigError, match="boolean"):
        resolve(environ={"SCRYDON_DRILL_SCRATCH_REQUIRE_PGVECTOR": "maybe"})
    with pytest.raises(ConfigError, match="SECTION.KEY=VALUE"):
        parse_assignments(["keep=never"])


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve(environ={}, config_file=tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve(environ={}, config_file=write(tmp_path, "[scratch\n"))


def test_secrets_are_redacted() -> None:
    cfg = resolve(environ={"SCRYDON_DRILL_ADMIN_PASSWORD": "hunter2-secret"})
    red = cfg.redacted()
    assert red["admin"]["password"] == "***"
    assert "hunter2-secret" not in repr(red)
    assert "hunter2-secret" in cfg.secret_values()
