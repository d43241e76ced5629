"""How to reach the stores of a scratch (or source) environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.tools.s3 import s3_client


@dataclass(frozen=True)
class PostgresEndpoint:
    """A PostgreSQL server: address, superuser credentials and matching client tools."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    major: int
    version: str
    has_pgvector: bool
    bindir: Path | None = None  # client tools of the same major version, when available

    def dsn(self, dbname: str = "postgres") -> str:
        """Return a libpq URI for ``dbname`` (contains the password: never log it)."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )

    def conninfo(self, dbname: str = "postgres") -> dict[str, Any]:
        """Return connection keywords for psycopg."""
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "dbname": dbname}

    def env(self) -> dict[str, str]:
        """libpq environment for client tools (keeps the password off command lines)."""
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
                "PGPASSWORD": self.password}

    def tool(self, name: str) -> str:
        """Path of a client tool (``pg_restore``...) of this server's major version."""
        return str(self.bindir / name) if self.bindir else name


@dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible endpoint (path-style addressing)."""

    url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"

    def client(self) -> object:
        """Return a boto3 S3 client for this endpoint."""
        return s3_client(endpoint=self.url, access_key=self.access_key,
                         secret_key=self.secret_key, region=self.region, connect_timeout=5,
                         read_timeout=60)

    def upload_client(self) -> object:
        """A client for uploads that carry their own SHA-256 checksums (see
        :func:`harness.tools.s3.s3_client`)."""
        return s3_client(endpoint=self.url, access_key=self.access_key,
                         secret_key=self.secret_key, region=self.region, connect_timeout=5,
                         read_timeout=60, own_checksums=True)


@dataclass(frozen=True)
class WarehouseEndpoint:
    """A MySQL-protocol warehouse: StarRocks, or MariaDB standing in for it locally."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    kind: str  # "mariadb" | "starrocks"
    version: str = ""

    def connect(self, database: str | None = None, **kwargs: object) -> object:
        """Open a PyMySQL connection."""
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, database=database,
                               connect_timeout=5, autocommit=True, **kwargs)


@dataclass(frozen=True)
class Endpoints:
    """Everything a drill needs to reach one environment's stores."""

    postgres: PostgresEndpoint | None = None
    s3: S3Endpoint | None = None
    warehouse: WarehouseEndpoint | None = None

    def credentials(self) -> dict[str, str]:
        """Every credential held here, by label (for redaction and leak scans)."""
        out = {"postgres password": self.postgres.password if self.postgres else "",
               "s3 secret key": self.s3.secret_key if self.s3 else "",
               "warehouse password": self.warehouse.password if self.warehouse else ""}
        return {k: v for k, v in out.items() if v}

    def secrets(self) -> list[str]:
        """Every credential held here (for redaction and leak scans)."""
        out = []
        for ep in (self.postgres, self.s3, self.warehouse):
            if ep is not None:
                out.append(ep.secret_key if isinstance(ep, S3Endpoint) else ep.password)
        return [s for s in out if s]
