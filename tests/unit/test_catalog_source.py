"""Backup sources: listing, reading, hashing, fetching — and never writing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from harness.catalog.source import (
    DirectorySource,
    S3Source,
    clean_relpath,
    open_source,
    parse_s3_uri,
)
from harness.config import BackupsConfig
from harness.errors import ConfigError, DrillError

UTC = dt.timezone.utc
T = dt.datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


class FakeS3:
    """An in-memory stand-in for the read calls of a boto3 S3 client (two keys per page).

    Any call other than list/head/get fails, so a source that tried to write would be caught.
    """

    READS = {"list_objects_v2", "head_object", "get_object"}

    def __init__(self, bucket: str, objects: dict[str, bytes], page_size: int = 2) -> None:
        self.bucket = bucket
        self.objects = dict(objects)
        self.page_size = page_size
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the source called {name}: only reads are allowed")

    def _check(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        if bucket != self.bucket:
            raise ClientError({"Error": {"Code": "NoSuchBucket"}}, "ListObjectsV2")

    def list_objects_v2(self, Bucket: str, Prefix: str = "", Delimiter: str | None = None,
                        ContinuationToken: str | None = None) -> dict[str, Any]:
        self.calls.append("list_objects_v2")
        self._check(Bucket)
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        contents: list[str] = []
        prefixes: list[str] = []
        for k in keys:
            rest = k[len(Prefix):]
            if Delimiter and Delimiter in rest:
                p = Prefix + rest.split(Delimiter)[0] + Delimiter
                if p not in prefixes:
                    prefixes.append(p)
            else:
                contents.append(k)
        start = int(ContinuationToken or 0)
        page = contents[start:start + self.page_size]
        more = start + self.page_size < len(contents)
        out: dict[str, Any] = {
            "Contents": [{"Key": k, "Size": len(self.objects[k]), "LastModified": T}
                         for k in page],
            "CommonPrefixes": [{"Prefix": p} for p in prefixes] if start == 0 else [],
            "IsTruncated": more}
        if more:
            out["NextContinuationToken"] = str(start + self.page_size)
        return out

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls.append("head_object")
        self._check(Bucket)
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return {"ContentLength": len(self.objects[Key]), "LastModified": T}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls.append("get_object")
        self._check(Bucket)
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}


def make_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (T.timestamp(), T.timestamp()))


FILES = {"postgres/dumps/r1/auth.dump": b"auth-1", "postgres/dumps/r1/cortex.dump": b"cx",
         "postgres/base/r1/global/pg_control": b"\0" * 10, "master-key/mk.yaml": b"k: v\n"}


def test_directory_source_lists_stats_reads_hashes(tmp_path: Path) -> None:
    make_tree(tmp_path, FILES)
    (tmp_path / "postgres" / "dangling").symlink_to(tmp_path / "nowhere")
    src = DirectorySource(tmp_path)
    assert [e.relpath for e in src.list_entries("postgres")] == [
        "postgres/base/r1/global/pg_control", "postgres/dumps/r1/auth.dump",
        "postgres/dumps/r1/cortex.dump"]
    assert len(src.list_entries("")) == 4 and src.list_entries("nothing/here") == []
    # folder semantics: "postgres/dump" is not a prefix of "postgres/dumps/…"
    assert src.list_entries("postgres/dump") == []
    e = src.stat("postgres/dumps/r1/auth.dump")
    assert (e.size, e.mtime, e.name) == (6, T, "auth.dump")
    assert src.read_bytes("master-key/mk.yaml") == b"k: v\n"
    assert src.sha256("postgres/dumps/r1/auth.dump") == hashlib.sha256(b"auth-1").hexdigest()
    assert src.children("postgres") == ["base/", "dangling", "dumps/"]
    assert src.children("no/such") is None
    with pytest.raises(DrillError, match="not found"):
        src.stat("postgres/dumps/r1/ontology.dump")
    with pytest.raises(DrillError, match="leaves the backup source"):
        src.read_bytes("../outside")


def test_directory_fetch_returns_the_original_without_copying(tmp_path: Path) -> None:
    root, dest = tmp_path / "b", tmp_path / "dest"
    make_tree(root, FILES)
    src = DirectorySource(root)
    p = src.fetch("postgres/dumps/r1/auth.dump", dest,
                  sha256=hashlib.sha256(b"auth-1").hexdigest())
    assert p == root / "postgres/dumps/r1/auth.dump" and not dest.exists()
    assert src.fetch("postgres/base/r1", dest) == root / "postgres/base/r1"
    with pytest.raises(DrillError, match="SHA-256"):
        src.fetch("postgres/dumps/r1/auth.dump", dest, sha256="0" * 64)


def test_s3_uri_and_prefix_mapping() -> None:
    assert parse_s3_uri("s3://bk/a/b/") == ("bk", "a/b")
    assert parse_s3_uri("s3://bk") == ("bk", "")
    with pytest.raises(ConfigError):
        parse_s3_uri("s3:///x")
    s = S3Source("bk", "/team/backups/", client=None)
    assert s.root == "s3://bk/team/backups"
    assert s.key("postgres/wal/x") == "team/backups/postgres/wal/x"
    assert s.relpath("team/backups/postgres/wal/x") == "postgres/wal/x"
    assert s.location("") == "s3://bk/team/backups"
    with pytest.raises(ValueError):
        s.relpath("team/backups2/x")
    bare = S3Source("bk", "", client=None)
    assert bare.key("a/b") == "a/b" and bare.root == "s3://bk"
    assert clean_relpath("./a//b/") == "a/b"


def test_s3_source_lists_only_below_its_prefix_across_pages(tmp_path: Path) -> None:
    objects = {f"bk/{k}": v for k, v in FILES.items()}
    objects.update({"bk2/postgres/dumps/r1/auth.dump": b"other source",
                    "bk/postgres/dumps/": b"",  # a folder marker, not a file
                    "bk/postgres/wal/000000010000000000000001": b"w" * 3})
    client = FakeS3("bucket", objects)
    src = S3Source("bucket", "bk", client)
    rels = [e.relpath for e in src.list_entries("")]
    assert rels == sorted(list(FILES) + ["postgres/wal/000000010000000000000001"])
    assert [e.relpath for e in src.list_entries("postgres/dumps")] == [
        "postgres/dumps/r1/auth.dump", "postgres/dumps/r1/cortex.dump"]
    assert src.stat("master-key/mk.yaml").size == 5
    assert src.sha256("postgres/dumps/r1/auth.dump") == hashlib.sha256(b"auth-1").hexdigest()
    assert src.children("postgres") == ["base/", "dumps/", "wal/"]
    assert src.children("missing") is None
    with pytest.raises(DrillError, match="not found"):
        src.stat("postgres/dumps/r1/ontology.dump")
    with pytest.raises(DrillError, match="does not exist"):
        S3Source("nope", "", client).list_entries("")
    assert set(client.calls) <= FakeS3.READS


def test_s3_fetch_downloads_verifies_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    client = FakeS3("bucket", {f"bk/{k}": v for k, v in FILES.items()})
    src = S3Source("bucket", "bk", client)
    good = hashlib.sha256(b"auth-1").hexdigest()
    p = src.fetch("postgres/dumps/r1/auth.dump", tmp_path, sha256=good)
    assert p == tmp_path / "postgres/dumps/r1/auth.dump" and p.read_bytes() == b"auth-1"
    folder = src.fetch("postgres/base/r1", tmp_path / "f")
    assert (folder / "global/pg_control").read_bytes() == b"\0" * 10
    with pytest.raises(DrillError, match="SHA-256"):
        src.fetch("postgres/dumps/r1/cortex.dump", tmp_path / "bad", sha256=good)
    assert not any((tmp_path / "bad").rglob("*.dump*"))
    with pytest.raises(DrillError, match="not found"):
        src.fetch("postgres/dumps/r9", tmp_path)
    assert set(client.calls) <= FakeS3.READS


def test_open_source_picks_the_implementation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backups.source is not set"):
        open_source(BackupsConfig())
    assert isinstance(open_source(BackupsConfig(source=str(tmp_path))), DirectorySource)
    with pytest.raises(DrillError, match="does not exist"):
        open_source(BackupsConfig(source=str(tmp_path / "missing")))
    s3 = open_source(BackupsConfig(source="s3://bk/pre", s3_endpoint="http://127.0.0.1:1",
                                   s3_access_key="a", s3_secret_key="b"))
    assert isinstance(s3, S3Source) and (s3.bucket, s3.prefix) == ("bk", "pre")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:1"
    assert s3.client.meta.config.s3["addressing_style"] == "path"


def test_an_s3_endpoint_that_accepts_no_connection_fails_once_fast_and_says_how_long() -> None:
    import socket
    import time

    from harness.errors import EXIT_NOT_STARTED, SourceUnavailable

    # A listener whose backlog is full: further connections are never accepted.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    try:
        cfg = BackupsConfig(source="s3://backups/prod", s3_endpoint=f"http://127.0.0.1:{port}",
                            s3_access_key="ak", s3_secret_key="sk",
                            connect_timeout_seconds=1, connect_attempts=2)
        source = S3Source.from_config(cfg)
        t0 = time.monotonic()
        with pytest.raises(SourceUnavailable) as first:
            source.list_entries("postgres")
        waited = time.monotonic() - t0
        assert 1.5 <= waited < 15
        assert "accepted no connection: waited" in first.value.message
        assert "2 attempt(s) of up to 1 s" in first.value.message
        assert first.value.exit_code == EXIT_NOT_STARTED
        t1 = time.monotonic()
        with pytest.raises(SourceUnavailable):
            source.children("warehouse")
        with pytest.raises(SourceUnavailable):
            source.stat("master-key/master-key.backup.yaml")
        assert time.monotonic() - t1 < 0.5  # known unreachable: no second wait
    finally:
        for c in fillers:
            c.close()
        server.close()


def test_a_directory_file_is_hashed_once_while_unchanged_and_again_once_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.catalog.source as source_mod

    path = tmp_path / "db.dump"
    path.write_bytes(b"first version")
    src = DirectorySource(tmp_path)
    reads: list[int] = []
    real = source_mod._hash_stream
    monkeypatch.setattr(source_mod, "_hash_stream", lambda fh: reads.append(1) or real(fh))
    first = src.sha256("db.dump")
    assert src.fetch("db.dump", tmp_path, sha256=first) == path  # the restore's verification
    assert src.sha256("db.dump") == first and len(reads) == 1
    # Rewritten with the same size: the new mtime is enough to read it again, and the
    # restore's verification catches the change.
    st = path.stat()
    path.write_bytes(b"other version")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.raises(DrillError, match="changed after it was catalogued"):
        src.fetch("db.dump", tmp_path, sha256=first)
    assert len(reads) == 2
    assert src.sha256("db.dump") == hashlib.sha256(b"other version").hexdigest()
    assert len(reads) == 2
