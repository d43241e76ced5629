"""better-auth password hashes, as stored in ``account.password``.

Format (better-auth 1.x, ``hashPassword`` in ``better-auth/crypto``):
``"<salt>:<key>"`` where ``salt`` is 16 random bytes as 32 lowercase hex
characters and ``key`` is scrypt(N=16384, r=16, p=1, dkLen=64) of the
NFKC-normalised password, as 128 hex characters. The scrypt salt is the hex
*string's* bytes, not the 16 bytes it encodes.

The drill uses this to prove that restored credential accounts still accept
their known passwords without going through the HTTP sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata

__all__ = [
    "SCRYPT_DKLEN",
    "SCRYPT_MAXMEM",
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "MalformedPasswordHash",
    "hash_password",
    "verify_password",
]

SCRYPT_N = 16384
SCRYPT_R = 16
SCRYPT_P = 1
SCRYPT_DKLEN = 64
# These parameters need 128 * r * N = 32 MiB; OpenSSL's default limit is lower.
SCRYPT_MAXMEM = 64 * 1024 * 1024

_SALT_RE = re.compile(r"[0-9a-f]{32}")
_STORED_RE = re.compile(r"([0-9a-fA-F]{32}):([0-9a-fA-F]{128})")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class MalformedPasswordHash(ValueError):
    """The stored value is not a better-auth scrypt hash."""


def _password_bytes(password: str) -> bytes:
    normalised = unicodedata.normalize("NFKC", password)
    # better-auth encodes with JavaScript's TextEncoder, which turns lone
    # surrogates into U+FFFD instead of failing like Python's strict UTF-8.
    return _SURROGATE_RE.sub("\ufffd", normalised).encode("utf-8")


def _derive(password: str, salt: str) -> bytes:
    return hashlib.scrypt(
        _password_bytes(password),
        salt=salt.encode("ascii"),
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=SCRYPT_DKLEN,
        maxmem=SCRYPT_MAXMEM,
    )


def hash_password(password: str, *, salt_hex: str | None = None) -> str:
    """Hash ``password`` exactly as better-auth's ``hashPassword`` does.

    ``salt_hex`` (32 lowercase hex characters) makes the result deterministic;
    by default 16 fresh random bytes are used.
    """
    if salt_hex is None:
        salt_hex = os.urandom(16).hex()
    elif not _SALT_RE.fullmatch(salt_hex):
        raise ValueError("salt_hex must be 32 lowercase hex characters (16 bytes)")
    return f"{salt_hex}:{_derive(password, salt_hex).hex()}"


def _describe_foreign_hash(stored: str) -> str:
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        return " (it looks like a bcrypt hash)"
    if stored.startswith("$argon2"):
        return " (it looks like an argon2 hash)"
    if stored.startswith("$scrypt$") or stored.startswith("scrypt:"):
        return " (it is an scrypt hash in another library's format)"
    return ""


def verify_password(stored: str, password: str) -> bool:
    """Return whether ``password`` matches the better-auth hash ``stored``.

    A wrong password gives False; a ``stored`` value that is not in
    better-auth's ``"<32 hex salt>:<128 hex key>"`` format raises
    :class:`MalformedPasswordHash`, so that "wrong password" and "this is
    not a better-auth hash" (e.g. a column restored from the wrong system)
    are told apart. The comparison is constant-time.
    """
    if not isinstance(stored, str) or not stored:
        raise MalformedPasswordHash(
            "no password hash: the account has no stored password (not a 'credential' account?)"
        )
    match = _STORED_RE.fullmatch(stored)
    if match is None:
        raise MalformedPasswordHash(
            f"not a better-auth password hash{_describe_foreign_hash(stored)}: expected "
            "'<32 hex salt>:<128 hex key>', got a "
            f"{len(stored)}-character value"
        )
    salt, key_hex = match.groups()
    return hmac.compare_digest(_derive(password, salt), bytes.fromhex(key_hex))
