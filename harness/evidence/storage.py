"""Where evidence goes besides the report folder: a directory or an S3 bucket (``s3://b/p``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import DrillError


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

    def client(self) -> Any:
        """A boto3 S3 client (path-style addressing when an endpoint is given)."""
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {"region_name": self.region or None}
        if self.endpoint:
            kwargs["endpoint_url"] = self.endpoint
        if self.access_key:
            kwargs["aws_access_key_id"] = self.access_key
            kwargs["aws_secret_access_key"] = self.secret_key
        config = Config(s3={"addressing_style": "path"} if self.endpoint else {},
                        retries={"max_attempts": 3}, connect_timeout=5, read_timeout=30)
        return boto3.client("s3", config=config, **kwargs)


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
