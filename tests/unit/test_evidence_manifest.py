"""Tamper evidence: the manifest, its signature and ``scrydon-drill verify-evidence``."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.cli import main
from harness.errors import ConfigError
from harness.evidence.manifest import (
    MANIFEST,
    SIGNATURE,
    load_private_key,
    load_public_key,
    public_key_text,
    verify_folder,
)
from harness.evidence.reports import REPORTS, write_reports
from tests.sample_record import sample_record


@pytest.fixture()
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    write_reports(sample_record(failing=True), out)
    return out


@pytest.fixture()
def signed(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    out = tmp_path / "signed"
    write_reports(sample_record(), out, signing_key=key)
    return out


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def test_untouched_folder_verifies(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = verify_folder(folder)
    assert result.ok, result.problems
    assert len(result.checked) == len(REPORTS)
    assert main(["verify-evidence", str(folder)]) == 0
    assert "verified: 5 artefacts" in capsys.readouterr().out


@pytest.mark.parametrize("name", [*REPORTS, MANIFEST])
@pytest.mark.parametrize("where", [0, 1 / 2, -1])
def test_one_changed_byte_anywhere_fails(folder: Path, name: str, where: float,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / name
    size = path.stat().st_size
    _flip(path, int(where * size) if where >= 0 else size - 1)
    assert not verify_folder(folder).ok
    assert main(["verify-evidence", str(folder)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_every_byte_of_the_manifest_matters(folder: Path) -> None:
    original = (folder / MANIFEST).read_bytes()
    # Every 7th byte: each single flip must be caught, whatever the byte belongs to.
    for offset in range(0, len(original), 7):
        _flip(folder / MANIFEST, offset)
        assert not verify_folder(folder).ok, f"flip at {offset} not detected"
        (folder / MANIFEST).write_bytes(original)
    assert verify_folder(folder).ok


def test_added_removed_and_renamed_files_fail(folder: Path) -> None:
    (folder / "extra.txt").write_text("added later")
    assert any("not in the manifest" in p for p in verify_folder(folder).problems)
    (folder / "extra.txt").unlink()
    (folder / "summary.md").rename(folder / "summary.txt")
    problems = verify_folder(folder).problems
    assert any("summary.md: missing" in p for p in problems)
    assert any("summary.txt: not in the manifest" in p for p in problems)


def test_missing_manifest_and_forged_digest_fail(folder: Path) -> None:
    doc = json.loads((folder / MANIFEST).read_text())
    doc["files"][0]["sha256"] = "0" * 64
    (folder / MANIFEST).write_text(json.dumps(doc, sort_keys=True, indent=2) + "\n")
    assert any("own digest" in p for p in verify_folder(folder).problems)
    (folder / MANIFEST).unlink()
    assert "missing" in verify_folder(folder).problems[0]


def test_signed_folder_verifies_with_the_pinned_key(signed: Path, key: Ed25519PrivateKey,
                                                     tmp_path: Path) -> None:
    assert (signed / SIGNATURE).exists()
    result = verify_folder(signed, public_key=key.public_key(), require_signature=True)
    assert result.ok, result.problems
    assert result.signature.startswith("valid") and "pinned" in result.signature
    pub = tmp_path / "pub.pem"
    pub.write_text(public_key_text(key))
    assert main(["verify-evidence", str(signed), "--public-key", str(pub)]) == 0


def test_signature_byte_change_or_resigning_with_another_key_fails(
        signed: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(signed, copy)
    _flip(copy / SIGNATURE, 3)
    assert not verify_folder(copy).ok
    # An attacker edits a report and re-writes a manifest signed with their own key: only the
    # pinned key tells.
    (signed / "summary.md").write_text("all good")
    write_reports_manifest_only(signed, Ed25519PrivateKey.generate())
    assert verify_folder(signed).ok  # consistent, but...
    pinned = verify_folder(signed, public_key=key.public_key())
    assert not pinned.ok and any("not with the trusted key" in p for p in pinned.problems)


def write_reports_manifest_only(folder: Path, key: Ed25519PrivateKey) -> None:
    from harness.evidence.manifest import write_manifest

    run_id = json.loads((folder / "evidence.json").read_text())["run_id"]
    write_manifest(folder, run_id, "2026-01-01T00:00:00+00:00", key)


def test_unsigned_folder_fails_when_a_signature_is_required(folder: Path, key: Ed25519PrivateKey
                                                            ) -> None:
    assert not verify_folder(folder, require_signature=True).ok
    assert not verify_folder(folder, public_key=key.public_key()).ok
    (folder / SIGNATURE).write_text("AAAA\n")
    assert any("declares no signature" in p for p in verify_folder(folder).problems)


def test_keys_load_from_pem_base64_hex_and_raw(key: Ed25519PrivateKey) -> None:
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub_raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    for material in (pem, base64.b64encode(seed), seed.hex().encode(), seed):
        loaded = load_private_key(material)
        assert loaded.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw) == pub_raw
    assert load_public_key(public_key_text(key)).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == pub_raw
    with pytest.raises(ConfigError, match="Ed25519"):
        load_private_key("too short")


def test_verify_of_a_non_folder_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-evidence", str(tmp_path / "nope")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_evidence_breaking_its_schema_fails_even_with_a_matching_manifest(folder: Path) -> None:
    from harness.evidence.manifest import write_manifest

    data = json.loads((folder / "evidence.json").read_text())
    data["verdict"] = "green"
    (folder / "evidence.json").write_text(json.dumps(data))
    write_manifest(folder, data["run_id"], data["started_at"])
    assert any("breaks its schema" in p for p in verify_folder(folder).problems)
