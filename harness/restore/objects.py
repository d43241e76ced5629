"""Restore object storage from the bucket replica, to the same bucket names and keys.

Objects are uploaded in parallel, large ones in parts sent side by side (memory stays at
about 1.5 x workers x part size).

Every body goes up with a checksum the store recomputes, refusing a body that changed on the
way, and its answer must echo the same checksum. A single-part object carries its SHA-256
(``x-amz-checksum-sha256``): the evidence and the replica check need that hash anyway, so
the object is hashed once. The parts of a large object carry a CRC32 each, and the store's
composite of them is checked after the last part: the object's SHA-256 is computed while it
is read, and a SHA-256 per part would hash every byte a second time where a CRC32 costs a
quarter of it (it is also what the AWS SDKs send by default). Nothing else hashes the bodies:
the client neither adds a CRC32 of its own nor signs the payload again. A store that answers
without checksums is checked the older way: the MD5 of what was sent against its ETag (a
single-part object's, each part's, and the parts' composite).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import threading
import zlib
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


#: What a store answers when a body's checksum (or Content-MD5) does not match the body.
_DIGEST_ERRORS = {"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch",
                  "XAmzContentSHA256Mismatch"}


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _changed(what: str, bucket: str, key: str, path: Path, detail: str) -> DrillError:
    return DrillError(f"{what} {bucket}/{key} changed on its way into the scratch store "
                      f"({detail})", store="objects", path=str(path),
                      remedy="check the scratch object store and network")


def _send(call: Callable[..., dict[str, Any]], what: str, bucket: str, key: str, path: Path,
          **kwargs: Any) -> dict[str, Any]:
    """One upload request; a store refusing the body's checksum is a changed body."""
    try:
        return call(Bucket=bucket, Key=key, **kwargs)
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in _DIGEST_ERRORS:
            raise _changed(what, bucket, key, path, f"the store refused it: {code}") from exc
        raise


@dataclass(frozen=True)
class _Sent:
    """One body as the store took it: its checksum sent from here, what the store answered."""

    etag: str
    algorithm: str  # "SHA256" | "CRC32"
    digest: bytes  # the body's checksum, computed here
    answer: str  # the store's checksum answer for this algorithm; "" when it gave none
    md5: bytes = b""  # computed only when the store gave no checksum


def _answer(resp: dict[str, Any], algorithm: str) -> str:
    return str(resp.get(f"Checksum{algorithm}") or "")


def _confirm(sent: _Sent, body: bytes, what: str, bucket: str, key: str,
             path: Path) -> _Sent:
    """The store's checksum must be this body's; a store that answered none has its ETag
    checked against the body's MD5 instead."""
    if sent.answer:
        if sent.answer != _b64(sent.digest):
            name = {"SHA256": "SHA-256"}.get(sent.algorithm, sent.algorithm)
            raise _changed(what, bucket, key, path, f"{name} {_b64(sent.digest)}, "
                           f"store says {sent.answer}")
        return sent
    md5 = hashlib.md5(body).digest()  # noqa: S324 - compared with the ETag
    _check_etag(sent.etag, md5.hex(), what, bucket, key, path)
    return dataclasses.replace(sent, md5=md5)


def _upload(client: Any, bucket: str, key: str, local: Callable[[], Path],
            parts: _Parts) -> tuple[str, int]:
    path = local()
    with path.open("rb") as fh:
        if path.stat().st_size <= PART_SIZE:
            data = fh.read()
            sha = hashlib.sha256(data).digest()
            resp = _send(client.put_object, "object", bucket, key, path, Body=data,
                         ChecksumSHA256=_b64(sha))
            _confirm(_Sent(str(resp.get("ETag", "")), "SHA256", sha, _answer(resp, "SHA256")),
                     data, "object", bucket, key, path)
            return sha.hex(), len(data)
        return _upload_parts(client, bucket, key, fh, path, parts)


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def _send_part(client: Any, bucket: str, key: str, path: Path, upload_id: str, number: int,
               chunk: bytes, slots: threading.BoundedSemaphore) -> _Sent:
    """Upload and confirm one part (its CRC32, and an MD5 if the store needs one, are
    computed here, so the parts of one object are checked side by side, not in its reading
    thread)."""
    try:
        crc = _crc32(chunk)
        what = f"part {number} of object"
        resp = _send(client.upload_part, what, bucket, key, path, UploadId=upload_id,
                     PartNumber=number, Body=chunk, ChecksumCRC32=_b64(crc))
        return _confirm(_Sent(str(resp.get("ETag", "")), "CRC32", crc, _answer(resp, "CRC32")),
                        chunk, what, bucket, key, path)
    finally:
        slots.release()  # the part's buffer is no longer needed


def _note_failure(failed: threading.Event, future: Future[_Sent]) -> None:
    if not future.cancelled() and future.exception() is not None:
        failed.set()


def _upload_parts(client: Any, bucket: str, key: str, fh: Any, path: Path,
                  parts: _Parts) -> tuple[str, int]:
    """A multipart upload read once (and SHA-256 hashed as it is read), its parts sent side
    by side, each confirmed by the store; then the whole object's composite (the CRC32 of
    the parts' CRC32s, or the MD5 of their MD5s where the store answered ETags only)."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key,
                                               ChecksumAlgorithm="CRC32")["UploadId"]
    sha = hashlib.sha256()
    sent: list[Future[_Sent]] = []
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
            sent.append(parts.pool.submit(_send_part, client, bucket, key, path, upload_id,
                                          len(sent) + 1, chunk, parts.slots))
            sent[-1].add_done_callback(functools.partial(_note_failure, failed))
            del chunk
            if failed.is_set():
                break  # a failed part fails the object: read no further
        done = [future.result() for future in sent]
        listed = [{"ETag": part.etag, "PartNumber": number,
                   **({"ChecksumCRC32": part.answer} if part.answer else {})}
                  for number, part in enumerate(done, 1)]
        resp = _send(client.complete_multipart_upload, "object", bucket, key, path,
                     UploadId=upload_id, MultipartUpload={"Parts": listed})
    except BaseException:
        for future in sent:
            if future.cancel():  # never sent: its buffer's slot is given back here
                parts.slots.release()
        wait(sent)
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    _check_composite(resp, done, bucket, key, path)
    return sha.hexdigest(), size


def _check_composite(resp: dict[str, Any], done: list[_Sent], bucket: str, key: str,
                     path: Path) -> None:
    """The store's whole-object answer after its parts: a composite checksum when it gave
    one, else the composite ETag when every part was checked by MD5. (Parts the store
    confirmed by checksum with no composite in its answer were each proven already.)"""
    count = f"-{len(done)}"
    answer = _answer(resp, "CRC32")
    if answer:
        expected = _b64(_crc32(b"".join(p.digest for p in done)))
        # S3 writes a composite as "<base64>-<parts>"; some stores leave the count off.
        if answer not in (expected, expected + count):
            raise _changed("object", bucket, key, path,
                           f"composite CRC32 {expected}{count}, store says {answer}")
    elif all(p.md5 for p in done):
        composite = hashlib.md5(b"".join(p.md5 for p in done)).hexdigest()  # noqa: S324
        _check_etag(str(resp.get("ETag", "")), composite + count, "object", bucket, key,
                    path)


def _check_etag(etag: str, expected: str, what: str, bucket: str, key: str,
                path: Path) -> None:
    found = etag.strip('"')
    if found and found != expected:
        raise _changed(what, bucket, key, path, f"MD5 {expected}, store says {found}")


def upload_objects(items: Sequence[ObjectItem], target: S3Endpoint, *, workers: int = 8,
                   only: set[str] | None = None) -> ObjectsRestore:
    """Upload each ``(bucket, key, local file)`` (or only ``bucket/key`` names in ``only``)
    to the same bucket and key, creating the buckets first."""
    chosen = [i for i in items if only is None or f"{i[0]}/{i[1]}" in only]
    client: Any = target.upload_client()
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
