"""Restore object storage from the bucket replica, to the same bucket names and keys.

Objects are uploaded in parallel, large ones in parts sent side by side (memory stays at
about 1.5 x workers x part size).
Each object's SHA-256 and MD5s are computed while it is read; the store's ETags (the MD5 of a
single-part upload, of each part, and the parts' composite) must match, so every object is
verified on the way in without a second read.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import progress
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


#: Objects larger than this go up in parts of this size, so memory stays at workers x part
#: whatever the objects' sizes (and objects over 5 GiB can reach a real S3 at all).
PART_SIZE = 8 * 1024 * 1024


@dataclass
class _Parts:
    """Where the parts of large objects are sent from, and how many may be in memory.

    Parts of one object go up side by side, each hashed (MD5) by the thread that sends it;
    the buffers of all parts in flight, across all objects, are bounded by ``slots`` so
    memory stays at about slots x part size.
    """

    pool: ThreadPoolExecutor
    slots: threading.BoundedSemaphore


def _upload(client: Any, bucket: str, key: str, local: Callable[[], Path],
            parts: _Parts) -> tuple[str, int]:
    path = local()
    with path.open("rb") as fh:
        if path.stat().st_size <= PART_SIZE:
            data = fh.read()
            md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - compared with the ETag
            resp = client.put_object(Bucket=bucket, Key=key, Body=data)
            _check_etag(resp, md5, bucket, key, path)
            return hashlib.sha256(data).hexdigest(), len(data)
        return _upload_parts(client, bucket, key, fh, path, parts)


def _send_part(client: Any, bucket: str, key: str, upload_id: str, number: int,
               chunk: bytes, slots: threading.BoundedSemaphore) -> tuple[str, bytes]:
    """Upload one part; the store's ETag for it and the part's MD5 (computed here, so the
    MD5s of one object's parts are computed side by side, not in its reading thread)."""
    try:
        md5 = hashlib.md5(chunk).digest()  # noqa: S324 - compared with the ETag
        resp = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                  PartNumber=number, Body=chunk)
        return str(resp.get("ETag", "")), md5
    finally:
        slots.release()  # the part's buffer is no longer needed


def _note_failure(failed: threading.Event, future: Future[tuple[str, bytes]]) -> None:
    if not future.cancelled() and future.exception() is not None:
        failed.set()


def _upload_parts(client: Any, bucket: str, key: str, fh: Any, path: Path,
                  parts: _Parts) -> tuple[str, int]:
    """A multipart upload read once, its parts sent side by side: each part's MD5 is
    checked against its ETag, the whole object's against the store's composite ETag (MD5 of
    the parts' MD5s, "-<parts>")."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    sha = hashlib.sha256()
    digests: list[bytes] = []
    sent: list[Future[tuple[str, bytes]]] = []
    failed = threading.Event()
    size = 0
    try:
        while True:
            parts.slots.acquire()
            try:
                chunk = fh.read(PART_SIZE)
            except BaseException:
                parts.slots.release()
                raise
            if not chunk:
                parts.slots.release()
                break
            sha.update(chunk)
            size += len(chunk)
            sent.append(parts.pool.submit(_send_part, client, bucket, key, upload_id,
                                          len(sent) + 1, chunk, parts.slots))
            sent[-1].add_done_callback(functools.partial(_note_failure, failed))
            del chunk
            if failed.is_set():
                break  # a failed part fails the object: read no further
        listed = []
        for number, future in enumerate(sent, 1):
            etag, digest = future.result()
            _check_etag({"ETag": etag}, digest.hex(), bucket, key, path, part=number)
            digests.append(digest)
            listed.append({"ETag": etag, "PartNumber": number})
        resp = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                MultipartUpload={"Parts": listed})
    except BaseException:
        for future in sent:
            if future.cancel():  # never sent: its buffer's slot is given back here
                parts.slots.release()
        wait(sent)
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    composite = hashlib.md5(b"".join(digests)).hexdigest()  # noqa: S324
    _check_etag(resp, f"{composite}-{len(listed)}", bucket, key, path)
    return sha.hexdigest(), size


def _check_etag(resp: dict[str, Any], expected: str, bucket: str, key: str, path: Path,
                part: int | None = None) -> None:
    etag = str(resp.get("ETag", "")).strip('"')
    if etag and etag != expected:
        what = f"part {part} of object" if part else "object"
        raise DrillError(f"{what} {bucket}/{key} changed on its way into the scratch store "
                         f"(MD5 {expected}, store says {etag})", store="objects",
                         path=str(path), remedy="check the scratch object store and network")


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
    with ThreadPoolExecutor(max(1, workers)) as pool, ThreadPoolExecutor(
            max(1, workers), thread_name_prefix="object-parts") as part_pool:
        # Half the workers' worth of part buffers: on one machine parts are bound by the
        # hashing more than by the wire, and each slot is a part held in memory.
        parts = _Parts(part_pool, threading.BoundedSemaphore(max(2, workers // 2)))
        futures: dict[Future[tuple[str, int]], tuple[str, str]] = {}
        try:
            for batch in _first_of_each_bucket(chosen):
                submitted = {pool.submit(_upload, client, b, k, f, parts): (b, k)
                             for b, k, f in batch}
                futures.update(submitted)
                for fut, (bucket, key) in submitted.items():
                    sha, size = fut.result()
                    result.hashes[f"{bucket}/{key}"] = sha
                    result.bytes += size
                    result.buckets[bucket] = result.buckets.get(bucket, 0) + 1
                    progress.transfer("objects: upload", len(result.hashes), len(chosen),
                                      moved_bytes=result.bytes)
        except BaseException:
            # The first failure decides the store's outcome: the queued uploads would only
            # fail the same way, each after its retries.
            for pending in futures:
                pending.cancel()
            raise
    return result


def _first_of_each_bucket(items: Sequence[ObjectItem]) -> list[list[ObjectItem]]:
    """The first object of every bucket, then all the others.

    A store may make room for a new bucket on its first write (SeaweedFS grows volumes for
    it); writes racing that first one can wait for a retry (measured: 1 s, for the second of
    two notebooks), so each bucket gets one write of its own before the crowd.
    """
    seen: set[str] = set()
    firsts: list[ObjectItem] = []
    rest: list[ObjectItem] = []
    for item in items:
        (rest if item[0] in seen else firsts).append(item)
        seen.add(item[0])
    return [firsts, rest]


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
