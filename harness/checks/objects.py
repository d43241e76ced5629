"""Index rows in PostgreSQL against the objects they point at in the restored object store.

* kb.documents: a sample (or all) of the knowledge-base documents is downloaded; each blob's
  size and SHA-256 must match its index row (content, not just presence).
* consistency.kb_blobs / consistency.notebooks: every index row has its object, of the
  indexed size (from a bucket listing, nothing downloaded).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checks.base import Outcome, coverage, listing, plural, query
from harness.errors import could_not_verify

if TYPE_CHECKING:
    import psycopg

# Reads one object: its content in chunks, or None when it does not exist.
Reader = Callable[[str, str], Iterable[bytes] | None]
_CHUNK = 1 << 20
_MISSING_CODES = {"NoSuchKey", "404", "NoSuchBucket", "NotFound"}


@dataclass(frozen=True)
class IndexedObject:
    """One index row: which object it points at and what that object should be."""

    id: str
    bucket: str
    key: str
    size: int | None
    sha256: str | None = None

    @property
    def path(self) -> str:
        """``bucket/key``."""
        return f"{self.bucket}/{self.key}"


def fetch_index(conn: psycopg.Connection[Any], sql: str, *, where: str,
                with_sha256: bool) -> list[IndexedObject]:
    """Index rows per a profile query (columns id, bucket, object_key, size_bytes[, sha256])."""
    columns = ("id", "bucket", "object_key", "size_bytes") + (("sha256",) if with_sha256 else ())
    rows = query(conn, sql, {}, where=where, columns=columns)
    return [IndexedObject(id=str(r["id"]), bucket=str(r["bucket"]), key=str(r["object_key"]),
                          size=None if r["size_bytes"] is None else int(r["size_bytes"]),
                          sha256=(str(r["sha256"]).lower() if r.get("sha256") else None))
            for r in rows]


def s3_reader(client: Any) -> Reader:
    """A :data:`Reader` over a boto3 client; other S3 errors are could-not-verify."""
    from botocore.exceptions import BotoCoreError, ClientError

    def read(bucket: str, key: str) -> Iterable[bytes] | None:
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                return None
            could_not_verify(f"reading {bucket}/{key} from the restored object store failed: "
                             f"{exc}", remedy="check the scratch object store")
        except BotoCoreError as exc:
            could_not_verify(f"the restored object store cannot be read: {exc}",
                             remedy="check the scratch object store")
        return iter(lambda: body.read(_CHUNK), b"")

    return read


def list_objects(client: Any, buckets: Iterable[str]) -> dict[str, int]:
    """``bucket/key`` -> size for every object in ``buckets`` (a missing bucket is empty)."""
    from botocore.exceptions import BotoCoreError, ClientError

    out: dict[str, int] = {}
    for bucket in sorted(set(buckets)):
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    out[f"{bucket}/{obj['Key']}"] = int(obj["Size"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                continue
            could_not_verify(f"listing bucket {bucket} of the restored object store failed: "
                             f"{exc}", remedy="check the scratch object store")
        except BotoCoreError as exc:
            could_not_verify(f"the restored object store cannot be listed: {exc}",
                             remedy="check the scratch object store")
    return out


#: Documents read at once by :func:`check_documents`.
_READERS = 8


def _size_and_sha256(read: Reader, doc: IndexedObject) -> tuple[int, str] | None:
    """The size and SHA-256 of one stored document, or None when it is missing."""
    chunks = read(doc.bucket, doc.key)
    if chunks is None:
        return None
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def check_documents(sample: Sequence[IndexedObject], read: Reader, *, total: int, seed: int,
                    min_documents: int) -> Outcome:
    """Download each sampled document; size and SHA-256 must match its index row."""
    measured: dict[str, Any] = {"documents": total, "checked": len(sample),
                                "coverage_percent": round(100.0 * len(sample) / total, 1)
                                if total else 0.0, "seed": seed}
    if total < min_documents:
        return Outcome.failed(
            f"the restored knowledge-base index holds {plural(total, 'document')}; at least "
            f"{min_documents} expected", remedy="check [kb] index_sql; if it is right, the "
            "backup lost the document index", missing=0, mismatched=0, **measured)
    missing: list[str] = []
    mismatched: list[str] = []
    read_bytes = 0
    # Read side by side: one document after the other, 200 of 256 KiB took 0.7 s, most of it
    # waiting on the store. The results keep the sample's order.
    with ThreadPoolExecutor(_READERS, thread_name_prefix="kb-read") as pool:
        read_all = list(pool.map(functools.partial(_size_and_sha256, read), sample))
    for doc, stored in zip(sample, read_all, strict=True):
        if stored is None:
            missing.append(f"{doc.id} ({doc.path})")
            continue
        size, sha256 = stored
        read_bytes += size
        problems = []
        if doc.size is not None and size != doc.size:
            problems.append(f"{size} bytes, indexed {doc.size}")
        if doc.sha256 and sha256 != doc.sha256:
            problems.append(f"SHA-256 {sha256[:12]}…, indexed {doc.sha256[:12]}…")
        if problems:
            mismatched.append(f"{doc.id} ({doc.path}: {', '.join(problems)})")
    measured.update(missing=len(missing), mismatched=len(mismatched), bytes_read=read_bytes)
    what = f"{coverage(len(sample), total, seed)} knowledge-base documents"
    if missing or mismatched:
        found = []
        if missing:
            found.append(f"{plural(len(missing), 'blob')} missing from the restored object "
                         f"store: {listing(missing)}")
        if mismatched:
            found.append(f"{plural(len(mismatched), 'blob')} differing from the index: "
                         f"{listing(mismatched)}")
        return Outcome.failed(
            f"opened {what}: " + "; ".join(found),
            remedy="restore these objects from an older replica version (the replica never "
            "deletes) and find out why replication lost or changed them", **measured)
    return Outcome.passed(
        f"opened {what}: every blob exists in the restored object store with the indexed size "
        f"and SHA-256 ({read_bytes} bytes read)", **measured)


def check_index_objects(index: Sequence[IndexedObject], objects: Mapping[str, int], *,
                        what: str, minimum: int) -> Outcome:
    """Every index row has its object of the indexed size; objects without a row are counted."""
    indexed = {doc.path for doc in index}
    missing = [f"{doc.id} ({doc.path})" for doc in index if doc.path not in objects]
    wrong_size = [f"{doc.id} ({doc.path}: {objects[doc.path]} bytes, indexed {doc.size})"
                  for doc in index
                  if doc.path in objects and doc.size is not None and objects[doc.path] != doc.size]
    buckets = {doc.bucket for doc in index}
    orphans = [p for p in objects if p.split("/", 1)[0] in buckets and p not in indexed]
    measured = {"indexed": len(index), "missing": len(missing), "wrong_size": len(wrong_size),
                "unindexed_objects": len(orphans)}
    if len(index) < minimum:
        return Outcome.failed(
            f"the restored {what} index holds {plural(len(index), 'row')}; at least {minimum} "
            "expected", remedy=f"check the profile's {what} index query; if it is right, the "
            "backup lost the index", **measured)
    if missing or wrong_size:
        found = []
        if missing:
            found.append(f"{plural(len(missing), 'indexed ' + what)} without its object: "
                         f"{listing(missing)}")
        if wrong_size:
            found.append(f"{plural(len(wrong_size), 'object')} of the wrong size: "
                         f"{listing(wrong_size)}")
        return Outcome.failed(
            f"checked all {len(index)} indexed {what}s against the restored buckets "
            f"({', '.join(sorted(buckets))}): " + "; ".join(found),
            remedy="these rows point at blobs the object backup does not hold: check the "
            "replication job (it must run continuously and never delete) and restore the "
            "objects from another copy", **measured)
    extra = (f"; {plural(len(orphans), 'object')} in these buckets have no index row (kept by "
             "the never-deleting replica)" if orphans else "")
    return Outcome.passed(
        f"all {len(index)} indexed {what}s have their object of the indexed size in the "
        f"restored buckets ({', '.join(sorted(buckets)) or 'none'}){extra}", **measured)
