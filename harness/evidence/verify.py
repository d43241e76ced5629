"""``scrydon-drill verify-evidence``: check a report folder and say what changed."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.evidence.manifest import load_public_key, verify_folder
from harness.evidence.storage import EvidenceStoreError, S3Options, split_s3


def _public_key(public_key: str | None) -> Any:
    """The verifying key read from ``public_key``, or None when none was given."""
    if not public_key:
        return None
    try:
        return load_public_key(Path(public_key).read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the public key {public_key}: {exc}",
                          path=public_key) from exc


def run_verify(folder: str, *, public_key: str | None = None,
               require_signature: bool = False) -> int:
    """Verify ``folder``; print the outcome; return 0 when unchanged, 1 otherwise."""
    key = _public_key(public_key)
    if not Path(folder).is_dir():
        print(f"FAILED: {folder} is not a folder; give a report folder such as "
              "reports/<run-id>", file=sys.stderr)
        return 1
    result = verify_folder(folder, public_key=key, require_signature=require_signature)
    print(result.report())
    return 0 if result.ok else 1


def verify_s3(uri: str, options: S3Options, *, public_key: str | None = None,
              require_signature: bool = False, require_lock: bool = False) -> int:
    """Verify a run published to S3, in place: the version of every object as first published
    is checked against the manifest; a newer version or a delete marker on any key is
    reported as an alteration after publishing; with ``require_lock`` every published version
    must still be under Object Lock retention. Return 0 when untouched, 1 otherwise."""
    import tempfile

    bucket, prefix = split_s3(uri)
    prefix = prefix.rstrip("/") + "/"
    client = options.client()
    versions: dict[str, list[dict[str, Any]]] = {}
    try:
        pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket,
                                                                       Prefix=prefix)
        for page in pages:
            for v in page.get("Versions", []):
                versions.setdefault(v["Key"], []).append(v)
            for m in page.get("DeleteMarkers", []):
                versions.setdefault(m["Key"], []).append({**m, "deleted": True})
    except Exception as exc:  # noqa: BLE001 - botocore raises several types
        raise EvidenceStoreError(f"cannot list {uri}: {type(exc).__name__}: {exc}", path=uri,
                                 remedy="check evidence.s3_* credentials and the URI") from exc
    if not versions:
        print(f"FAILED: nothing is published under {uri}", file=sys.stderr)
        return 1
    problems: list[str] = []
    now = dt.datetime.now(dt.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="verify-s3-") as tmp:
        for key, found in sorted(versions.items()):
            found.sort(key=lambda v: v["LastModified"])
            first = found[0]
            rel = key[len(prefix):]
            later = found[1:]
            if first.get("deleted"):
                problems.append(f"{rel}: its first version is a delete marker")
                continue
            if later:
                kinds = ", ".join("deleted" if v.get("deleted") else "overwritten"
                                  for v in later)
                problems.append(f"{rel} was changed after publishing ({kinds}): the version "
                                "published first is the one checked below")
            kw = {"VersionId": first["VersionId"]} if first.get("VersionId") not in (None,
                                                                                    "null") else {}
            got = client.get_object(Bucket=bucket, Key=key, **kw)
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(got["Body"].read())
            until = got.get("ObjectLockRetainUntilDate")
            if require_lock and (not got.get("ObjectLockMode") or until is None or until < now):
                problems.append(f"{rel} is not under Object Lock retention "
                                f"({got.get('ObjectLockMode') or 'no mode'}, until {until})")
        result = verify_folder(tmp, public_key=_public_key(public_key),
                               require_signature=require_signature)
        result.folder = uri
        result.problems = problems + result.problems
        print(result.report())
        return 0 if result.ok else 1
