"""license.valid with real RS256 bundles: valid, expired, too few days, altered, missing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from harness.checks.license import check_license
from harness.crypto import license as lic

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def key():  # type: ignore[no-untyped-def]
    return lic.generate_signing_key()


def bundle(key, days: float) -> str:  # type: ignore[no-untyped-def]
    return lic.make_license_bundle(key, org="org_1", tier="enterprise",
                                   exp=NOW + dt.timedelta(days=days), jti="lic_1")


def test_a_valid_license_passes_with_its_claims(key) -> None:  # type: ignore[no-untyped-def]
    out = check_license(bundle(key, 365), now=NOW, min_days_left=90)
    assert out.ok and out.measured["days_left"] == 365 and out.measured["tier"] == "enterprise"
    assert "organisation org_1, tier enterprise" in out.message
    assert json.loads(bundle(key, 365))["jwt"] not in out.message


def test_expired_and_expiring_licenses_fail(key) -> None:  # type: ignore[no-untyped-def]
    expired = check_license(bundle(key, -10), now=NOW, min_days_left=0)
    assert not expired.ok and "expired on" in expired.message
    assert expired.measured["days_left"] < 0
    soon = check_license(bundle(key, 40), now=NOW, min_days_left=90)
    assert not soon.ok and "in 40 day(s); at least 90 are required" in soon.message


def test_altered_or_missing_license_fails(key) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(bundle(key, 365))
    head, payload, sig = data["jwt"].split(".")
    data["jwt"] = ".".join([head, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), sig])
    out = check_license(json.dumps(data), now=NOW, min_days_left=0)
    assert not out.ok and "does not verify" in out.message
    assert not check_license(None, now=NOW, min_days_left=0).ok
    assert "not JSON" in check_license("garbage", now=NOW, min_days_left=0).message


def test_trusted_issuer_key(key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    pem = tmp_path / "issuer.pem"
    pem.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ok = check_license(bundle(key, 365), now=NOW, min_days_left=0,
                       trusted_public_key_file=str(pem))
    assert ok.ok and "trusted issuer key" in ok.message
    other = bundle(lic.generate_signing_key(), 365)
    out = check_license(other, now=NOW, min_days_left=0, trusted_public_key_file=str(pem))
    assert not out.ok and "not the trusted license key" in out.message
