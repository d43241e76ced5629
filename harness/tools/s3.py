"""The one place an S3 client is built (backup sources, scratch stores, evidence)."""

from __future__ import annotations

from typing import Any


def s3_client(*, endpoint: str = "", access_key: str = "", secret_key: str = "",
              region: str = "us-east-1", connect_timeout: float = 10.0,
              read_timeout: float = 120.0, attempts: int = 3,
              own_checksums: bool = False) -> Any:
    """A boto3 S3 client: path-style addressing when an endpoint is given (SeaweedFS, MinIO),
    boto3's default credential chain when no key is given, bounded connection retries.

    ``own_checksums``: the caller sends an ``x-amz-checksum-sha256`` with every body it
    uploads, so botocore neither adds a CRC32 of its own nor hashes the body again to sign it
    (over plain HTTP it would: the payload's SHA-256 goes into the signature). The checksum
    header is signed, which binds the body to the request all the same, and the store
    verifies it.
    """
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {"region_name": region or None}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if access_key:
        kwargs["aws_access_key_id"] = access_key
        kwargs["aws_secret_access_key"] = secret_key
    s3: dict[str, Any] = {"addressing_style": "path"} if endpoint else {}
    extra: dict[str, Any] = {}
    if own_checksums:
        s3["payload_signing_enabled"] = False
        extra["request_checksum_calculation"] = "when_required"
    config = Config(s3=s3, retries={"max_attempts": attempts, "mode": "standard"},
                    connect_timeout=connect_timeout, read_timeout=read_timeout, **extra)
    return boto3.client("s3", config=config, **kwargs)
