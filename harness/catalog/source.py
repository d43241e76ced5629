"""Backup sources: where backups are read from, strictly read-only.

A backup source is a local directory or an S3 bucket/prefix. Both offer the same operations on
paths relative to the source's root (always ``/``-separated): list entries under a prefix
recursively, stat one entry, read or stream its bytes, compute its SHA-256, and ``fetch`` a
local copy for the restore engine.

Backups are evidence, so no method writes, renames or deletes anything in the source: the
directory source opens files ``rb`` only and the S3 source issues only ``ListObjectsV2``,
``HeadObject`` and ``GetObject``. ``fetch`` on a directory source returns the original path
without copying; the restore engine must open it read-only.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import hashlib
import os
import stat as stat_mod
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.config import BackupsConfig
from harness.errors import ConfigError, DrillError, SourceUnavailable
from harness.tools.s3 import s3_client

CHUNK = 1 << 20
STORE = "backup-source"


@dataclass(frozen=True)
class Entry:
    """One file or object of a backup source."""

    relpath: str  # relative to the source's root, "/"-separated
    size: int
    mtime: dt.datetime  # timezone-aware UTC; for S3 the object's LastModified

    @property
    def name(self) -> str:
        """The last path component."""
        return self.relpath.rsplit("/", 1)[-1]


def clean_relpath(relpath: str) -> str:
    """Normalise a relative path; refuse absolute paths and ``..`` (they would leave the root)."""
    text = relpath.replace("\\", "/").strip("/")
    if not text:
        return ""
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or relpath.startswith("/"):
        raise DrillError(f"path {relpath!r} leaves the backup source's root", store=STORE,
                         path=relpath, remedy="use a path relative to the backup root")
    return "/".join(parts)


def _hash_stream(fh: IO[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


class BackupSource(abc.ABC):
    """A read-only view of backup storage, addressed by paths relative to its root."""

    kind: str = ""

    @property
    @abc.abstractmethod
    def root(self) -> str:
        """The source's root as a path or ``s3://bucket/prefix`` URI (for messages)."""

    @abc.abstractmethod
    def location(self, relpath: str) -> str:
        """The absolute path or ``s3://`` URI of ``relpath``."""

    @abc.abstractmethod
    def list_entries(self, prefix: str = "") -> list[Entry]:
        """Every file below the folder ``prefix`` (recursively), sorted by relpath."""

    @abc.abstractmethod
    def stat(self, relpath: str) -> Entry:
        """The entry of one file; :class:`DrillError` if it does not exist."""

    @abc.abstractmethod
    def children(self, prefix: str = "", limit: int = 20) -> list[str] | None:
        """Names directly below the folder ``prefix`` (folders end in ``/``), sorted.

        ``None`` when the folder does not exist. Used to tell an operator what is there
        instead of what was expected.
        """

    @abc.abstractmethod
    @contextlib.contextmanager
    def open(self, relpath: str) -> Iterator[IO[bytes]]:
        """A binary stream of the file, opened for reading only."""

    @abc.abstractmethod
    def fetch(self, relpath: str, dest_dir: str | os.PathLike[str], *,
              sha256: str | None = None) -> Path:
        """A local path holding ``relpath`` (a file, or a folder with everything below it).

        A directory source returns the original path without copying (the caller must open
        it read-only). A remote source downloads below ``dest_dir`` keeping the relative
        path, verifying ``sha256`` when given. :class:`DrillError` on a checksum mismatch.
        """

    def exists(self, relpath: str) -> bool:
        """True when ``relpath`` is a file of the source."""
        try:
            self.stat(relpath)
        except DrillError:
            return False
        return True

    def read_bytes(self, relpath: str) -> bytes:
        """The whole content of a (small) file."""
        with self.open(relpath) as fh:
            return fh.read()

    def read_head(self, relpath: str, size: int) -> bytes:
        """The first ``size`` bytes of a file (a header), without reading the rest."""
        with self.open(relpath) as fh:
            return fh.read(size)

    def sha256(self, relpath: str) -> str:
        """Hex SHA-256 of a file, computed while streaming it."""
        with self.open(relpath) as fh:
            return _hash_stream(fh)

    def _checksum_error(self, relpath: str, expected: str, found: str) -> DrillError:
        return DrillError(
            f"SHA-256 of {self.location(relpath)} is {found}, but the catalogue recorded "
            f"{expected}: the backup changed after it was catalogued or the copy is damaged",
            store=STORE, path=self.location(relpath),
            remedy="catalogue the backups again; if the mismatch persists, do not restore "
                   "from this file")


class DirectorySource(BackupSource):
    """Backups in a local directory (or a mounted share)."""

    kind = "directory"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = Path(root).expanduser().absolute()
        if not self.path.is_dir():
            raise SourceUnavailable(f"backup source directory {self.path} does not exist",
                             store=STORE, path=str(self.path),
                             remedy="set backups.source to the backup root (a directory or "
                                    "s3://bucket/prefix)")
        # relpath -> (size, mtime_ns, inode, device, SHA-256): a file hashed once is not
        # read again while it is unchanged (the catalogue hashes, the restore verifies).
        self._digests: dict[str, tuple[int, int, int, int, str]] = {}

    @property
    def root(self) -> str:
        return str(self.path)

    @staticmethod
    def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
        return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev

    def sha256(self, relpath: str) -> str:
        """Hex SHA-256 of a file; remembered while its size, mtime, inode and device stay
        the same (a backup job rewriting the file changes them)."""
        p = self._abs(relpath)
        try:
            before = self._signature(p.stat())
        except OSError:
            before = None
        cached = self._digests.get(relpath)
        if before is not None and cached is not None and cached[:4] == before:
            return cached[4]
        digest = super().sha256(relpath)
        try:
            after = self._signature(p.stat())
        except OSError:
            after = None
        if before is not None and after == before:  # not changed while it was read
            self._digests[relpath] = (*before, digest)
        return digest

    def _still_there(self) -> None:
        """The source root vanishing (unmounted, deleted) is the source's failure, not a
        missing backup: say so, with the exit code of an unreachable source."""
        if not self.path.is_dir():
            raise SourceUnavailable(f"the backup source folder {self.path} no longer exists",
                                    store=STORE, path=str(self.path),
                                    remedy="check the mount or share holding the backups and "
                                           "rerun; the backups themselves were not judged")

    def _abs(self, relpath: str) -> Path:
        rel = clean_relpath(relpath)
        return self.path / rel if rel else self.path

    def location(self, relpath: str) -> str:
        return str(self._abs(relpath))

    def _entry(self, path: Path, st: os.stat_result) -> Entry:
        return Entry(relpath=path.relative_to(self.path).as_posix(), size=st.st_size,
                     mtime=dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc))

    def list_entries(self, prefix: str = "") -> list[Entry]:
        base = self._abs(prefix)
        if not base.is_dir():
            self._still_there()
            return []
        out: list[Entry] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fname in filenames:
                p = Path(dirpath) / fname
                try:
                    st = p.stat()
                except OSError:
                    continue  # a dangling symlink is no backup file
                if stat_mod.S_ISREG(st.st_mode):
                    out.append(self._entry(p, st))
        out.sort(key=lambda e: e.relpath)
        return out

    def stat(self, relpath: str) -> Entry:
        p = self._abs(relpath)
        try:
            st = p.stat()
        except OSError as exc:
            self._still_there()
            raise DrillError(f"backup file {p} not found ({exc.strerror})", store=STORE,
                             path=str(p)) from exc
        if not stat_mod.S_ISREG(st.st_mode):
            raise DrillError(f"{p} is not a file", store=STORE, path=str(p))
        return self._entry(p, st)

    def children(self, prefix: str = "", limit: int = 20) -> list[str] | None:
        base = self._abs(prefix)
        if not base.is_dir():
            self._still_there()
            return None
        names = sorted(p.name + "/" if p.is_dir() else p.name for p in base.iterdir())
        return names[:limit]

    @contextlib.contextmanager
    def open(self, relpath: str) -> Iterator[IO[bytes]]:
        p = self._abs(relpath)
        try:
            fh = p.open("rb")
        except OSError as exc:
            self._still_there()
            raise DrillError(f"cannot read backup file {p} ({exc.strerror})", store=STORE,
                             path=str(p)) from exc
        with fh:
            yield fh

    def fetch(self, relpath: str, dest_dir: str | os.PathLike[str], *,
              sha256: str | None = None) -> Path:
        p = self._abs(relpath)
        if not p.exists():
            self._still_there()
            raise DrillError(f"backup {p} not found", store=STORE, path=str(p))
        if sha256 and p.is_file():
            found = self.sha256(relpath)
            if found != sha256:
                raise self._checksum_error(relpath, sha256, found)
        return p


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/some/prefix/`` into ``("bucket", "some/prefix")``."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"{uri!r} is not an s3:// URI", remedy="write s3://bucket/prefix")
    rest = uri[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"{uri!r} names no bucket", remedy="write s3://bucket/prefix")
    return bucket, prefix.strip("/")


class S3Source(BackupSource):
    """Backups below a prefix of an S3 bucket (path-style addressing).

    Only ``ListObjectsV2``, ``HeadObject`` and ``GetObject`` are ever called.
    """

    kind = "s3"

    def __init__(self, bucket: str, prefix: str, client: Any, *,
                 endpoint: str = "", connect_timeout: float = 10.0, attempts: int = 2) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = _Guarded(client, self)
        self.endpoint = endpoint or "the AWS S3 endpoint"
        self.connect_timeout = connect_timeout
        self.attempts = attempts
        # Once the endpoint has refused a connection, every later call fails at once with
        # the same error instead of waiting again.
        self.unreachable: DrillError | None = None

    @classmethod
    def from_config(cls, config: BackupsConfig) -> S3Source:
        """Build the source and its boto3 client from the ``[backups]`` section."""
        bucket, prefix = parse_s3_uri(config.source)
        client = s3_client(endpoint=config.s3_endpoint, access_key=config.s3_access_key,
                           secret_key=config.s3_secret_key, region=config.s3_region,
                           connect_timeout=config.connect_timeout_seconds,
                           attempts=config.connect_attempts)
        return cls(bucket, prefix, client, endpoint=config.s3_endpoint,
                   connect_timeout=config.connect_timeout_seconds,
                   attempts=config.connect_attempts)

    def _unreachable(self, exc: Exception, waited: float) -> DrillError:
        return SourceUnavailable(
            f"the backup source's S3 endpoint {self.endpoint} accepted no connection: waited "
            f"{waited:.1f} s over {self.attempts} attempt(s) of up to "
            f"{self.connect_timeout:g} s ({type(exc).__name__})", store=STORE, path=self.root,
            remedy="check backups.s3_endpoint and that the S3 server is up and reachable from "
                   "here; backups.connect_timeout_seconds and backups.connect_attempts set "
                   "how long to wait")

    @property
    def root(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, relpath: str) -> str:
        """The object key of ``relpath``."""
        rel = clean_relpath(relpath)
        return f"{self.prefix}/{rel}" if self.prefix and rel else (self.prefix or rel)

    def relpath(self, key: str) -> str:
        """The relative path of an object key below the source's prefix."""
        if self.prefix:
            if not key.startswith(self.prefix + "/"):
                raise ValueError(f"key {key!r} is not below prefix {self.prefix!r}")
            return key[len(self.prefix) + 1:]
        return key

    def location(self, relpath: str) -> str:
        return f"s3://{self.bucket}/{self.key(relpath)}"

    def _folder_key(self, prefix: str) -> str:
        key = self.key(prefix)
        return key + "/" if key else ""

    def _error(self, exc: Exception, relpath: str, what: str) -> DrillError:
        if isinstance(exc, DrillError):
            return exc  # already explained (an unreachable endpoint)
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        where = self.location(relpath)
        if code in ("NoSuchBucket",):
            return SourceUnavailable(f"bucket {self.bucket} does not exist ({what} {where})",
                              store=STORE, path=where,
                              remedy="check backups.source and backups.s3_endpoint")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
            return SourceUnavailable(f"access to {where} denied ({code}) while trying to {what}",
                              store=STORE, path=where,
                              remedy="check backups.s3_access_key / s3_secret_key; the drill "
                                     "needs read (list and get) permission only")
        if code in ("NoSuchKey", "404", "NotFound"):
            return DrillError(f"backup object {where} not found", store=STORE, path=where)
        return SourceUnavailable(f"cannot {what} {where}: {exc}", store=STORE, path=where,
                          remedy="check backups.s3_endpoint and that the S3 server is "
                                 "reachable")

    def _pages(self, prefix_key: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix_key}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        token: str | None = None
        while True:
            if token:
                kwargs["ContinuationToken"] = token
            page = self.client.list_objects_v2(**kwargs)
            yield page
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token:
                return

    def list_entries(self, prefix: str = "") -> list[Entry]:
        folder = self._folder_key(prefix)
        out: list[Entry] = []
        try:
            for page in self._pages(folder):
                for obj in page.get("Contents", []):
                    key: str = obj["Key"]
                    if key.endswith("/"):
                        continue  # a folder marker some tools write, not a file
                    out.append(Entry(relpath=self.relpath(key), size=int(obj["Size"]),
                                     mtime=_utc(obj["LastModified"])))
        except DrillError:
            raise
        except Exception as exc:  # botocore's errors are many; each becomes one DrillError
            raise self._error(exc, prefix, "list") from exc
        out.sort(key=lambda e: e.relpath)
        return out

    def stat(self, relpath: str) -> Entry:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(relpath))
        except Exception as exc:
            raise self._error(exc, relpath, "stat") from exc
        return Entry(relpath=clean_relpath(relpath), size=int(head["ContentLength"]),
                     mtime=_utc(head["LastModified"]))

    def children(self, prefix: str = "", limit: int = 20) -> list[str] | None:
        folder = self._folder_key(prefix)
        names: list[str] = []
        try:
            for page in self._pages(folder, delimiter="/"):
                names += [p["Prefix"][len(folder):] for p in page.get("CommonPrefixes", [])]
                names += [o["Key"][len(folder):] for o in page.get("Contents", [])
                          if o["Key"] != folder]
                if len(names) >= limit:
                    break
        except Exception as exc:
            raise self._error(exc, prefix, "list") from exc
        if not names:
            return None  # S3 has no empty folders: nothing below means no folder
        return sorted(names)[:limit]

    @contextlib.contextmanager
    def open(self, relpath: str) -> Iterator[IO[bytes]]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(relpath))["Body"]
        except Exception as exc:
            raise self._error(exc, relpath, "read") from exc
        try:
            yield body
        finally:
            body.close()

    def read_head(self, relpath: str, size: int) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(relpath),
                                          Range=f"bytes=0-{max(size, 1) - 1}")["Body"]
        except Exception as exc:
            raise self._error(exc, relpath, "read") from exc
        try:
            return bytes(body.read())[:size]
        finally:
            body.close()

    def _download(self, relpath: str, dest: Path, sha256: str | None) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        h = hashlib.sha256()
        with self.open(relpath) as body, tmp.open("wb") as out:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        if sha256 and h.hexdigest() != sha256:
            tmp.unlink()
            raise self._checksum_error(relpath, sha256, h.hexdigest())
        os.replace(tmp, dest)

    def fetch(self, relpath: str, dest_dir: str | os.PathLike[str], *,
              sha256: str | None = None) -> Path:
        rel = clean_relpath(relpath)
        dest = Path(dest_dir) / rel if rel else Path(dest_dir)
        if rel and self.exists(rel):
            self._download(rel, dest, sha256)
            return dest
        entries = self.list_entries(rel)
        if not entries:
            raise DrillError(f"backup {self.location(rel)} not found (no object and no "
                             "objects below it)", store=STORE, path=self.location(rel))
        for e in entries:
            self._download(e.relpath, Path(dest_dir) / e.relpath, None)
        return dest


class _Guarded:
    """The boto3 client, failing fast once its endpoint proved unreachable."""

    def __init__(self, client: Any, source: S3Source) -> None:
        self._client = client
        self._source = source

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_") or name in ("meta", "exceptions"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

            if self._source.unreachable is not None:
                raise self._source.unreachable
            t0 = time.monotonic()
            try:
                return attr(*args, **kwargs)
            except (EndpointConnectionError, ConnectTimeoutError) as exc:
                self._source.unreachable = self._source._unreachable(
                    exc, time.monotonic() - t0)
                raise self._source.unreachable from exc

        return call


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def open_source(config: BackupsConfig) -> BackupSource:
    """The backup source ``config.source`` names: ``s3://bucket/prefix`` or a directory."""
    if not config.source:
        raise ConfigError("backups.source is not set: the drill does not know where the "
                          "backups are",
                          remedy="set backups.source to the backup root (a directory or "
                                 "s3://bucket/prefix), e.g. SCRYDON_DRILL_BACKUPS_SOURCE")
    if config.source.startswith("s3://"):
        return S3Source.from_config(config)
    return DirectorySource(config.source)
