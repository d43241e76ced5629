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
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from harness.errors import ConfigError
from harness.layout import Layout
from harness.records import DATABASES
from harness.registry import provider_names

ENV_PREFIX = "SCRYDON_DRILL_"
# Environment variables with the prefix that are not configuration keys.
_ENV_RESERVED = {"SCRYDON_DRILL_OWNER", "SCRYDON_DRILL_PG_BINDIRS"}

SCRATCH_PROVIDERS = provider_names()
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
    max_clock_skew_seconds: float = _field(
        120.0, "refuse scratch servers whose clock differs from this machine's by more (0: off)")
    s3_access_key: str = _field("drill", "access key of the scratch S3 server")
    s3_secret_key: str = _field("drill-secret", "secret key of the scratch S3 server", secret=True)
    os_user: str = _field("", "unprivileged OS user for PostgreSQL when running as root "
                          "(default: postgres, else nobody)")
    sweep_on_start: bool = _field(True, "remove leftovers of killed runs before starting")
    check_free_disk: bool = _field(True, "refuse to start when the scratch filesystem has no "
                                   "room for the restore set (estimate with numbers)")


@dataclasses.dataclass(frozen=True)
class ExternalConfig:
    """Stores someone else runs (scratch.provider = "external"); never torn down."""

    postgres_host: str = _field("", "PostgreSQL host")
    postgres_port: int = _field(5432, "PostgreSQL port")
    postgres_user: str = _field("postgres", "PostgreSQL user allowed to create databases")
    postgres_password: str = _field("", "PostgreSQL password", secret=True)
    s3_endpoint: str = _field("", "S3 endpoint URL")
    s3_access_key: str = _field("", "S3 access key")
    s3_secret_key: str = _field("", "S3 secret key", secret=True)
    warehouse_host: str = _field("", "MySQL-protocol warehouse host (StarRocks FE)")
    warehouse_port: int = _field(9030, "warehouse port")
    warehouse_user: str = _field("root", "warehouse user")
    warehouse_password: str = _field("", "warehouse password", secret=True)
    warehouse_kind: str = _field("starrocks", "warehouse kind", choices=("starrocks", "mariadb"))


@dataclasses.dataclass(frozen=True)
class ContainersConfig:
    """The containers provider (scratch.provider = "containers"): one container per store."""

    docker_host: str = _field("", "Docker engine address (empty: DOCKER_HOST, then the "
                              "project's private engine, then /var/run/docker.sock)")
    postgres_image: str = _field("", "PostgreSQL image with pgvector (empty: the upstream "
                                 "pgvector/pgvector image of scratch.postgres_version when the "
                                 "engine has it, else scrydon-drill/postgres:local)")
    objects_image: str = _field("", "S3 image (empty: chrislusf/seaweedfs when the engine "
                                "has it, else scrydon-drill/seaweedfs:local)")
    warehouse_image: str = _field("", "warehouse image: a starrocks/allin1-ubuntu image for "
                                  "StarRocks, else the MariaDB stand-in (empty: mariadb when "
                                  "the engine has it, else scrydon-drill/mariadb:local)")
    pull: str = _field("missing", "when to pull a configured image",
                       choices=("missing", "never", "always"))
    memory: str = _field("", "memory limit per container, e.g. 2g (empty: none)")
    cpus: float = _field(0.0, "CPU limit per container, e.g. 1.5 (0: none)")
    env: str = _field("", "extra environment for every container: KEY=VALUE,KEY2=VALUE2")


@dataclasses.dataclass(frozen=True)
class KubernetesConfig:
    """The Kubernetes provider (scratch.provider = "kubernetes"): the runbook's full DR."""

    cluster: str = _field("existing", "the cluster: an existing one (kubeconfig/context) or "
                          "a kind cluster the drill creates and deletes",
                          choices=("existing", "kind"))
    kubeconfig: str = _field("", "kubeconfig file (empty: KUBECONFIG, then ~/.kube/config)")
    context: str = _field("", "kubeconfig context (empty: the current one)")
    namespace: str = _field("", "namespace to drill in (empty: one per run, created and deleted "
                            "by the drill, named and labelled with the run id)")
    kubernetes_version: str = _field("", "the source cluster's Kubernetes version, e.g. v1.29.4 "
                                     "(runbook step 1: the scratch cluster must match)")
    platform_version: str = _field("", "the Scrydon version the backups come from, e.g. "
                                   "2026.11.1 (empty: the restored platform_migrations)")
    images: str = _field("upstream", "store images: upstream ([containers] images or the pinned "
                         "upstream tags, pulled by the cluster) or local (scrydon-drill/*:local "
                         "from 'scrydon-drill images build', loaded into kind or already in the "
                         "node's engine)", choices=("upstream", "local"))
    storage_class: str = _field("", "storage class of the stores' volumes (empty: emptyDir)")
    storage_size: str = _field("10Gi", "size of each store's volume with a storage class")
    memory: str = _field("", "memory request and limit per store pod, e.g. 2Gi (empty: none)")
    cpu: str = _field("", "CPU request and limit per store pod, e.g. 1 (empty: none)")
    chart: str = _field("", "the platform chart: a folder, a .tgz or repo/chart (empty: the "
                        "stores are drilled without deploying the platform)")
    chart_version: str = _field("", "chart version for helm --version (empty: latest/as is)")
    values: str = _field("", "values files for helm install, comma-separated")
    store_values: str = _field(
        "database.host={postgres_host},database.port={postgres_port},"
        "database.user={postgres_user},database.password={postgres_password}",
        "chart values that point the platform at the restored stores: key={placeholder},... "
        "with {postgres_host} {postgres_port} {postgres_user} {postgres_password} {s3_endpoint} "
        "{s3_access_key} {s3_secret_key} {warehouse_host} {warehouse_port} {warehouse_user} "
        "{warehouse_password}")
    release: str = _field("scrydon", "helm release name")
    platform_service: str = _field("api-platform", "Service of the platform's API (signin.deployed "
                                   "signs in through a port-forward to it)")
    platform_port: int = _field(8080, "port of that Service")
    rollout_timeout: float = _field(300.0, "seconds the chart's workloads get to become ready")
    apply_order: str = _field("runbook", "runbook: the master-key Secret before the chart (the "
                              "runbook's order); chart-first: the chart before the Secret, the "
                              "mistake the drill must catch", choices=("runbook", "chart-first"))
    kubectl: str = _field("", "kubectl binary (empty: from PATH)")
    helm: str = _field("", "helm binary (empty: from PATH)")
    kind: str = _field("", "kind binary for cluster = kind (empty: from PATH)")
    kind_node_image: str = _field("", "kind node image, e.g. kindest/node:v1.29.4 (empty: "
                                  "kind's default; pick the source cluster's version)")


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
class EvidenceConfig:
    """The evidence of a run: objectives, compliance mapping, signing, history, publishing."""

    rto_target_seconds: float = _field(0.0, "recovery time objective in seconds (0: none)")
    rpo_target_seconds: float = _field(0.0, "recovery point objective in seconds (0: none)")
    allow_unverified: bool = _field(False, "report could-not-verify checks as skipped, not "
                                    "failed (same as --drill-allow-unverified)")
    controls_file: str = _field("", "TOML file adding controls or check-to-control mappings")
    sign_key_file: str = _field("", "file holding the Ed25519 private key that signs the "
                                "manifest (PEM, or the 32-byte seed in base64 or hex)")
    sign_key: str = _field("", "the Ed25519 private key itself (PEM, base64 or hex); usually "
                           "set as SCRYDON_DRILL_EVIDENCE_SIGN_KEY", secret=True)
    history_dir: str = _field("", "index of past runs: a directory or s3://bucket/prefix "
                              "(default: <report.dir>/history)")
    history_runs: int = _field(20, "how many past runs the trend shows")
    publish_to: str = _field("", "copy each report folder to this directory or "
                             "s3://bucket/prefix (empty: do not publish)")
    s3_endpoint: str = _field("", "S3 endpoint URL for publish_to/history_dir (empty: AWS)")
    s3_access_key: str = _field("", "S3 access key (empty: boto3's default credentials)")
    s3_secret_key: str = _field("", "S3 secret key", secret=True)
    s3_region: str = _field("us-east-1", "S3 region")
    object_lock_mode: str = _field("", "S3 Object Lock retention of published runs: "
                                   "compliance (nobody can shorten it), governance, or empty "
                                   "for none", choices=("", "compliance", "governance"))
    object_lock_days: int = _field(0, "days a published run stays locked (with "
                                   "object_lock_mode; the bucket needs Object Lock enabled)")


@dataclasses.dataclass(frozen=True)
class BackupsConfig:
    """Where the backups are, how they are laid out and the posture baseline they must meet."""

    source: str = _field("", "backup root: a directory or s3://bucket/prefix")
    s3_endpoint: str = _field("", "S3 endpoint URL of the backup bucket (empty: AWS)")
    s3_access_key: str = _field("", "access key for the backup bucket (empty: boto3 defaults)")
    s3_secret_key: str = _field("", "secret key for the backup bucket", secret=True)
    s3_region: str = _field("us-east-1", "region of the backup bucket")
    postgres_dump: str = _field("postgres/dumps/{ts}/{db}.dump", "pattern of database dumps")
    base_backup: str = _field("postgres/base/{ts}", "pattern of pg_basebackup folders")
    wal_archive: str = _field("postgres/wal", "folder of the continuous WAL archive")
    objects_replica: str = _field("objects/{bucket}/{key}", "pattern of the bucket replica")
    warehouse_table: str = _field("warehouse/{ts}/{database}/{table}.sql",
                                  "pattern of warehouse table snapshots")
    warehouse_manifest: str = _field("warehouse/{ts}/snapshot.json",
                                     "pattern of warehouse snapshot manifests")
    master_key: str = _field("master-key/master-key.backup.yaml", "master-key Secret backup")
    timestamp_format: str = _field("%Y-%m-%dT%H%M%SZ", "strftime format of {ts}")
    dump_timestamp_format: str = _field("", "strftime format of {ts} in postgres_dump "
                                        "(empty: timestamp_format)")
    base_timestamp_format: str = _field("", "strftime format of {ts} in base_backup "
                                        "(empty: timestamp_format)")
    warehouse_timestamp_format: str = _field("", "strftime format of {ts} in warehouse_table "
                                             "and warehouse_manifest (empty: timestamp_format)")
    master_key_timestamp_format: str = _field("", "strftime format of {ts} in master_key "
                                              "(empty: timestamp_format)")
    source_timezone: str = _field("UTC", "time zone of the hosts that take the backups: "
                                  "pg_dump headers record local time without a zone")
    connect_timeout_seconds: float = _field(10.0, "how long to wait for the backup source's S3 "
                                            "endpoint to accept a connection (per attempt)")
    connect_attempts: int = _field(2, "connection attempts to the backup source's S3 endpoint "
                                   "before giving up")
    databases: str = _field(",".join(DATABASES),
                            "databases that must restore together (comma-separated)")
    max_skew_hours: float = _field(6.0, "largest allowed time gap between members of a set")
    dump_max_age_hours: float = _field(26.0, "newest dump no older than this (a day + slack)")
    dump_retention_days: int = _field(30, "days of daily dumps that must be present")
    wal_retention_days: int = _field(7, "days the WAL archive must cover")
    warehouse_retention_days: int = _field(14, "days of daily warehouse snapshots required")
    checksums: bool = _field(True, "compute SHA-256 of every artefact of the restore set")
    starrocks_repository: str = _field("scrydon_backups", "name of the StarRocks repository "
                                       "holding the warehouse snapshots (a StarRocks scratch "
                                       "warehouse restores from it)")
    starrocks_location: str = _field("", "s3:// location of that repository, as the scratch "
                                     "StarRocks reaches it (backups.s3_* credentials)")
    starrocks_database: str = _field("scrydon_managed", "warehouse database to restore")
    starrocks_snapshot: str = _field("", "snapshot name (empty: the newest usable one)")
    require_full_retention: bool = _field(False, "fail retention checks while the backup "
                                          "history is younger than the retention window")


@dataclasses.dataclass(frozen=True)
class DrillSection:
    """What the drill restores and checks."""

    profile: str = _field("", "platform profile (TOML); empty: the built-in reference profile")
    fallback: bool = _field(False, "when the newest set cannot be restored, try the one before")
    pitr_target: str = _field("", "ISO 8601 time: also restore PostgreSQL to this point in "
                              "time from the base backup and WAL archive")
    posture: bool = _field(True, "run the posture checks on the backup source")
    scratch_url: str = _field("", "URL of a deployed Scrydon to sign in against (optional)")


@dataclasses.dataclass(frozen=True)
class UpgradeSection:
    """Pre-upgrade restore validation: rehearse the upgrade on the restored copy."""

    target_postgres_version: int = _field(
        0, "restore into this PostgreSQL major (the upgrade's target); 0: no pre-upgrade drill")
    migrations: str = _field("", "folder of the target version's migrations: <db>/<name>.sql, "
                                 "applied in name order, each in a transaction")
    target_platform_version: str = _field("", "the Scrydon version being upgraded to "
                                              "(recorded in the evidence)")
    license_min_days: int = _field(90, "days the license must stay valid before an upgrade")

    @property
    def enabled(self) -> bool:
        """Whether this drill is a pre-upgrade validation."""
        return bool(self.target_postgres_version or self.migrations)


@dataclasses.dataclass(frozen=True)
class DrillConfig:
    """The whole, validated drill configuration."""

    scratch: ScratchConfig = dataclasses.field(default_factory=ScratchConfig)
    backups: BackupsConfig = dataclasses.field(default_factory=BackupsConfig)
    external: ExternalConfig = dataclasses.field(default_factory=ExternalConfig)
    containers: ContainersConfig = dataclasses.field(default_factory=ContainersConfig)
    kubernetes: KubernetesConfig = dataclasses.field(default_factory=KubernetesConfig)
    drill: DrillSection = dataclasses.field(default_factory=DrillSection)
    report: ReportConfig = dataclasses.field(default_factory=ReportConfig)
    admin: AdminConfig = dataclasses.field(default_factory=AdminConfig)
    evidence: EvidenceConfig = dataclasses.field(default_factory=EvidenceConfig)
    upgrade: UpgradeSection = dataclasses.field(default_factory=UpgradeSection)
    # Where each value came from: "section.key" -> "default" | "env" | "file:<path>" | "cli"
    # | "argument"
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


def scalar(value: Any, target: type, *, from_text: bool = True) -> Any:
    """``value`` as a ``target`` (bool, int, float or str); ValueError says what was expected.

    ``from_text`` accepts the strings an environment variable or a command line carries
    (``"true"``, ``"42"``); without it the value must already have the type (a TOML file's).
    """
    if target is bool:
        if isinstance(value, bool):
            return value
        text = value.strip().lower() if from_text and isinstance(value, str) else None
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"expected a boolean (true or false), got {value!r}")
    if target in (int, float):
        what = "an integer" if target is int else "a number"
        if isinstance(value, bool) or (not from_text and not isinstance(
                value, (int,) if target is int else (int, float))):
            raise ValueError(f"expected {what}, got {value!r}")
        try:
            return target(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected {what}, got {value!r}") from None
    if target is str:
        if isinstance(value, str) or (from_text and isinstance(value, (int, float))
                                      and not isinstance(value, bool)):
            return str(value)
        raise ValueError(f"expected a string, got {value!r}")
    raise TypeError(f"unsupported setting type {target!r}")


def suggest(name: str, known: list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest known name, or ""."""
    close = difflib.get_close_matches(name, known, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _coerce(value: Any, target: type, where: str) -> Any:
    """Convert ``value`` (possibly a string from the environment or CLI) to ``target``."""
    try:
        return scalar(value, target)
    except ValueError as exc:
        raise ConfigError(f"invalid value for {where}: {exc}", remedy=f"fix {where}") from exc


Layer = dict[str, dict[str, Any]]


def _validate_layer(layer: Mapping[str, Any], origin: str) -> Layer:
    """Check a layer's sections and keys against the schema; raise on unknown names."""
    sections = _sections()
    clean: Layer = {}
    for section_name, values in layer.items():
        if section_name not in sections:
            raise ConfigError(
                f"unknown configuration section [{section_name}] in {origin}."
                + suggest(section_name, list(sections)),
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
                    + suggest(key, list(known)),
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
                + suggest(section, list(sections)),
                remedy=f"use {ENV_PREFIX}<SECTION>_<KEY> with a section among "
                f"{', '.join(sorted(sections))}, or unset it",
            )
        layer.setdefault(section, {})[key] = value
    return _validate_layer(layer, "environment")


def load_toml(path: str | os.PathLike[str], what: str, *, remedy: str,
              error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """Read a TOML file; errors name the file and where it is broken, never its content
    (configuration files hold passwords)."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{what} not found: {p}", path=str(p), remedy=remedy) from exc
    except OSError as exc:
        raise error(f"{what} {p} cannot be read: {exc.strerror}", path=str(p)) from exc
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message says what is wrong and where (line, column), quoting nothing.
        raise error(f"{what} {p} is not valid TOML: {exc}", path=str(p)) from exc


def file_layer(path: str | os.PathLike[str]) -> Layer:
    """Read a TOML configuration file into a layer."""
    data = load_toml(path, "config file", remedy="check --drill-config / the path given")
    return _validate_layer(data, f"file:{Path(path)}")


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
    if built["upgrade"].target_postgres_version:
        # A pre-upgrade drill restores into the target major: the scratch server is that one.
        built["scratch"] = dataclasses.replace(
            built["scratch"], postgres_version=built["upgrade"].target_postgres_version)
        sources["scratch.postgres_version"] = sources["upgrade.target_postgres_version"]
    config = DrillConfig(**built, sources=sources)
    _check_backups(config.backups, sources)
    _check_evidence(config.evidence)
    return config


def _check_evidence(ev: EvidenceConfig) -> None:
    """Object Lock needs a retention period, and only an S3 target can hold it."""
    if not ev.object_lock_mode:
        return
    if ev.object_lock_days <= 0:
        raise ConfigError(f"evidence.object_lock_mode = {ev.object_lock_mode!r} needs "
                          "evidence.object_lock_days > 0",
                          remedy="e.g. object_lock_days = 400 (a year and a month)")
    if not ev.publish_to.startswith("s3://"):
        raise ConfigError("evidence.object_lock_mode applies to runs published to S3",
                          remedy="set evidence.publish_to = \"s3://bucket/prefix\" (a bucket "
                                 "created with Object Lock enabled)")


def _check_backups(backups: BackupsConfig, sources: Mapping[str, str]) -> None:
    """Refuse a [backups] layout that would not round-trip, and an unknown time zone."""
    try:
        Layout.of(backups).compile()
    except ConfigError as exc:
        keys = [k for k in sources if k.startswith("backups.") and k.split(".", 1)[1]
                in exc.message]
        origin = sources.get(keys[0], "") if keys else ""
        if origin and origin != "default":
            exc.message += f" (set in {origin})"
            exc.args = (exc.message,)
        raise
    try:
        zoneinfo.ZoneInfo(backups.source_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"backups.source_timezone = {backups.source_timezone!r} is not a "
                          "known time zone",
                          remedy="use an IANA name such as UTC or Europe/Paris") from exc
    if backups.connect_timeout_seconds <= 0 or backups.connect_attempts < 1:
        raise ConfigError("backups.connect_timeout_seconds must be positive and "
                          "backups.connect_attempts at least 1",
                          remedy="e.g. connect_timeout_seconds = 10, connect_attempts = 2")
