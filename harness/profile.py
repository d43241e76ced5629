"""The platform profile: where the restored platform keeps what each drill check reads.

Scrydon's real table names, buckets and key layouts are not public, so no drill check
hard-codes them. A profile (TOML) names, per check, the database and the SQL it runs, and the
thresholds it applies; the drill configuration points at it with ``drill.profile`` and the
built-in ``harness/profiles/reference.toml`` matches the reference deployment this project
builds. An operator adapts the drills to a real platform by editing a profile, not code.

A profile may start from another one and change only what differs::

    [profile]
    name = "acme-prod"
    extends = "reference"        # the built-in profile, or a path relative to this file

    [license]
    min_days_left = 90           # e.g. a pre-upgrade restore validation

Validation is strict, as for the drill configuration: an unknown section or key, a value of
the wrong type, a missing required key or a query without the placeholder its check binds is
an error naming the file and the key, because a silently ignored setting means drilling
something other than intended.

SQL conventions: every query runs with named psycopg parameters (``%(email)s``...), so a
literal ``%`` is written ``%%``; the columns a check reads are named in the reference profile
(alias yours with ``AS``). Warehouse queries use ``{table}``, replaced by the quoted
``database.table`` of each managed table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.config import load_toml, scalar, suggest
from harness.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
REFERENCE = PROFILES_DIR / "reference.toml"

#: Every drill check, by its stable id.
CHECK_IDS: tuple[str, ...] = (
    "restore.postgres", "restore.objects", "restore.warehouse", "restore.master-key",
    "signin.offline", "signin.live", "signin.deployed",
    "workflow.open", "kb.documents", "managed_tables.open", "audit.yesterday",
    "secrets.decrypt", "license.valid",
    "consistency.organisations", "consistency.kb_blobs", "consistency.notebooks",
    "consistency.warehouse_freshness", "consistency.users",
    "integrity.amcheck", "integrity.basebackup", "restore.pitr",
    "posture.dump-freshness", "posture.dump-retention", "posture.dump-completeness",
    "posture.wal-continuity", "posture.wal-retention", "posture.warehouse-retention",
    "posture.objects-replica", "posture.master-key",
    "k8s.versions", "k8s.master-key", "k8s.rollout",
    "upgrade.migrations", "upgrade.pg_upgrade",
)
# A failed restore must always be reported, so these cannot be switched off.
MANDATORY_CHECKS = frozenset(c for c in CHECK_IDS if c.startswith("restore."))


def not_run_reason(check_id: str, profile: Profile, config: Any) -> str | None:
    """Why a drill with ``config`` (a DrillConfig) and ``profile`` leaves ``check_id`` out,
    or None when it runs. A check left out is deselected and noted, never skipped."""
    on_kubernetes = config.scratch.provider == "kubernetes"
    if not profile.enabled(check_id):
        return (f"{check_id} was not run: the platform profile '{profile.name}' disables it "
                "([checks] disabled)")
    if check_id == "restore.pitr" and not config.drill.pitr_target.strip():
        return ("restore.pitr was not run: drill.pitr_target is not set (set it to also "
                "recover PostgreSQL to a point in time from the WAL archive)")
    if check_id.startswith("k8s.") and not on_kubernetes:
        return (f"{check_id} was not run: it checks the runbook's cluster steps, which only "
                "scratch.provider = \"kubernetes\" carries out")
    if check_id == "upgrade.migrations" and not config.upgrade.migrations:
        return ("upgrade.migrations was not run: upgrade.migrations is not set (a pre-upgrade "
                "drill applies the target version's migrations to the restored copy)")
    if check_id == "upgrade.pg_upgrade" and not (config.upgrade.target_postgres_version
                                                 and config.drill.pitr_target.strip()):
        return ("upgrade.pg_upgrade was not run: it needs upgrade.target_postgres_version and a "
                "point-in-time copy (drill.pitr_target) to run pg_upgrade --check on")
    if check_id == "signin.deployed" and not (config.drill.scratch_url.strip() or on_kubernetes):
        return ("signin.deployed was not run: drill.scratch_url is not set (set it to sign in "
                "to a Scrydon deployed on the restored stores)")
    return None


class ProfileError(ConfigError):
    """The platform profile is missing, unreadable or invalid."""

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "profile")
        super().__init__(message, **kwargs)


def _f(default: Any = dataclasses.MISSING, *, key: str | None = None) -> Any:
    """A profile field; ``key`` is its TOML name when it differs from the attribute."""
    meta = {"key": key} if key else {}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict, set)):
        raise TypeError("profile defaults must be immutable")
    return dataclasses.field(default=default, metadata=meta)


# -- sections ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class About:
    """``[profile]``: what this profile describes."""

    name: str = _f()
    description: str = _f("")
    extends: str = _f("")


@dataclasses.dataclass(frozen=True)
class Sampling:
    """``[sampling]``: how samples are drawn."""

    # 0 draws a fresh seed per run (recorded in the measured values, so a run can be replayed).
    seed: int = _f(0)


@dataclasses.dataclass(frozen=True)
class Checks:
    """``[checks]``: checks that do not apply to this platform (never ``restore.*``)."""

    disabled: tuple[str, ...] = _f(())


@dataclasses.dataclass(frozen=True)
class Signin:
    """``[signin]``: the known admin account (better-auth tables)."""

    database: str = _f()
    # Binds %(email)s; columns id, role, banned, ban_expires, password_hash.
    admin_sql: str = _f()
    admin_roles: tuple[str, ...] = _f(("admin",))
    # Path of better-auth's routes on a deployed platform (drill.scratch_url).
    api_base: str = _f("/api/auth")
    timeout_seconds: float = _f(30.0)


@dataclasses.dataclass(frozen=True)
class Workflow:
    """``[workflow]``: workflows and their definitions."""

    database: str = _f()
    list_sql: str = _f()  # columns id, name
    definition_sql: str = _f()  # binds %(ids)s (a list); columns id, definition
    required_keys: tuple[str, ...] = _f()
    names: tuple[str, ...] = _f(())  # workflows that must exist; empty: a sample
    sample_size: int = _f(5)  # 0: every workflow
    name_key: str = _f("name")  # definition key that must equal the row's name ("" : none)
    min_workflows: int = _f(1)


@dataclasses.dataclass(frozen=True)
class KnowledgeBase:
    """``[kb]``: the knowledge-base document index and its blobs."""

    database: str = _f()
    index_sql: str = _f()  # columns id, bucket, object_key, size_bytes, sha256
    sample_size: int = _f(200)  # documents whose content is read and hashed; 0: all
    min_documents: int = _f(1)


@dataclasses.dataclass(frozen=True)
class ManagedTables:
    """``[managed_tables]``: the managed-table catalogue and the warehouse."""

    database: str = _f()
    # Columns id, name, warehouse_database, warehouse_table, state, row_count.
    catalog_sql: str = _f()
    query_sql: str = _f()  # run on the warehouse; {table}; first column: the row count
    states: tuple[str, ...] = _f(("Active",))
    repeats: int = _f(3)
    p95_limit_seconds: float = _f(2.0)
    min_tables: int = _f(1)


@dataclasses.dataclass(frozen=True)
class Audit:
    """``[audit]``: the audit log, the data-derived RPO probe."""

    database: str = _f()
    window_sql: str = _f()  # binds %(start)s, %(end)s; first column: the event count
    newest_sql: str = _f()  # first column: the newest event's time
    window_hours: float = _f(24.0)
    min_events: int = _f(1)
    rpo_hours: float = _f(24.0)
    # Events newer than the backup by more than this mean a wrong clock or backup time.
    future_tolerance_seconds: float = _f(300.0)


@dataclasses.dataclass(frozen=True)
class Secrets:
    """``[secrets]``: secret values encrypted under the master key (LOCAL strategy)."""

    database: str = _f()
    sql: str = _f()  # columns id, key_name, ciphertext
    min_secrets: int = _f(1)


@dataclasses.dataclass(frozen=True)
class License:
    """``[license]``: the license bundle in platform_config."""

    database: str = _f()
    sql: str = _f()  # first column of the first row: the bundle JSON
    min_days_left: int = _f(30)
    # PEM of the license issuer's public key; without it the bundle's own key is trusted.
    trusted_public_key_file: str = _f("")


@dataclasses.dataclass(frozen=True)
class OrgReference:
    """One place that refers to organisations by id."""

    name: str = _f()
    database: str = _f()
    sql: str = _f()  # first column: organisation ids in use


@dataclasses.dataclass(frozen=True)
class Organisations:
    """``[consistency.organisations]``: organisation ids used across the databases."""

    database: str = _f()
    sql: str = _f()  # first column: every organisation id
    references: tuple[OrgReference, ...] = _f()


@dataclasses.dataclass(frozen=True)
class Notebooks:
    """``[consistency.notebooks]``: the notebook index and its objects."""

    database: str = _f()
    index_sql: str = _f()  # columns id, bucket, object_key, size_bytes
    min_notebooks: int = _f(1)


@dataclasses.dataclass(frozen=True)
class Users:
    """``[consistency.users]``: the user table (empty re-opens first-run setup)."""

    database: str = _f()
    sql: str = _f()  # first column: the number of users


@dataclasses.dataclass(frozen=True)
class WarehouseFreshness:
    """``[consistency.warehouse_freshness]``: warehouse and PostgreSQL from the same time."""

    newest_sql: str = _f()  # per managed table; {table}; first column: its newest row time
    max_skew_hours: float = _f(24.0)


@dataclasses.dataclass(frozen=True)
class Consistency:
    """``[consistency.*]``: cross-store and cross-database consistency."""

    organisations: Organisations = _f()
    notebooks: Notebooks = _f()
    users: Users = _f()
    warehouse_freshness: WarehouseFreshness = _f()


@dataclasses.dataclass(frozen=True)
class Integrity:
    """``[integrity]``: pg_amcheck over the restored databases."""

    databases: tuple[str, ...] = _f()
    extra_args: tuple[str, ...] = _f(())
    timeout_seconds: float = _f(900.0)


@dataclasses.dataclass(frozen=True)
class Profile:
    """A validated platform profile."""

    about: About = _f(key="profile")
    signin: Signin = _f()
    workflow: Workflow = _f()
    kb: KnowledgeBase = _f()
    managed_tables: ManagedTables = _f()
    audit: Audit = _f()
    secrets: Secrets = _f()
    license: License = _f()
    consistency: Consistency = _f()
    integrity: Integrity = _f()
    sampling: Sampling = _f(Sampling())
    checks: Checks = _f(Checks())
    # The files read, the extended ones first (set by load_profile, not by TOML).
    files: tuple[str, ...] = dataclasses.field(default=(), metadata={"internal": True})

    @property
    def name(self) -> str:
        """The profile's name."""
        return self.about.name

    def enabled(self, check_id: str) -> bool:
        """Whether ``check_id`` applies to this platform."""
        return check_id not in self.checks.disabled

    def describe(self) -> str:
        """One line for the evidence: name, files and their SHA-256."""
        parts = []
        for f in self.files:
            try:
                digest = hashlib.sha256(Path(f).read_bytes()).hexdigest()[:16]
            except OSError:
                digest = "unreadable"
            parts.append(f"{f} (sha256 {digest}...)")
        return f"platform profile '{self.name}': " + ", ".join(parts)


# -- loading ----------------------------------------------------------------------------------


def _toml_key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key") or f.name)


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {_toml_key(f): f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _section_of(tp: Any) -> type | None:
    return tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None


def _item_type(tp: Any) -> Any:
    """``X`` for ``tuple[X, ...]``, else None."""
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


def _check_unknown(cls: type, data: Mapping[str, Any], origin: Path, prefix: str) -> None:
    """Reject keys the schema does not know, naming the file and the dotted key."""
    known = _fields(cls)
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        where = _join(prefix, key)
        if key not in known:
            kind = "section" if isinstance(value, Mapping) else "key"
            raise ProfileError(
                f"unknown profile {kind} '{where}' in {origin}." + suggest(key, list(known)),
                path=str(origin),
                remedy=f"known keys{' of [' + prefix + ']' if prefix else ''}: "
                + ", ".join(sorted(known)))
        tp = hints[known[key].name]
        section = _section_of(tp)
        item = _section_of(_item_type(tp))
        if section is not None and isinstance(value, Mapping):
            _check_unknown(section, value, origin, where)
        elif item is not None and isinstance(value, list):
            for i, element in enumerate(value):
                if isinstance(element, Mapping):
                    _check_unknown(item, element, origin, f"{where}[{i}]")


def _read(path: Path) -> dict[str, Any]:
    return load_toml(path, "platform profile", error=ProfileError,
                     remedy="check drill.profile (relative paths are taken from the drill "
                            "config file's folder)")


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """The profile and those it extends, base first."""
    path = path.resolve()
    if path in seen:
        cycle = " -> ".join(str(p) for p in (*seen, path))
        raise ProfileError(f"platform profiles extend each other in a cycle: {cycle}",
                           path=str(path), remedy="remove one of the 'extends' keys")
    data = _read(path)
    _check_unknown(Profile, data, path, "")
    about = data.get("profile", {})
    extends = about.get("extends", "") if isinstance(about, Mapping) else ""
    if not isinstance(extends, str):
        raise ProfileError(f"profile.extends in {path} must be a string", path=str(path))
    if not extends:
        return [(path, data)]
    base = REFERENCE if extends == "reference" else (path.parent / extends)
    return [*_chain(base, (*seen, path)), (path, data)]


def _merge(base: dict[str, Any], top: Mapping[str, Any], origin: Path, prefix: str,
           provenance: dict[str, Path]) -> dict[str, Any]:
    """``top`` over ``base``: tables merge key by key, any other value replaces."""
    out = dict(base)
    for key, value in top.items():
        where = _join(prefix, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value, origin, where, provenance)
        else:
            out[key] = value
            _note(value, origin, where, provenance)
    return out


def _note(value: Any, origin: Path, where: str, provenance: dict[str, Path]) -> None:
    provenance[where] = origin
    if isinstance(value, Mapping):
        for k, v in value.items():
            _note(v, origin, _join(where, k), provenance)


class _Builder:
    """Turns merged TOML data into the frozen dataclasses, type by type."""

    def __init__(self, top: Path, provenance: dict[str, Path]) -> None:
        self.top = top
        self.provenance = provenance

    def origin(self, where: str) -> Path:
        probe = where
        while probe:
            if probe in self.provenance:
                return self.provenance[probe]
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        return self.top

    def error(self, where: str, problem: str, remedy: str | None = None) -> ProfileError:
        origin = self.origin(where.split("[")[0])
        return ProfileError(f"invalid profile value '{where}' in {origin}: {problem}",
                            path=str(origin), remedy=remedy or f"fix {where} in {origin}")

    def build(self, cls: type, data: Any, prefix: str) -> Any:
        if not isinstance(data, Mapping):
            raise self.error(prefix, f"expected a table, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for key, f in _fields(cls).items():
            where = _join(prefix, key)
            if key not in data:
                if f.default is dataclasses.MISSING:
                    raise ProfileError(
                        f"the platform profile {self.top} lacks the required key '{where}'",
                        path=str(self.top),
                        remedy=f"add {where} (see {REFERENCE} for its meaning), or start "
                        "from the reference profile with [profile] extends = \"reference\"")
                continue
            values[f.name] = self.value(hints[f.name], data[key], where)
        return cls(**values)

    def value(self, tp: Any, value: Any, where: str) -> Any:
        section = _section_of(tp)
        if section is not None:
            return self.build(section, value, where)
        item = _item_type(tp)
        if item is not None:
            if not isinstance(value, list):
                raise self.error(where, f"expected a list, got {type(value).__name__}")
            return tuple(self.value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
        try:
            return scalar(value, tp, from_text=False)
        except ValueError as exc:
            raise self.error(where, str(exc)) from exc


def _validate(p: Profile, b: _Builder) -> Profile:
    """Checks beyond types: placeholders, ranges, known check ids, referenced files."""

    def need(cond: bool, where: str, problem: str, remedy: str | None = None) -> None:
        if not cond:
            raise b.error(where, problem, remedy)

    text_keys = {
        "profile.name": p.about.name, "signin.database": p.signin.database,
        "signin.admin_sql": p.signin.admin_sql, "workflow.database": p.workflow.database,
        "workflow.list_sql": p.workflow.list_sql,
        "workflow.definition_sql": p.workflow.definition_sql, "kb.database": p.kb.database,
        "kb.index_sql": p.kb.index_sql, "managed_tables.database": p.managed_tables.database,
        "managed_tables.catalog_sql": p.managed_tables.catalog_sql,
        "managed_tables.query_sql": p.managed_tables.query_sql,
        "audit.database": p.audit.database, "audit.window_sql": p.audit.window_sql,
        "audit.newest_sql": p.audit.newest_sql, "secrets.database": p.secrets.database,
        "secrets.sql": p.secrets.sql, "license.database": p.license.database,
        "license.sql": p.license.sql,
        "consistency.organisations.database": p.consistency.organisations.database,
        "consistency.organisations.sql": p.consistency.organisations.sql,
        "consistency.notebooks.database": p.consistency.notebooks.database,
        "consistency.notebooks.index_sql": p.consistency.notebooks.index_sql,
        "consistency.users.database": p.consistency.users.database,
        "consistency.users.sql": p.consistency.users.sql,
        "consistency.warehouse_freshness.newest_sql":
            p.consistency.warehouse_freshness.newest_sql,
    }
    for where, text in text_keys.items():
        need(bool(text.strip()), where, "must not be empty")
    for i, ref in enumerate(p.consistency.organisations.references):
        for key in ("name", "database", "sql"):
            need(bool(getattr(ref, key).strip()), f"consistency.organisations.references[{i}]."
                 f"{key}", "must not be empty")
    placeholders = {
        "signin.admin_sql": (p.signin.admin_sql, ("%(email)s",)),
        "workflow.definition_sql": (p.workflow.definition_sql, ("%(ids)s",)),
        "audit.window_sql": (p.audit.window_sql, ("%(start)s", "%(end)s")),
        "managed_tables.query_sql": (p.managed_tables.query_sql, ("{table}",)),
        "consistency.warehouse_freshness.newest_sql":
            (p.consistency.warehouse_freshness.newest_sql, ("{table}",)),
    }
    for where, (text, marks) in placeholders.items():
        for mark in marks:
            need(mark in text, where, f"the query must contain the placeholder {mark}",
                 f"the check binds {mark}; see {REFERENCE}")
    counts = {
        "sampling.seed": p.sampling.seed, "workflow.sample_size": p.workflow.sample_size,
        "workflow.min_workflows": p.workflow.min_workflows, "kb.sample_size": p.kb.sample_size,
        "kb.min_documents": p.kb.min_documents, "managed_tables.min_tables":
            p.managed_tables.min_tables, "audit.min_events": p.audit.min_events,
        "secrets.min_secrets": p.secrets.min_secrets,
        "consistency.notebooks.min_notebooks": p.consistency.notebooks.min_notebooks,
        "audit.future_tolerance_seconds": p.audit.future_tolerance_seconds,
    }
    for where, n in counts.items():
        need(n >= 0, where, f"must not be negative, got {n}")
    positive = {
        "signin.timeout_seconds": p.signin.timeout_seconds,
        "managed_tables.repeats": p.managed_tables.repeats,
        "managed_tables.p95_limit_seconds": p.managed_tables.p95_limit_seconds,
        "audit.window_hours": p.audit.window_hours, "audit.rpo_hours": p.audit.rpo_hours,
        "consistency.warehouse_freshness.max_skew_hours":
            p.consistency.warehouse_freshness.max_skew_hours,
        "integrity.timeout_seconds": p.integrity.timeout_seconds,
    }
    for where, n in positive.items():
        need(n > 0, where, f"must be greater than 0, got {n}")
    need(p.signin.api_base.startswith("/"), "signin.api_base", "must start with '/'")
    need(bool(p.signin.admin_roles), "signin.admin_roles", "must name at least one role")
    need(bool(p.workflow.required_keys), "workflow.required_keys",
         "must name at least one key a definition has")
    need(bool(p.managed_tables.states), "managed_tables.states", "must name at least one state")
    need(bool(p.integrity.databases), "integrity.databases", "must name at least one database")
    for i, check_id in enumerate(p.checks.disabled):
        where = f"checks.disabled[{i}]"
        need(check_id in CHECK_IDS, where, f"unknown check id {check_id!r}."
             + suggest(check_id, list(CHECK_IDS)), "check ids: " + ", ".join(CHECK_IDS))
        need(check_id not in MANDATORY_CHECKS, where,
             f"{check_id} cannot be disabled: a restore failure must always be reported")
    key_file = p.license.trusted_public_key_file
    if key_file:
        path = Path(key_file)
        if not path.is_absolute():
            path = b.origin("license.trusted_public_key_file").parent / path
        need(path.is_file(), "license.trusted_public_key_file", f"file {path} does not exist")
        p = dataclasses.replace(p, license=dataclasses.replace(
            p.license, trusted_public_key_file=str(path)))
    return p


def load_profile(path: str | os.PathLike[str] | None = None) -> Profile:
    """Load and validate a platform profile; ``None`` or ``""`` is the built-in reference.

    Raises :class:`ProfileError` naming the file and the key for anything invalid.
    """
    top = Path(path) if path else REFERENCE
    chain = _chain(top)
    merged: dict[str, Any] = {}
    provenance: dict[str, Path] = {}
    for origin, data in chain:
        merged = _merge(merged, data, origin, "", provenance)
    builder = _Builder(chain[-1][0], provenance)
    profile: Profile = builder.build(Profile, merged, "")
    profile = dataclasses.replace(profile, files=tuple(str(p) for p, _ in chain))
    return _validate(profile, builder)


def resolve_profile_path(setting: str, source: str, invocation_dir: str | os.PathLike[str]
                         ) -> Path | None:
    """Where ``drill.profile`` points: ``None`` for the reference profile.

    A relative path set in a config file is taken from that file's folder (``source`` is the
    setting's origin, ``file:<path>``), anywhere else from the invocation folder.
    """
    if not setting:
        return None
    if setting == "reference":
        return REFERENCE
    p = Path(setting).expanduser()
    if p.is_absolute():
        return p
    if source.startswith("file:"):
        return Path(source[len("file:"):]).parent / p
    return Path(invocation_dir) / p
