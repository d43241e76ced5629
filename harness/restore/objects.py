"""Restore object storage from the bucket replica, to the same bucket names and keys.

Objects are uploaded in parallel. Each object's SHA-256 and MD5 are computed while it is
read; the store's ETag (the MD5 of a single-part upload) must match, so every object is
verified on the way in without a second read.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DrillError
from harness.scratch.endpoints import S3Endpoint


@dataclass
class ObjectsRestore:
    """What the object restore did."""

    buckets: dict[str, int] = field(default_factory=dict)  # bucket -> objects
    bytes: int = 0
    hashes: dict[str, str] = field(default_factory=dict)  # bucket/key -> sha256


def list_replica(root: Path) -> list[tuple[str, str, Path]]:
    """``(bucket, key, file)`` for every object in a replica folder laid out bucket/key."""
    out = []
    for bucket_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(bucket_dir.rglob("*")):
            if f.is_file() and not f.name.endswith(".partial"):
                out.append((bucket_dir.name, f.relative_to(bucket_dir).as_posix(), f))
    return out


#: One object to restore: its bucket, its key and how to get a local file holding it.
ObjectItem = tuple[str, str, Callable[[], Path]]


def _upload(client: Any, bucket: str, key: str, local: Callable[[], Path]) -> tuple[str, int]:
    path = local()
    data = path.read_bytes()
    md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - compared with the ETag, not security
    resp = client.put_object(Bucket=bucket, Key=key, Body=data)
    etag = str(resp.get("ETag", "")).strip('"')
    if etag and etag != md5:
        raise DrillError(f"object {bucket}/{key} changed on its way into the scratch store "
                         f"(MD5 {md5}, store says {etag})", store="objects", path=str(path),
                         remedy="check the scratch object store and network")
    return hashlib.sha256(data).hexdigest(), len(data)


def upload_objects(items: Sequence[ObjectItem], target: S3Endpoint, *, workers: int = 8,
                   only: set[str] | None = None) -> ObjectsRestore:
    """Upload each ``(bucket, key, local file)`` (or only ``bucket/key`` names in ``only``)
    to the same bucket and key, creating the buckets first."""
    chosen = [i for i in items if only is None or f"{i[0]}/{i[1]}" in only]
    client: Any = target.client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    result = ObjectsRestore()
    for bucket in sorted({b for b, _, _ in chosen} - existing):
        client.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(_upload, client, b, k, f): (b, k) for b, k, f in chosen}
        for fut, (bucket, key) in futures.items():
            sha, size = fut.result()
            result.hashes[f"{bucket}/{key}"] = sha
            result.bytes += size
            result.buckets[bucket] = result.buckets.get(bucket, 0) + 1
    return result


def restore_objects(replica_root: Path, target: S3Endpoint, *, workers: int = 8,
                    only: set[str] | None = None) -> ObjectsRestore:
    """Upload every object of a replica folder laid out ``bucket/key`` (or only ``only``)."""
    if not replica_root.is_dir():
        raise DrillError("the object replica folder does not exist", store="objects",
                         path=str(replica_root),
                         remedy="check backups.objects_replica and the replication job")
    items: list[ObjectItem] = [(b, k, functools.partial(Path, f))
                               for b, k, f in list_replica(replica_root)]
    return upload_objects(items, target, workers=workers, only=only)
