"""Publishing a report folder to a directory or an S3 bucket, and proving the copy is whole.

A publishing failure raises :class:`~harness.evidence.storage.EvidenceStoreError`; the caller
records it as a run error (the run fails) without ever touching the drill's verdict.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

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
    try:
        client = options.client()
        for path in files:
            key = join_key(base, path.relative_to(folder).as_posix())
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(),
                              ContentType=_content_type(path.name))
        for path in files:
            key = join_key(base, path.relative_to(folder).as_posix())
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            if hashlib.sha256(body).hexdigest() != sha256_file(path):
                raise EvidenceStoreError(f"s3://{bucket}/{key} differs from {path} after upload",
                                         path=f"s3://{bucket}/{key}",
                                         remedy="check the bucket; publish again")
    except EvidenceStoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - botocore raises many types
        raise EvidenceStoreError(f"cannot publish the report to {target}: "
                                 f"{type(exc).__name__}: {exc}", path=target,
                                 remedy="check evidence.publish_to, evidence.s3_endpoint and "
                                 "the S3 credentials") from exc
    return f"s3://{bucket}/{base}/"


def _content_type(name: str) -> str:
    return {".json": "application/json", ".xml": "application/xml",
            ".html": "text/html; charset=utf-8", ".md": "text/markdown; charset=utf-8",
            ".prom": "text/plain; version=0.0.4", ".sig": "text/plain"}.get(
        Path(name).suffix, "application/octet-stream")
