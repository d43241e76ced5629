"""secrets.decrypt with real Dapr ciphertexts: right key, wrong key, hex key, tampering."""

from __future__ import annotations

import os

from harness.checks.secrets import SecretRow, check_secrets, classify
from harness.crypto import dapr, masterkey

KEY = os.urandom(32)
NAME = "master-key/key"
PLAINTEXTS = {f"sec_{i}": f"sk-provider-{i}-{os.urandom(6).hex()}".encode() for i in range(4)}


def backup(key: bytes = KEY, encode: str = "raw") -> masterkey.MasterKeyBackup:
    return masterkey.load_master_key_backup(masterkey.dump_master_key_backup(key, encode=encode))  # type: ignore[arg-type]


def rows(key: bytes = KEY) -> list[SecretRow]:
    return [SecretRow(sid, NAME, dapr.encrypt(p, key, NAME)) for sid, p in PLAINTEXTS.items()]


def never_leaks(text: str) -> None:
    for p in PLAINTEXTS.values():
        assert p.decode() not in text
    assert KEY.hex() not in text


def test_every_secret_decrypts_with_the_right_key() -> None:
    out = check_secrets(rows(), backup(), None, min_secrets=1)
    assert out.ok and out.measured == {"secrets": 4, "decrypted": 4, "failed": 0}
    never_leaks(out.message)


def test_a_key_from_another_cluster_names_the_rows_and_the_cause() -> None:
    out = check_secrets(rows(), backup(os.urandom(32)), None, min_secrets=1)
    assert not out.ok and out.measured["wrong_key"] == 4
    assert "sec_0, sec_1, sec_2, sec_3" in out.message and "not the key" in out.message
    assert "restore the master-key backup taken from this platform" in (out.remedy or "")
    never_leaks(out.message)


def test_a_hex_encoded_key_is_recognised() -> None:
    out = check_secrets(rows(), backup(encode="hex"), None, min_secrets=1)
    assert not out.ok and "hex" in out.message and "48 bytes" in out.message
    assert "never as hex" in (out.remedy or "")
    assert check_secrets(rows(), backup(encode="base64"), None, min_secrets=1).ok


def test_no_key_backup_makes_every_secret_unrecoverable() -> None:
    out = check_secrets(rows(), None, "no master-key backup was found in the backup source",
                        min_secrets=1)
    assert not out.ok and "no master-key backup was found" in out.message
    assert "all 4 encrypted secrets are unrecoverable" in out.message
    assert "kubectl get secret master-key" in (out.remedy or "")


def test_tampered_and_truncated_ciphertexts_are_told_apart() -> None:
    good = rows()
    body = bytearray(good[0].ciphertext)
    body[-1] ^= 0x01  # a payload byte: the segment's tag no longer matches
    header = bytearray(good[1].ciphertext)
    header[header.index(b'"np":"') + 7] ^= 0x01  # the manifest: the header MAC no longer matches
    tampered = [SecretRow("sec_0", NAME, bytes(body)), SecretRow("sec_1", NAME, bytes(header)),
                SecretRow("sec_2", NAME, good[2].ciphertext[:40]), good[3]]
    out = check_secrets(tampered, backup(), None, min_secrets=1)
    assert not out.ok and out.measured["decrypted"] == 1
    assert out.measured["tampered"] + out.measured["malformed"] == 3
    assert "sec_0" in out.message and "modified or corrupted" in out.message
    assert classify(tampered[0], backup()) == "tampered"
    assert classify(tampered[2], backup()) == "malformed"


def test_a_row_naming_another_key_and_too_few_rows() -> None:
    other = [SecretRow("sec_9", "other-key/key", dapr.encrypt(b"x", KEY, "other-key/key"))]
    out = check_secrets(other, backup(), None, min_secrets=1)
    assert not out.ok and "different Dapr key" in out.message
    assert classify(SecretRow("s", None, dapr.encrypt(b"x", KEY, NAME)), backup()) is None
    none = check_secrets([], backup(), None, min_secrets=1)
    assert not none.ok and "0 encrypted secrets" in none.message
