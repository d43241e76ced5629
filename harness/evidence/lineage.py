"""Lineage items for backup artefacts: what was restored, from where, how big, which hash."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from harness.evidence.manifest import sha256_file
from harness.evidence.record import LineageItem


def lineage_from_file(path: str | Path, *, store: str, name: str,
                      taken_at: str | dt.datetime | None = None,
                      backup_run: str | None = None) -> LineageItem:
    """Describe a backup file (size and SHA-256 read from disk; the file is only read)."""
    p = Path(path)
    when = taken_at.isoformat() if isinstance(taken_at, dt.datetime) else taken_at
    return LineageItem(store=store, name=name, location=str(p.resolve()), taken_at=when,
                       size=p.stat().st_size, sha256=sha256_file(p), backup_run=backup_run)


def lineage_from_object(client: Any, bucket: str, key: str, *, store: str, name: str,
                        taken_at: str | dt.datetime | None = None,
                        backup_run: str | None = None) -> LineageItem:
    """Describe a backup object in S3 (streams it once to hash it; never writes)."""
    obj = client.get_object(Bucket=bucket, Key=key)
    digest = hashlib.sha256()
    size = 0
    for chunk in obj["Body"].iter_chunks(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    when: Any = taken_at or obj.get("LastModified")
    if isinstance(when, dt.datetime):
        when = when.isoformat()
    return LineageItem(store=store, name=name, location=f"s3://{bucket}/{key}", taken_at=when,
                       size=size, sha256=digest.hexdigest(), backup_run=backup_run)
