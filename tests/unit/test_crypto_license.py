"""Tests for harness.crypto.license (Scrydon license bundles)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.crypto.license import (
    LicenseClaimsInvalid,
    LicenseError,
    LicenseExpired,
    LicenseExpiresSoon,
    LicenseMalformed,
    LicenseSignatureInvalid,
    generate_signing_key,
    make_license_bundle,
    public_key_fingerprint,
    sign_license_claims,
    verify_license_bundle,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def key():
    return generate_signing_key(seed="test-license-key-a")


@pytest.fixture(scope="module")
def other_key():
    return generate_signing_key(seed="test-license-key-b")


def good_claims(**over: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "cust-42",
        "iss": "scrydon-license",
        "aud": "scrydon-platform",
        "exp": int((NOW + timedelta(days=200)).timestamp()),
        "jti": "lic-0001",
        "scrydon.org": "acme",
        "scrydon.tier": "professional",
        "scrydon.entitlements": {"cpuCores": 32, "ramGb": 128, "vramGb": 24},
    }
    claims.update(over)
    return claims


def test_valid_bundle(key) -> None:
    bundle = make_license_bundle(
        key, org="acme", tier="enterprise", exp=NOW + timedelta(days=120, hours=5), jti="L-1",
        entitlements={"cpuCores": 64, "ramGb": 256, "vramGb": 80},
    )
    parsed = json.loads(bundle)
    assert set(parsed) == {"jwt", "publicKey"}
    assert parsed["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    assert jwt.get_unverified_header(parsed["jwt"])["alg"] == "RS256"

    report = verify_license_bundle(bundle, now=NOW, min_days_left=90)
    assert report.days_left == 120
    assert report.org == "acme" and report.tier == "enterprise" and report.subject == "acme"
    assert report.license_id == "L-1"
    assert report.entitlements == {"cpuCores": 64, "ramGb": 256, "vramGb": 80}
    assert report.expires_at == NOW + timedelta(days=120, hours=5)
    assert report.claims["iss"] == "scrydon-license" and report.claims["aud"] == "scrydon-platform"
    assert report.public_key_fingerprint == public_key_fingerprint(key)


def test_claims_are_independently_verifiable(key) -> None:
    bundle = json.loads(make_license_bundle(key, org="acme", tier="starter", exp=NOW + timedelta(days=10)))
    pub = serialization.load_pem_public_key(bundle["publicKey"].encode())
    claims = jwt.decode(bundle["jwt"], pub, algorithms=["RS256"], audience="scrydon-platform",
                        issuer="scrydon-license", options={"verify_exp": False})
    assert claims["scrydon.tier"] == "starter" and isinstance(claims["jti"], str)


def test_seeded_key_is_deterministic(key) -> None:
    assert generate_signing_key(seed="test-license-key-a").private_numbers() == key.private_numbers()
    assert key.key_size == 2048 and key.public_key().public_numbers().e == 65537


def test_expired(key) -> None:
    bundle = make_license_bundle(key, org="acme", tier="starter", exp=NOW - timedelta(days=3))
    with pytest.raises(LicenseExpired, match="3 day") as info:
        verify_license_bundle(bundle, now=NOW)
    assert info.value.report is not None and info.value.report.days_left == -3


def test_expiring_soon(key) -> None:
    bundle = make_license_bundle(key, org="acme", tier="starter", exp=NOW + timedelta(days=45, hours=1))
    assert verify_license_bundle(bundle, now=NOW).days_left == 45
    with pytest.raises(LicenseExpiresSoon, match="in 45 day") as info:
        verify_license_bundle(bundle, now=NOW, min_days_left=90)
    assert "90" in str(info.value)
    assert info.value.report is not None and info.value.report.days_left == 45


def test_naive_now_is_utc(key) -> None:
    bundle = make_license_bundle(key, org="acme", tier="starter", exp=NOW + timedelta(days=1))
    assert verify_license_bundle(bundle, now=NOW.replace(tzinfo=None)).days_left == 1


def test_signed_by_another_key(key, other_key) -> None:
    bundle = sign_license_claims(other_key, good_claims(), public_key=key.public_key())
    with pytest.raises(LicenseSignatureInvalid):
        verify_license_bundle(bundle, now=NOW)


def test_trusted_key_pinning(key, other_key) -> None:
    bundle = make_license_bundle(other_key, org="mallory", tier="enterprise", exp=NOW + timedelta(days=999))
    assert verify_license_bundle(bundle, now=NOW).org == "mallory"  # self-consistent
    with pytest.raises(LicenseSignatureInvalid, match="trusted"):
        verify_license_bundle(bundle, now=NOW, trusted_public_key=key.public_key())
    good = make_license_bundle(key, org="acme", tier="enterprise", exp=NOW + timedelta(days=999))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert verify_license_bundle(good, now=NOW, trusted_public_key=pem).org == "acme"


def test_tampered_payload(key) -> None:
    bundle = json.loads(sign_license_claims(key, good_claims()))
    header, payload, sig = bundle["jwt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scrydon.tier"] = "enterprise"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    bundle["jwt"] = ".".join([header, forged, sig])
    with pytest.raises(LicenseSignatureInvalid, match="modified"):
        verify_license_bundle(json.dumps(bundle), now=NOW)


def test_alg_none_or_hs256_rejected(key) -> None:
    pem = json.loads(sign_license_claims(key, good_claims()))["publicKey"]
    hs = jwt.encode(good_claims(), "shared-secret-that-is-long-enough-for-hs256!", algorithm="HS256")
    with pytest.raises(LicenseSignatureInvalid, match="HS256"):
        verify_license_bundle(json.dumps({"jwt": hs, "publicKey": pem}), now=NOW)
    none = jwt.encode(good_claims(), None, algorithm="none")
    with pytest.raises(LicenseSignatureInvalid, match="none"):
        verify_license_bundle(json.dumps({"jwt": none, "publicKey": pem}), now=NOW)


@pytest.mark.parametrize(
    "claim", ["sub", "iss", "aud", "exp", "jti", "scrydon.org", "scrydon.tier", "scrydon.entitlements"]
)
def test_missing_claim(key, claim: str) -> None:
    claims = good_claims()
    del claims[claim]
    with pytest.raises(LicenseClaimsInvalid, match=claim.replace(".", r"\.")) as info:
        verify_license_bundle(sign_license_claims(key, claims), now=NOW)
    assert info.value.claim == claim


def test_missing_entitlement(key) -> None:
    claims = good_claims(**{"scrydon.entitlements": {"cpuCores": 4, "ramGb": 8}})
    with pytest.raises(LicenseClaimsInvalid, match="vramGb") as info:
        verify_license_bundle(sign_license_claims(key, claims), now=NOW)
    assert info.value.claim == "scrydon.entitlements.vramGb"


@pytest.mark.parametrize(
    "over, claim",
    [
        ({"aud": "scrydon-console"}, "aud"),
        ({"aud": ["other"]}, "aud"),
        ({"iss": "someone-else"}, "iss"),
        ({"scrydon.tier": "platinum"}, "scrydon.tier"),
        ({"scrydon.tier": "Enterprise"}, "scrydon.tier"),
        ({"exp": "tomorrow"}, "exp"),
        ({"sub": ""}, "sub"),
        ({"scrydon.entitlements": {"cpuCores": -1, "ramGb": 8, "vramGb": 0}}, "scrydon.entitlements.cpuCores"),
        ({"scrydon.entitlements": {"cpuCores": True, "ramGb": 8, "vramGb": 0}}, "scrydon.entitlements.cpuCores"),
        ({"nbf": int((NOW + timedelta(days=1)).timestamp())}, "nbf"),
    ],
)
def test_wrong_claims(key, over: dict[str, Any], claim: str) -> None:
    with pytest.raises(LicenseClaimsInvalid) as info:
        verify_license_bundle(sign_license_claims(key, good_claims(**over)), now=NOW)
    assert info.value.claim == claim
    assert claim.split(".")[0] in str(info.value)


def test_audience_list_containing_platform_is_accepted(key) -> None:
    claims = good_claims(aud=["scrydon-platform", "scrydon-console"])
    assert verify_license_bundle(sign_license_claims(key, claims), now=NOW).org == "acme"


def test_make_rejects_bad_tier(key) -> None:
    with pytest.raises(ValueError, match="tier"):
        make_license_bundle(key, org="acme", tier="gold", exp=NOW)


@pytest.mark.parametrize(
    "bundle",
    [
        "not json",
        "[]",
        json.dumps({"jwt": "a.b.c"}),
        json.dumps({"jwt": "", "publicKey": "x"}),
        json.dumps({"jwt": "a.b.c", "publicKey": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"}),
    ],
)
def test_malformed_bundles(bundle: str) -> None:
    with pytest.raises(LicenseMalformed):
        verify_license_bundle(bundle, now=NOW)


def test_garbage_jwt_is_malformed(key) -> None:
    pem = json.loads(sign_license_claims(key, good_claims()))["publicKey"]
    with pytest.raises(LicenseMalformed):
        verify_license_bundle(json.dumps({"jwt": "definitely-not-a-jwt", "publicKey": pem}), now=NOW)


def test_non_rsa_public_key_is_malformed(key) -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    token = json.loads(sign_license_claims(key, good_claims()))["jwt"]
    with pytest.raises(LicenseMalformed, match="RSA"):
        verify_license_bundle(json.dumps({"jwt": token, "publicKey": ec_pem}), now=NOW)


def test_all_errors_share_base() -> None:
    for cls in (LicenseMalformed, LicenseSignatureInvalid, LicenseClaimsInvalid, LicenseExpired, LicenseExpiresSoon):
        assert issubclass(cls, LicenseError)
