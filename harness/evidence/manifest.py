"""Tamper evidence: a manifest of SHA-256 hashes of every artefact, optionally Ed25519-signed.

``manifest.json`` lists every file of a report folder with its size and SHA-256 and carries
the SHA-256 of its own canonical body, so any changed, missing or added byte is detected.
That alone proves integrity against accidents; against tampering, the manifest is signed
(``manifest.sig``: the base64 Ed25519 signature of ``manifest.json``'s bytes) and the
verifier pins the public key it trusts (``verify-evidence --public-key``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = "scrydon-drill-manifest/1"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _canonical(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode()


def _artefacts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.relative_to(folder).as_posix() not in (MANIFEST, SIGNATURE))


def _decode_key_material(data: bytes) -> bytes:
    """32 key bytes from hex, base64 or raw data."""
    stripped = data.strip()
    decoders: tuple[Callable[[bytes], bytes], ...] = (
        lambda s: bytes.fromhex(s.decode("ascii")),
        lambda s: base64.b64decode(s, validate=True),
        base64.urlsafe_b64decode)
    for decode in decoders:
        try:
            raw = decode(stripped)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            continue
        if len(raw) == 32:
            return raw
    if len(data) == 32:
        return data
    raise ValueError("expected a PEM key or 32 bytes (raw, base64 or hex)")


def load_private_key(material: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8) or the 32-byte seed (raw, base64 or hex)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = material.encode() if isinstance(material, str) else material
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"the PEM key is {type(key).__name__}, not Ed25519")
            return key
        return Ed25519PrivateKey.from_private_bytes(_decode_key_material(data))
    except ValueError as exc:
        raise ConfigError(f"the evidence signing key is not a usable Ed25519 private key: {exc}",
                          remedy="create one with 'openssl genpkey -algorithm ed25519 -out "
                          "evidence-key.pem' and set evidence.sign_key_file") from exc


def load_public_key(material: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or 32 raw bytes (base64/hex)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = material.encode() if isinstance(material, str) else material
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"the PEM key is {type(key).__name__}, not Ed25519")
            return key
        return Ed25519PublicKey.from_public_bytes(_decode_key_material(data))
    except ValueError as exc:
        raise ConfigError(f"not a usable Ed25519 public key: {exc}",
                          remedy="derive it with 'openssl pkey -in evidence-key.pem -pubout'"
                          ) from exc


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The PEM text of a key's public half (to hand to verifiers)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def write_manifest(folder: Path, run_id: str, created_at: str,
                   signing_key: Ed25519PrivateKey | None = None) -> list[Path]:
    """Hash every file of ``folder`` into manifest.json (and sign it); returns files written."""
    files = [{"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size,
              "sha256": sha256_file(p)} for p in _artefacts(folder)]
    body: dict[str, Any] = {"format": FORMAT, "run_id": run_id, "created_at": created_at,
                            "algorithm": "sha256", "files": files, "signature": None}
    if signing_key is not None:
        pub = signing_key.public_key()
        body["signature"] = {"algorithm": "ed25519", "file": SIGNATURE, "key_id": key_id(pub),
                             "public_key": base64.b64encode(_raw_public(pub)).decode()}
    body["digest"] = hashlib.sha256(_canonical(body)).hexdigest()
    data = _canonical(body)
    (folder / MANIFEST).write_bytes(data)
    written = [folder / MANIFEST]
    sig_path = folder / SIGNATURE
    if signing_key is not None:
        sig_path.write_text(base64.b64encode(signing_key.sign(data)).decode() + "\n")
        written.append(sig_path)
    elif sig_path.exists():
        sig_path.unlink()  # a stale signature of an earlier manifest would not verify
    return written


@dataclass
class Verification:
    """The outcome of checking a report folder."""

    folder: str
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # one line per artefact that matched
    signature: str = "unsigned"  # unsigned | valid (key <id>) | invalid

    @property
    def ok(self) -> bool:
        """True when nothing changed and every signature present is valid."""
        return not self.problems

    def report(self) -> str:
        """Human-readable result: what was checked, what was found, what to do."""
        lines = [f"  ok       {line}" for line in self.checked]
        lines += [f"  PROBLEM  {p}" for p in self.problems]
        if self.ok:
            lines.append(f"verified: {len(self.checked)} artefacts in {self.folder} are unchanged;"
                         f" signature: {self.signature}")
        else:
            lines.append(f"FAILED: {self.folder} does not match its manifest "
                         f"({len(self.problems)} problem(s)); treat this evidence as altered and "
                         "use the published copy or re-run the drill")
        return "\n".join(lines)


def verify_folder(folder: str | Path, *, public_key: Ed25519PublicKey | None = None,
                  require_signature: bool = False, check_schema: bool = True) -> Verification:
    """Check a report folder against its manifest (and signature); never raises for content."""
    root = Path(folder)
    result = Verification(folder=str(root))
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        result.problems.append(f"{MANIFEST} is missing: not a report folder, or the manifest "
                               "was removed")
        return result
    data = manifest_path.read_bytes()
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        result.problems.append(f"{MANIFEST} is not valid JSON ({exc}): it was altered")
        return result
    if doc.get("format") != FORMAT:
        result.problems.append(f"{MANIFEST} has format {doc.get('format')!r}, expected {FORMAT}")
        return result
    if _canonical(doc) != data:
        result.problems.append(f"{MANIFEST} is not byte-for-byte as written: it was edited")
    body = {k: v for k, v in doc.items() if k != "digest"}
    if hashlib.sha256(_canonical(body)).hexdigest() != doc.get("digest"):
        result.problems.append(f"{MANIFEST}: its content does not match its own digest: "
                               "it was edited")

    listed: set[str] = set()
    for entry in doc.get("files", []):
        rel = str(entry.get("path", ""))
        pure = PurePosixPath(rel)
        if not rel or pure.is_absolute() or ".." in pure.parts:
            result.problems.append(f"{MANIFEST} lists an unsafe path {rel!r}")
            continue
        listed.add(rel)
        path = root / rel
        if not path.is_file():
            result.problems.append(f"{rel}: missing (the manifest lists it)")
            continue
        size, digest = path.stat().st_size, sha256_file(path)
        if digest != entry.get("sha256"):
            result.problems.append(f"{rel}: changed — sha256 {digest}, manifest says "
                                   f"{entry.get('sha256')} (size {size}, manifest says "
                                   f"{entry.get('size')})")
        else:
            result.checked.append(f"{rel}  sha256 {digest}  {size} bytes")
    for path in _artefacts(root):
        rel = path.relative_to(root).as_posix()
        if rel not in listed:
            result.problems.append(f"{rel}: not in the manifest (added after the run)")

    _verify_signature(root, doc, data, result, public_key, require_signature)
    if check_schema and "evidence.json" in listed and (root / "evidence.json").is_file():
        _verify_evidence(root, doc, result)
    return result


def _verify_signature(root: Path, doc: dict[str, Any], data: bytes, result: Verification,
                      public_key: Ed25519PublicKey | None, require_signature: bool) -> None:
    from cryptography.exceptions import InvalidSignature

    declared = doc.get("signature")
    sig_path = root / SIGNATURE
    if not declared:
        if sig_path.exists():
            result.problems.append(f"{SIGNATURE} exists but the manifest declares no signature")
        if require_signature or public_key is not None:
            result.problems.append("the manifest is not signed, but a signature was required")
        return
    if not sig_path.is_file():
        result.problems.append(f"{SIGNATURE} is missing: the manifest declares a signature")
        result.signature = "invalid"
        return
    try:
        embedded = load_public_key(base64.b64decode(str(declared.get("public_key", ""))))
    except (ConfigError, binascii.Error) as exc:
        result.problems.append(f"the manifest's public key is unusable: {exc}")
        result.signature = "invalid"
        return
    key = embedded
    if public_key is not None:
        if _raw_public(public_key) != _raw_public(embedded):
            result.problems.append(f"signed with key {key_id(embedded)}, not with the trusted key "
                                   f"{key_id(public_key)}")
        key = public_key
    try:
        signature = base64.b64decode(sig_path.read_bytes().strip(), validate=True)
        key.verify(signature, data)
    except (InvalidSignature, binascii.Error, ValueError):
        result.problems.append(f"{SIGNATURE}: the Ed25519 signature does not match "
                               f"{MANIFEST} (key {key_id(key)})")
        result.signature = "invalid"
        return
    pinned = "pinned" if public_key is not None else "embedded; pass --public-key to pin it"
    result.signature = f"valid (Ed25519 key {key_id(key)}, {pinned})"


def _verify_evidence(root: Path, doc: dict[str, Any], result: Verification) -> None:
    from harness.evidence.jsonreport import schema_errors

    try:
        evidence = json.loads((root / "evidence.json").read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        result.problems.append(f"evidence.json is not valid JSON: {exc}")
        return
    for error in schema_errors(evidence)[:10]:
        result.problems.append(f"evidence.json breaks its schema: {error}")
    if isinstance(evidence, dict) and evidence.get("run_id") != doc.get("run_id"):
        result.problems.append(f"evidence.json is for run {evidence.get('run_id')!r}, the "
                               f"manifest for {doc.get('run_id')!r}")
