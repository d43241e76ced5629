"""Where evidence goes besides the report folder: a directory or an S3 bucket (``s3://b/p``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import DrillError
from harness.tools.s3 import s3_client


class EvidenceStoreError(DrillError):
    """Evidence could not be written to or read from its destination."""

    def __init__(self, message: str, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "evidence")
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3 destination; empty credentials mean boto3's default chain."""

    endpoint: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    region: str = "us-east-1"
    # S3 Object Lock retention for published objects ("" for none).
    lock_mode: str = ""
    lock_days: int = 0

    def client(self) -> Any:
        """A boto3 S3 client (path-style addressing when an endpoint is given)."""
        return s3_client(endpoint=self.endpoint, access_key=self.access_key,
                         secret_key=self.secret_key, region=self.region, connect_timeout=5,
                         read_timeout=30)


def is_s3(location: str) -> bool:
    """Whether ``location`` is an ``s3://`` URI."""
    return location.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")`` (prefix without slashes)."""
    if not is_s3(uri):
        raise EvidenceStoreError(f"not an s3:// URI: {uri!r}", remedy="write s3://bucket/prefix")
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    if not bucket:
        raise EvidenceStoreError(f"no bucket in {uri!r}", remedy="write s3://bucket/prefix")
    return bucket, prefix.strip("/")


def join_key(prefix: str, *parts: str) -> str:
    """An object key from a prefix and path parts."""
    return "/".join(p.strip("/") for p in (prefix, *parts) if p.strip("/"))
