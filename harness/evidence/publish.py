"""Publishing a report folder to a directory or an S3 bucket, and proving the copy is whole.

A publishing failure raises :class:`~harness.evidence.storage.EvidenceStoreError`; the caller
records it as a run error (the run fails) without ever touching the drill's verdict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path
from typing import Any

from harness.evidence.manifest import sha256_file, verify_folder
from harness.evidence.storage import EvidenceStoreError, S3Options, is_s3, join_key, split_s3


def publish(folder: Path, target: str, options: S3Options | None = None) -> str:
    """Copy ``folder`` to ``<target>/<folder name>/`` and verify the copy; return where it is."""
    if not target:
        raise EvidenceStoreError("no publishing target given",
                                 remedy="set evidence.publish_to to a directory or s3://b/p")
    if is_s3(target):
        return _publish_s3(folder, target, options or S3Options())
    return _publish_dir(folder, Path(target))


def _publish_dir(folder: Path, target: Path) -> str:
    dest = target / folder.name
    try:
        target.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            raise EvidenceStoreError(f"{dest} already exists: a run is published only once",
                                     path=str(dest), remedy="remove it or publish elsewhere")
        tmp = target / f".{folder.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(folder, tmp)
        tmp.rename(dest)
    except OSError as exc:
        raise EvidenceStoreError(f"cannot copy the report to {target}: {exc}", path=str(target),
                                 remedy="check evidence.publish_to and its permissions") from exc
    check = verify_folder(dest, check_schema=False)
    if not check.ok:
        raise EvidenceStoreError(f"the published copy in {dest} does not match the manifest: "
                                 + "; ".join(check.problems), path=str(dest))
    return str(dest)


def _publish_s3(folder: Path, target: str, options: S3Options) -> str:
    bucket, prefix = split_s3(target)
    base = join_key(prefix, folder.name)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    lock: dict[str, Any] = {}
    if options.lock_mode:
        until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=options.lock_days)
        lock = {"ObjectLockMode": options.lock_mode.upper(), "ObjectLockRetainUntilDate": until}
    try:
        client = options.client()
        if lock:
            _require_object_lock(client, bucket)
        for path in files:
            key = join_key(base, path.relative_to(folder).as_posix())
            if lock and _exists(client, bucket, key):
                raise EvidenceStoreError(f"s3://{bucket}/{key} exists already: a locked run "
                                         "is published once", path=f"s3://{bucket}/{key}")
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(),
                              ContentType=_content_type(path.name), **lock)
        for path in files:
            key = join_key(base, path.relative_to(folder).as_posix())
            got = client.get_object(Bucket=bucket, Key=key)
            if hashlib.sha256(got["Body"].read()).hexdigest() != sha256_file(path):
                raise EvidenceStoreError(f"s3://{bucket}/{key} differs from {path} after upload",
                                         path=f"s3://{bucket}/{key}",
                                         remedy="check the bucket; publish again")
            if lock and str(got.get("ObjectLockMode", "")).upper() != lock["ObjectLockMode"]:
                raise EvidenceStoreError(f"s3://{bucket}/{key} was stored without the "
                                         f"{options.lock_mode} retention asked for",
                                         path=f"s3://{bucket}/{key}",
                                         remedy="enable Object Lock on the bucket")
    except EvidenceStoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - botocore raises many types
        raise EvidenceStoreError(f"cannot publish the report to {target}: "
                                 f"{type(exc).__name__}: {exc}", path=target,
                                 remedy="check evidence.publish_to, evidence.s3_endpoint and "
                                 "the S3 credentials") from exc
    return f"s3://{bucket}/{base}/"


def _require_object_lock(client: Any, bucket: str) -> None:
    """Retention can only be applied in a bucket created with Object Lock enabled."""
    try:
        conf = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except Exception as exc:  # noqa: BLE001 - "not found" comes as several error types
        conf = {"error": str(exc)}
    if conf.get("ObjectLockEnabled") != "Enabled":
        raise EvidenceStoreError(
            f"bucket {bucket} has no Object Lock: published runs could be altered or deleted",
            path=f"s3://{bucket}", remedy="publish to a bucket created with Object Lock "
            "enabled (aws s3api create-bucket --object-lock-enabled-for-bucket), or unset "
            "evidence.object_lock_mode")


def _exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: BLE001 - 404 and friends: not there
        return False
    return True


def _content_type(name: str) -> str:
    return {".json": "application/json", ".xml": "application/xml",
            ".html": "text/html; charset=utf-8", ".md": "text/markdown; charset=utf-8",
            ".prom": "text/plain; version=0.0.4", ".sig": "text/plain"}.get(
        Path(name).suffix, "application/octet-stream")
