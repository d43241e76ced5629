"""Tests for harness.crypto.betterauth (better-auth scrypt password hashes)."""

from __future__ import annotations

import hashlib
import re

import pytest

from harness.crypto.betterauth import MalformedPasswordHash, hash_password, verify_password

SALT = "0123456789abcdef0123456789abcdef"


def reference_key(password: str, salt_hex: str) -> str:
    """Independent computation straight from the documented parameters."""
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt_hex.encode("ascii"),  # the hex string's bytes, not the decoded salt
        n=16384,
        r=16,
        p=1,
        dklen=64,
        maxmem=64 * 1024 * 1024,
    ).hex()


def test_known_answer() -> None:
    stored = hash_password("correct horse battery staple", salt_hex=SALT)
    assert stored == f"{SALT}:{reference_key('correct horse battery staple', SALT)}"


def test_salt_is_hex_string_bytes_not_decoded_bytes() -> None:
    stored = hash_password("pw", salt_hex=SALT)
    decoded_salt_key = hashlib.scrypt(
        b"pw", salt=bytes.fromhex(SALT), n=16384, r=16, p=1, dklen=64, maxmem=64 * 1024 * 1024
    ).hex()
    assert stored.split(":")[1] != decoded_salt_key


def test_format_of_random_salt() -> None:
    stored = hash_password("pw")
    assert re.fullmatch(r"[0-9a-f]{32}:[0-9a-f]{128}", stored)
    assert hash_password("pw") != stored  # fresh salt each time
    assert verify_password(stored, "pw")


def test_nfkc_normalisation() -> None:
    # U+FB01 LATIN SMALL LIGATURE FI normalises (NFKC) to "fi"
    stored = hash_password("\ufb01sh", salt_hex=SALT)
    assert stored == hash_password("fish", salt_hex=SALT)
    assert verify_password(stored, "fish")
    assert verify_password(hash_password("fish", salt_hex=SALT), "\ufb01sh")
    # composed vs decomposed é
    assert verify_password(hash_password("caf\u00e9", salt_hex=SALT), "cafe\u0301")


def test_wrong_password_is_false() -> None:
    stored = hash_password("s3cret!", salt_hex=SALT)
    assert verify_password(stored, "s3cret!") is True
    assert verify_password(stored, "s3cret?") is False
    assert verify_password(stored, "") is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plaintext-password",
        "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        f"{SALT}:{'ab' * 32}",  # key too short
        f"{SALT[:-2]}:{'ab' * 64}",  # salt too short
        f"{SALT}:{'zz' * 64}",  # not hex
        f"{SALT}:{'ab' * 64}:extra",
        f"{SALT}{'ab' * 64}",  # no separator
    ],
)
def test_malformed_hash_raises(stored: str) -> None:
    with pytest.raises(MalformedPasswordHash):
        verify_password(stored, "anything")


def test_malformed_message_names_bcrypt() -> None:
    with pytest.raises(MalformedPasswordHash, match="bcrypt"):
        verify_password("$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "x")


def test_none_stored_raises() -> None:
    with pytest.raises(MalformedPasswordHash, match="no stored password"):
        verify_password(None, "x")  # type: ignore[arg-type]


def test_bad_salt_argument() -> None:
    with pytest.raises(ValueError):
        hash_password("pw", salt_hex="XYZ")
    with pytest.raises(ValueError):
        hash_password("pw", salt_hex=SALT.upper())
