"""Scrydon license bundles.

A license is the JSON text ``{"jwt": "<RS256 JWT>", "publicKey": "-----BEGIN PUBLIC KEY-----..."}``
stored in the auth database's ``platform_config`` row. A restore brings back
whatever license the backup held, possibly an expired one, and Scrydon wants
at least 90 days left before an upgrade, so the drill checks it.

Claims: ``sub``, ``iss`` = ``scrydon-license``, ``aud`` = ``scrydon-platform``,
``exp``, ``jti``, ``scrydon.org``, ``scrydon.tier`` (starter, professional or
enterprise) and ``scrydon.entitlements`` (``cpuCores``, ``ramGb``, ``vramGb``).
The ``scrydon.*`` claims are flat claim names containing a dot.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "TIERS",
    "LicenseClaimsInvalid",
    "LicenseError",
    "LicenseExpired",
    "LicenseExpiresSoon",
    "LicenseMalformed",
    "LicenseReport",
    "LicenseSignatureInvalid",
    "generate_signing_key",
    "make_license_bundle",
    "public_key_fingerprint",
    "sign_license_claims",
    "verify_license_bundle",
]

ISSUER = "scrydon-license"
AUDIENCE = "scrydon-platform"
TIERS = ("starter", "professional", "enterprise")
ENTITLEMENT_KEYS = ("cpuCores", "ramGb", "vramGb")
ALGORITHM = "RS256"
_DAY = 86400.0


# --------------------------------------------------------------------------- report and errors


@dataclass(frozen=True)
class LicenseReport:
    """What a verified license says."""

    claims: dict[str, Any]
    expires_at: datetime
    days_left: int
    """Whole days from ``now`` to expiry, rounded down (negative once expired)."""
    org: str
    tier: str
    entitlements: dict[str, int | float]
    subject: str
    license_id: str
    public_key_fingerprint: str
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo of the key that verified the JWT."""


class LicenseError(Exception):
    """Base class of every license problem."""

    def __init__(self, message: str, *, report: LicenseReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class LicenseMalformed(LicenseError):
    """The bundle is not ``{"jwt", "publicKey"}`` JSON with a parseable JWT and RSA key."""


class LicenseSignatureInvalid(LicenseError):
    """The JWT's signature does not verify (or uses the wrong algorithm or key)."""


class LicenseClaimsInvalid(LicenseError):
    """A required claim is missing or has a wrong value."""

    def __init__(self, message: str, *, claim: str) -> None:
        super().__init__(message)
        self.claim = claim


class LicenseExpired(LicenseError):
    """The license's ``exp`` is in the past."""


class LicenseExpiresSoon(LicenseError):
    """The license is valid but has fewer days left than required."""


# --------------------------------------------------------------------------- keys


def _small_primes(limit: int = 2000) -> tuple[int, ...]:
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(sieve[i * i :: i]))
    return tuple(i for i in range(limit) if sieve[i])


_SMALL_PRIMES_PRODUCT = math.prod(_small_primes())


class _Drbg:
    """A deterministic byte stream from a seed (SHAKE-256 in counter mode)."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def read(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)

    def below(self, bound: int) -> int:
        return int.from_bytes(self.read((bound.bit_length() + 7) // 8 + 8), "big") % bound


def _probably_prime(n: int, drbg: _Drbg, rounds: int = 8) -> bool:
    # 8 random-base Miller-Rabin rounds are far beyond the FIPS 186-4 (C.3)
    # requirement for random 1024-bit candidates; these keys only sign tests.
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        x = pow(2 + drbg.below(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _seeded_prime(drbg: _Drbg, bits: int, e: int) -> int:
    while True:
        # Top two bits set so that the product of two such primes has exactly 2*bits bits.
        candidate = int.from_bytes(drbg.read(bits // 8), "big") | (3 << (bits - 2)) | 1
        if math.gcd(candidate, _SMALL_PRIMES_PRODUCT) != 1:
            continue
        if (candidate - 1) % e == 0:
            continue
        if _probably_prime(candidate, drbg):
            return candidate


@functools.lru_cache(maxsize=16)
def _seeded_key(seed: bytes) -> rsa.RSAPrivateKey:
    e = 65537
    drbg = _Drbg(b"scrydon-drill/license-signing-key/v1\x00" + seed)
    p = _seeded_prime(drbg, 1024, e)
    q = _seeded_prime(drbg, 1024, e)
    while q == p:
        q = _seeded_prime(drbg, 1024, e)
    d = pow(e, -1, math.lcm(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e=e, n=p * q),
    )
    return numbers.private_key()


def generate_signing_key(seed: int | str | bytes | None = None) -> rsa.RSAPrivateKey:
    """Return an RSA-2048 key for signing test licenses.

    Without ``seed`` the key is fresh and random. With a seed the same key
    comes back every time (derived from the seed, cached per process), which
    keeps fixtures reproducible; such a key is public knowledge and must only
    sign test licenses.
    """
    if seed is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if isinstance(seed, int):
        seed_bytes = str(seed).encode("ascii")
    elif isinstance(seed, str):
        seed_bytes = seed.encode("utf-8")
    else:
        seed_bytes = bytes(seed)
    return _seeded_key(seed_bytes)


def public_key_fingerprint(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo: a short, comparable key identity."""
    if isinstance(key, rsa.RSAPrivateKey):
        key = key.public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _utc(moment: datetime) -> datetime:
    # A naive datetime is taken as UTC rather than local time: drills run on
    # machines in arbitrary time zones.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# --------------------------------------------------------------------------- signing


def sign_license_claims(
    private_key: rsa.RSAPrivateKey,
    claims: Mapping[str, Any],
    *,
    public_key: rsa.RSAPublicKey | None = None,
) -> str:
    """Sign arbitrary ``claims`` (RS256) and return the bundle JSON text.

    No claim is checked, so this also builds deliberately broken licenses for
    drills and tests. ``public_key`` overrides the key put into the bundle
    (default: the signing key's own public key).
    """
    token = jwt.encode(dict(claims), private_key, algorithm=ALGORITHM, headers={"typ": "JWT"})
    pub = public_key if public_key is not None else private_key.public_key()
    return json.dumps({"jwt": token, "publicKey": _public_pem(pub)})


def make_license_bundle(
    private_key: rsa.RSAPrivateKey,
    *,
    org: str,
    tier: str,
    exp: datetime,
    sub: str | None = None,
    jti: str | None = None,
    entitlements: Mapping[str, int | float] | None = None,
    iat: datetime | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Build a valid Scrydon license bundle (JSON text) signed with ``private_key``.

    ``sub`` defaults to ``org``, ``jti`` to a random UUID, ``entitlements``
    to 16 cores / 64 GB RAM / 0 GB VRAM. ``extra_claims`` are added last and
    may override anything. Raises ValueError for an unknown tier.
    """
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
    ent = (dict(entitlements) if entitlements is not None
           else {"cpuCores": 16, "ramGb": 64, "vramGb": 0})
    claims: dict[str, Any] = {
        "sub": sub if sub is not None else org,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(_utc(exp).timestamp()),
        "jti": jti if jti is not None else str(uuid.uuid4()),
        "scrydon.org": org,
        "scrydon.tier": tier,
        "scrydon.entitlements": ent,
    }
    if iat is not None:
        claims["iat"] = int(_utc(iat).timestamp())
    if extra_claims:
        claims.update(extra_claims)
    return sign_license_claims(private_key, claims)


# --------------------------------------------------------------------------- verification


def _load_bundle(bundle_json: str | bytes) -> tuple[str, rsa.RSAPublicKey]:
    try:
        bundle = json.loads(bundle_json)
    except (ValueError, TypeError) as exc:
        raise LicenseMalformed(f"the license bundle is not JSON ({exc})") from exc
    if not isinstance(bundle, dict):
        raise LicenseMalformed(
            'the license bundle must be a JSON object {"jwt": ..., "publicKey": ...}')
    missing = [k for k in ("jwt", "publicKey")
               if not isinstance(bundle.get(k), str) or not bundle.get(k)]
    if missing:
        raise LicenseMalformed(
            f"the license bundle lacks {' and '.join(missing)} (string expected)")
    try:
        key = serialization.load_pem_public_key(bundle["publicKey"].encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise LicenseMalformed(
            "the bundle's publicKey is not a PEM public key ('-----BEGIN PUBLIC KEY-----')"
        ) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise LicenseMalformed(
            f"the bundle's publicKey is a {type(key).__name__}; RS256 licenses need an RSA key"
        )
    return bundle["jwt"], key


def _as_public_key(key: str | bytes | rsa.RSAPublicKey | rsa.RSAPrivateKey) -> rsa.RSAPublicKey:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key
    loaded = serialization.load_pem_public_key(key.encode("utf-8") if isinstance(key, str) else key)
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise TypeError("trusted_public_key must be an RSA public key")
    return loaded


def _decode(token: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise LicenseMalformed(f"the license JWT cannot be parsed ({exc})") from exc
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise LicenseSignatureInvalid(
            f"the license JWT uses algorithm {alg!r}; Scrydon licenses are signed with "
            f"{ALGORITHM}, "
            "so this token was not issued by the license service"
        )
    try:
        # Time and audience checks are done below against the caller's `now`,
        # with messages that name the claim; PyJWT only checks the signature.
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise LicenseSignatureInvalid(
            "the license signature does not verify against the bundle's public key: the JWT was "
            "modified after signing, or it was signed with a different key than the one bundled"
        ) from exc
    except jwt.DecodeError as exc:
        raise LicenseMalformed(f"the license JWT cannot be decoded ({exc})") from exc
    except jwt.InvalidTokenError as exc:
        raise LicenseSignatureInvalid(f"the license JWT was rejected ({exc})") from exc


_MISSING = object()


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    return claims.get(name, _MISSING)


def _require_str(claims: Mapping[str, Any], name: str, expected: str | None = None) -> str:
    value = _claim(claims, name)
    if value is _MISSING:
        raise LicenseClaimsInvalid(f"the license has no {name!r} claim", claim=name)
    if not isinstance(value, str) or not value:
        raise LicenseClaimsInvalid(
            f"the license claim {name!r} must be a non-empty string, found {value!r}", claim=name
        )
    if expected is not None and value != expected:
        raise LicenseClaimsInvalid(
            f"the license claim {name!r} is {value!r}, expected {expected!r}: "
            "this token is not a Scrydon platform license",
            claim=name,
        )
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_claims(claims: Mapping[str, Any]) -> tuple[datetime, dict[str, int | float]]:
    _require_str(claims, "sub")
    _require_str(claims, "iss", ISSUER)
    aud = _claim(claims, "aud")
    if aud is _MISSING:
        raise LicenseClaimsInvalid("the license has no 'aud' claim", claim="aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if AUDIENCE not in audiences:
        raise LicenseClaimsInvalid(
            f"the license claim 'aud' is {aud!r}, expected {AUDIENCE!r}: "
            "this token is meant for another service",
            claim="aud",
        )
    exp = _claim(claims, "exp")
    if exp is _MISSING:
        raise LicenseClaimsInvalid("the license has no 'exp' claim (expiry)", claim="exp")
    if not _is_number(exp):
        raise LicenseClaimsInvalid(
            f"the license claim 'exp' must be a number of seconds, found {exp!r}", claim="exp"
        )
    try:
        expires_at = datetime.fromtimestamp(exp, tz=timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise LicenseClaimsInvalid(f"the license claim 'exp' is out of range ({exp!r})",
                                   claim="exp") from exc
    _require_str(claims, "jti")
    _require_str(claims, "scrydon.org")
    tier = _claim(claims, "scrydon.tier")
    if tier is _MISSING:
        raise LicenseClaimsInvalid("the license has no 'scrydon.tier' claim", claim="scrydon.tier")
    if tier not in TIERS:
        raise LicenseClaimsInvalid(
            f"the license claim 'scrydon.tier' is {tier!r}; expected one of {', '.join(TIERS)}",
            claim="scrydon.tier",
        )
    ent = _claim(claims, "scrydon.entitlements")
    if ent is _MISSING:
        raise LicenseClaimsInvalid(
            "the license has no 'scrydon.entitlements' claim", claim="scrydon.entitlements"
        )
    if not isinstance(ent, dict):
        raise LicenseClaimsInvalid(
            "the license claim 'scrydon.entitlements' must be an object",
            claim="scrydon.entitlements"
        )
    for key in ENTITLEMENT_KEYS:
        value = ent.get(key, _MISSING)
        name = f"scrydon.entitlements.{key}"
        if value is _MISSING:
            raise LicenseClaimsInvalid(f"the license has no {name!r} entitlement", claim=name)
        if not _is_number(value) or value < 0:
            raise LicenseClaimsInvalid(
                f"the license entitlement {name!r} must be a non-negative number, found {value!r}",
                claim=name,
            )
    return expires_at, {k: ent[k] for k in ENTITLEMENT_KEYS}


def verify_license_bundle(
    bundle_json: str | bytes,
    *,
    now: datetime,
    min_days_left: int = 0,
    trusted_public_key: str | bytes | rsa.RSAPublicKey | rsa.RSAPrivateKey | None = None,
) -> LicenseReport:
    """Verify a license bundle as of ``now`` and return what it grants.

    Checks, in order: bundle shape, RS256 signature (against the bundled key,
    or against ``trusted_public_key`` which the bundled key must then equal),
    the required claims, ``nbf`` if present, expiry, and that at least
    ``min_days_left`` whole days remain (Scrydon wants 90 before an upgrade).
    Raises a :class:`LicenseError` subclass; :class:`LicenseExpired` and
    :class:`LicenseExpiresSoon` carry the report in ``.report``.

    Without ``trusted_public_key`` a valid signature only proves the bundle
    is self-consistent, since anyone can bundle their own key; compare
    ``public_key_fingerprint`` with the known issuer key where that matters.
    """
    token, key = _load_bundle(bundle_json)
    if trusted_public_key is not None:
        trusted = _as_public_key(trusted_public_key)
        if public_key_fingerprint(trusted) != public_key_fingerprint(key):
            raise LicenseSignatureInvalid(
                f"the bundle's public key (SHA-256 {public_key_fingerprint(key)[:16]}...) is not "
                f"the trusted license key ({public_key_fingerprint(trusted)[:16]}...): "
                "the license was not issued by the expected license service"
            )
        key = trusted
    claims = _decode(token, key)
    expires_at, entitlements = _check_claims(claims)

    moment = _utc(now)
    nbf = claims.get("nbf")
    if nbf is not None:
        if not _is_number(nbf):
            raise LicenseClaimsInvalid(
                f"the license claim 'nbf' must be a number, found {nbf!r}", claim="nbf"
            )
        if moment.timestamp() < nbf:
            raise LicenseClaimsInvalid(
                f"the license claim 'nbf' says it is not valid before "
                f"{datetime.fromtimestamp(nbf, tz=timezone.utc).isoformat()}; check the clock",
                claim="nbf",
            )

    days_left = math.floor((expires_at - moment).total_seconds() / _DAY)
    report = LicenseReport(
        claims=dict(claims),
        expires_at=expires_at,
        days_left=days_left,
        org=claims["scrydon.org"],
        tier=claims["scrydon.tier"],
        entitlements=entitlements,
        subject=claims["sub"],
        license_id=claims["jti"],
        public_key_fingerprint=public_key_fingerprint(key),
    )
    when = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if expires_at <= moment:
        ago = math.floor((moment - expires_at).total_seconds() / _DAY)
        raise LicenseExpired(
            f"the license for {report.org!r} ({report.tier}) expired on {when}, {ago} day(s) ago; "
            "a restore brings back the license the backup held, so install a current license",
            report=report,
        )
    if days_left < min_days_left:
        raise LicenseExpiresSoon(
            f"the license for {report.org!r} ({report.tier}) expires on {when}, in {days_left} "
            f"day(s); at least {min_days_left} are required (renew it before upgrading)",
            report=report,
        )
    return report
