"""One frozen drill configuration, resolved in one place.

Values come from five layers; a higher layer wins over a lower one::

    argument (code)  >  command line  >  config file (TOML)  >  environment  >  default

Every key belongs to a section (``[scratch]``, ``[report]``, ...). Unknown sections or keys
are errors in every layer, with a suggestion when the name is close to a known one, because a
silently ignored misspelt setting in a DR drill means testing something other than intended.

Environment variables are named ``SCRYDON_DRILL_<SECTION>_<KEY>`` in upper case, e.g.
``SCRYDON_DRILL_SCRATCH_PROVIDER=local``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from harness.errors import ConfigError

ENV_PREFIX = "SCRYDON_DRILL_"
# Environment variables with the prefix that are not configuration keys.
_ENV_RESERVED = {"SCRYDON_DRILL_OWNER", "SCRYDON_DRILL_ROOT_MARKER"}

SCRATCH_PROVIDERS = ("local", "containers", "kubernetes", "external")
KEEP_POLICIES = ("never", "failed", "always")


def _field(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
           secret: bool = False) -> Any:
    return dataclasses.field(
        default=default, metadata={"help": help, "choices": choices, "secret": secret}
    )


@dataclasses.dataclass(frozen=True)
class ScratchConfig:
    """Where and how the scratch environment is provisioned."""

    provider: str = _field("local", "scratch provider", choices=SCRATCH_PROVIDERS)
    keep: str = _field("never", "keep the scratch environment after the run", choices=KEEP_POLICIES)
    root: str = _field("", "directory holding run directories (default: $TMPDIR/scrydon-drill)")
    postgres_version: int = _field(16, "PostgreSQL major version the scratch server must have")
    require_pgvector: bool = _field(True, "refuse a PostgreSQL server without pgvector")
    ready_timeout: float = _field(90.0, "seconds a server may take to become ready")
    stop_timeout: float = _field(10.0, "seconds between SIGTERM and SIGKILL on teardown")
    s3_access_key: str = _field("drill", "access key of the scratch S3 server")
    s3_secret_key: str = _field("drill-secret", "secret key of the scratch S3 server", secret=True)
    os_user: str = _field("", "unprivileged OS user for PostgreSQL when running as root "
                          "(default: postgres, else nobody)")
    sweep_on_start: bool = _field(True, "remove leftovers of killed runs before starting")


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Where run output goes."""

    dir: str = _field("reports", "directory for reports/<run-id>/")


@dataclasses.dataclass(frozen=True)
class AdminConfig:
    """The known admin account the drill signs in with (never logged)."""

    email: str = _field("", "admin e-mail address")
    password: str = _field("", "admin password", secret=True)


@dataclasses.dataclass(frozen=True)
class DrillConfig:
    """The whole, validated drill configuration."""

    scratch: ScratchConfig = dataclasses.field(default_factory=ScratchConfig)
    report: ReportConfig = dataclasses.field(default_factory=ReportConfig)
    admin: AdminConfig = dataclasses.field(default_factory=AdminConfig)
    # Where each value came from: "section.key" -> "default" | "env" | "file:<path>" | "cli" | "argument"
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    def redacted(self) -> dict[str, dict[str, Any]]:
        """Return the configuration as plain data with every secret replaced by ``"***"``."""
        out: dict[str, dict[str, Any]] = {}
        for section_name, section_cls in _sections().items():
            section = getattr(self, section_name)
            values: dict[str, Any] = {}
            for f in dataclasses.fields(section_cls):
                value = getattr(section, f.name)
                values[f.name] = "***" if f.metadata.get("secret") and value else value
            out[section_name] = values
        return out

    def secret_values(self) -> list[str]:
        """Return every non-empty secret value (for scanning outputs for leaks)."""
        found = []
        for section_name, section_cls in _sections().items():
            for f in dataclasses.fields(section_cls):
                value = getattr(getattr(self, section_name), f.name)
                if f.metadata.get("secret") and value:
                    found.append(str(value))
        return found


def _sections() -> dict[str, type]:
    hints = get_type_hints(DrillConfig)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(DrillConfig)
        if dataclasses.is_dataclass(hints[f.name])
    }


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _coerce(value: Any, target: type, where: str) -> Any:
    """Convert ``value`` (possibly a string from the environment or CLI) to ``target``."""
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
                return True
            if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"expected a boolean, got {value!r}")
        if target is int:
            if isinstance(value, bool):
                raise ValueError("expected an integer, got a boolean")
            return int(value)
        if target is float:
            if isinstance(value, bool):
                raise ValueError("expected a number, got a boolean")
            return float(value)
        if target is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError(f"expected a string, got {type(value).__name__}")
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {where}: {exc}", remedy=f"fix {where}") from exc
    raise ConfigError(f"unsupported type {target} for {where}")


Layer = dict[str, dict[str, Any]]


def _validate_layer(layer: Mapping[str, Any], origin: str) -> Layer:
    """Check a layer's sections and keys against the schema; raise on unknown names."""
    sections = _sections()
    clean: Layer = {}
    for section_name, values in layer.items():
        if section_name not in sections:
            raise ConfigError(
                f"unknown configuration section [{section_name}] in {origin}."
                + _suggest(section_name, list(sections)),
                path=origin,
                remedy=f"use one of: {', '.join(sorted(sections))}",
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section_name}] in {origin} must be a table", path=origin)
        cls = sections[section_name]
        hints = get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"unknown configuration key '{section_name}.{key}' in {origin}."
                    + _suggest(key, list(known)),
                    path=origin,
                    remedy=f"keys of [{section_name}]: {', '.join(sorted(known))}",
                )
            where = f"{section_name}.{key} ({origin})"
            coerced = _coerce(value, hints[key], where)
            choices = known[key].metadata.get("choices")
            if choices and coerced not in choices:
                raise ConfigError(
                    f"invalid value {coerced!r} for {where}",
                    remedy=f"choose one of: {', '.join(choices)}",
                )
            clean.setdefault(section_name, {})[key] = coerced
    return clean


def env_layer(environ: Mapping[str, str] | None = None) -> Layer:
    """Read ``SCRYDON_DRILL_<SECTION>_<KEY>`` variables into a layer."""
    environ = os.environ if environ is None else environ
    layer: dict[str, dict[str, Any]] = {}
    sections = _sections()
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_RESERVED:
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.partition("_")
        if section not in sections or not key:
            raise ConfigError(
                f"unknown environment variable {name}."
                + _suggest(section, list(sections)),
                remedy=f"use {ENV_PREFIX}<SECTION>_<KEY> with a section among "
                f"{', '.join(sorted(sections))}, or unset it",
            )
        layer.setdefault(section, {})[key] = value
    return _validate_layer(layer, "environment")


def file_layer(path: str | os.PathLike[str]) -> Layer:
    """Read a TOML configuration file into a layer."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {p}", path=str(p),
                          remedy="check --drill-config / the path given") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file is not valid TOML: {exc}", path=str(p)) from exc
    return _validate_layer(data, f"file:{p}")


def parse_assignments(items: list[str], origin: str = "cli") -> Layer:
    """Turn ``["scratch.keep=always", ...]`` into a layer."""
    layer: dict[str, dict[str, Any]] = {}
    for item in items:
        dotted, sep, value = item.partition("=")
        section, dot, key = dotted.strip().partition(".")
        if not sep or not dot:
            raise ConfigError(f"cannot parse setting {item!r} from {origin}",
                              remedy="write SECTION.KEY=VALUE, e.g. scratch.keep=failed")
        layer.setdefault(section, {})[key] = value
    return _validate_layer(layer, origin)


def resolve(
    *,
    arguments: Mapping[str, Mapping[str, Any]] | None = None,
    cli: Layer | None = None,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DrillConfig:
    """Build the configuration from all layers (argument > CLI > file > env > default)."""
    layers: list[tuple[str, Layer]] = [("env", env_layer(environ))]
    if config_file:
        layers.append((f"file:{config_file}", file_layer(config_file)))
    if cli:
        layers.append(("cli", _validate_layer(cli, "cli")))
    if arguments:
        layers.append(("argument", _validate_layer(arguments, "argument")))

    sources: dict[str, str] = {}
    built: dict[str, Any] = {}
    for section_name, cls in _sections().items():
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            sources[f"{section_name}.{f.name}"] = "default"
        for origin, layer in layers:
            for key, value in layer.get(section_name, {}).items():
                values[key] = value
                sources[f"{section_name}.{key}"] = origin
        built[section_name] = cls(**values)
    return DrillConfig(**built, sources=sources)
