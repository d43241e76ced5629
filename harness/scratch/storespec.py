"""What a store runs as a container, whoever runs it (Docker or Kubernetes).

The containers and the Kubernetes providers start the same images with the same settings and
prove readiness the same way, through the endpoint the harness will use: PostgreSQL answers a
query, the S3 gateway stores and deletes an object, the warehouse answers a query. Image
choice stays with each provider (an engine can be asked what it holds, a cluster cannot).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.config import DrillConfig
from harness.errors import ScratchError
from harness.scratch.endpoints import (
    Endpoints,
    PostgresEndpoint,
    S3Endpoint,
    WarehouseEndpoint,
)
from harness.tools.binaries import WEED_SCRATCH_FLAGS

# The uid:gid PostgreSQL runs as in the pgvector images and the local stand-in.
POSTGRES_IDS = (999, 999)
READY_BUCKET = "drill-ready-probe"


@dataclass(frozen=True)
class StoreSpec:
    """One store's container: port, environment, command, and the credentials it was given."""

    store: str
    image: str
    port: int
    env: dict[str, str] = field(default_factory=dict, repr=False)
    command: list[str] = field(default_factory=list)
    kind: str = ""  # the warehouse's kind: "starrocks" or "mariadb"
    user: str = ""
    password: str = field(default="", repr=False)


def extra_env(config: DrillConfig) -> dict[str, str]:
    """``containers.env`` (``KEY=VALUE,KEY2=VALUE2``) as a mapping."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in config.containers.env.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ScratchError(f"containers.env entry {part!r} is not KEY=VALUE",
                               remedy="write containers.env as KEY=VALUE,KEY2=VALUE2")
        out[key.strip()] = value
    return out


def store_spec(store: str, image: str, config: DrillConfig) -> StoreSpec:
    """The container of ``store`` (``postgres``, ``objects``, ``warehouse``) from ``image``."""
    extra = extra_env(config)
    if store == "postgres":
        password = secrets.token_urlsafe(18)
        return StoreSpec(store, image, 5432, {"POSTGRES_PASSWORD": password, **extra},
                         ["postgres", "-c", "fsync=off", "-c", "max_connections=60"],
                         user="postgres", password=password)
    if store == "objects":
        scratch = config.scratch
        # Both the upstream image and the local stand-in take "server" and its flags; the
        # upstream one serves S3 (on 8333) only when asked with -s3.
        return StoreSpec(store, image, 8333, {"AWS_ACCESS_KEY_ID": scratch.s3_access_key,
                                              "AWS_SECRET_ACCESS_KEY": scratch.s3_secret_key,
                                              **extra},
                         ["server", "-s3", *WEED_SCRATCH_FLAGS],
                         user=scratch.s3_access_key, password=scratch.s3_secret_key)
    if store == "warehouse":
        if "starrocks" in image:
            # allin1 serves the MySQL protocol on 9030, root without a password.
            return StoreSpec(store, image, 9030, dict(extra), kind="starrocks", user="root")
        password = secrets.token_urlsafe(18)
        return StoreSpec(store, image, 3306, {"MARIADB_ROOT_PASSWORD": password,
                                              "MYSQL_ROOT_PASSWORD": password, **extra},
                         kind="mariadb", user="root", password=password)
    raise ValueError(f"unknown store {store!r}")


def postgres_endpoint(spec: StoreSpec, host: str, port: int, *, major: int,
                      version: str = "", has_pgvector: bool = True) -> PostgresEndpoint:
    """The endpoint of a PostgreSQL container reached at ``host:port``; client tools of the
    same major version when this machine has them."""
    from harness.tools import pgbin

    try:
        bindir = pgbin.find(major, require_pgvector=False, minimum=True).bindir
    except ScratchError:
        bindir = None
    return PostgresEndpoint(host=host, port=port, user=spec.user or "postgres",
                            password=spec.password, major=major,
                            version=version or str(major), has_pgvector=has_pgvector,
                            bindir=bindir)


def s3_endpoint(spec: StoreSpec, host: str, port: int) -> S3Endpoint:
    """The endpoint of the S3 container reached at ``host:port``."""
    return S3Endpoint(url=f"http://{host}:{port}", access_key=spec.user,
                      secret_key=spec.password)


def warehouse_endpoint(spec: StoreSpec, host: str, port: int,
                       version: str = "") -> WarehouseEndpoint:
    """The endpoint of the warehouse container reached at ``host:port``."""
    return WarehouseEndpoint(host=host, port=port, user=spec.user, password=spec.password,
                             kind=spec.kind or "mariadb", version=version)


def readiness_probe(store: str, endpoint: Callable[[], Any]
                    ) -> tuple[Callable[[], bool], tuple[type[BaseException], ...]]:
    """The probe proving ``store`` serves through ``endpoint()``, and the exceptions it raises
    while the store is still starting (anything else fails at once)."""
    if store == "postgres":
        import psycopg

        def pg() -> bool:
            with psycopg.connect(**endpoint().conninfo(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True

        return pg, (OSError, psycopg.OperationalError)
    if store == "objects":
        from botocore.exceptions import BotoCoreError, ClientError

        def s3() -> bool:
            # Writing an object proves master, volume, filer and gateway all work.
            client: Any = endpoint().client()
            client.create_bucket(Bucket=READY_BUCKET)
            client.put_object(Bucket=READY_BUCKET, Key="probe", Body=b"ok")
            client.delete_object(Bucket=READY_BUCKET, Key="probe")
            client.delete_bucket(Bucket=READY_BUCKET)
            return True

        return s3, (OSError, BotoCoreError, ClientError)
    import pymysql

    def wh() -> bool:
        conn: Any = endpoint().connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
        return True

    return wh, (OSError, pymysql.err.OperationalError)


def server_facts(pg: PostgresEndpoint) -> tuple[int, str, bool] | None:
    """``(major, version, has pgvector)`` asked of a running PostgreSQL, None when it does not
    answer yet."""
    import psycopg

    try:
        with psycopg.connect(**pg.conninfo(), connect_timeout=5) as conn:
            row = conn.execute("SELECT current_setting('server_version_num')::int, "
                               "current_setting('server_version'), (SELECT count(*) FROM "
                               "pg_available_extensions WHERE name = 'vector')").fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    return int(row[0]) // 10000, str(row[1]).split()[0], int(row[2]) > 0


def warehouse_version(wh: WarehouseEndpoint) -> str:
    """The warehouse's ``VERSION()``, empty when it does not answer yet."""
    try:
        conn: Any = wh.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                return str(cur.fetchone()[0])
        finally:
            conn.close()
    except Exception:  # noqa: BLE001 - not ready yet: no version to show
        return ""


class PublishedStore(Protocol):
    """A running store reached on 127.0.0.1 (a published container port, a port-forward),
    with what was asked of it once cached."""

    spec: StoreSpec
    endpoint: PostgresEndpoint | None  # PostgreSQL's own version and extensions
    version: str  # the warehouse's version

    @property
    def port(self) -> int: ...


def local_postgres(item: PublishedStore, default_major: int, *, major: int | None = None,
                   version: str = "") -> PostgresEndpoint:
    """PostgreSQL on ``item``'s local port, of ``major`` (else the configured one)."""
    return postgres_endpoint(item.spec, "127.0.0.1", item.port, major=major or default_major,
                             version=version)


def server_postgres(item: PublishedStore, default_major: int) -> PostgresEndpoint:
    """The endpoint with the server's own version and extensions (asked once)."""
    if item.endpoint is not None:
        return item.endpoint
    facts = server_facts(local_postgres(item, default_major))
    if facts is None:
        return local_postgres(item, default_major)  # not ready yet: asked again next time
    major, version, vector = facts
    item.endpoint = dataclasses.replace(
        local_postgres(item, default_major, major=major, version=version), has_pgvector=vector)
    return item.endpoint


def local_warehouse(item: PublishedStore) -> WarehouseEndpoint:
    """The warehouse on ``item``'s local port, with its version (asked once)."""
    endpoint = warehouse_endpoint(item.spec, "127.0.0.1", item.port, item.version)
    if not item.version:
        item.version = warehouse_version(endpoint)
        endpoint = dataclasses.replace(endpoint, version=item.version)
    return endpoint


def local_endpoints(stores: Mapping[str, PublishedStore], default_major: int) -> Endpoints:
    """The endpoints of the stores that have a local port."""
    pg = stores.get("postgres")
    s3 = stores.get("objects")
    wh = stores.get("warehouse")
    return Endpoints(
        postgres=server_postgres(pg, default_major) if pg and pg.port else None,
        s3=s3_endpoint(s3.spec, "127.0.0.1", s3.port) if s3 and s3.port else None,
        warehouse=local_warehouse(wh) if wh and wh.port else None)
