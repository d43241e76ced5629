"""The ``master-key`` Kubernetes Secret: how a backup of it is read, and how Dapr reads its key.

The runbook captures the Secret with ``kubectl get secret master-key -o yaml`` minus the
server fields. Dapr's Kubernetes-secrets crypto component reads the Secret's value (after
Kubernetes' base64) as a JWK when it looks like JSON, refuses PEM, and otherwise tries
unpadded standard then URL-safe base64 before falling back to the raw bytes. A key stored as
64 hex characters therefore decodes to 48 bytes: a real misconfiguration the drill names.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from harness.crypto.dapr import (
    DaprCryptoError,
    InvalidKeyError,
    UnsupportedError,
    describe_kek_problem,
)


class MasterKeyBackupError(DaprCryptoError):
    """A backup of the ``master-key`` Secret is unusable."""


_STD_B64 = re.compile(rb"[A-Za-z0-9+/]*")
_URL_B64 = re.compile(rb"[A-Za-z0-9_-]*")


def _go_raw_b64decode(data: bytes, alphabet: re.Pattern[bytes],
                      altchars: bytes | None) -> bytes | None:
    """Decode unpadded base64 like Go's ``base64.RawStdEncoding/RawURLEncoding``.

    Go skips CR and LF anywhere, rejects any other byte outside the alphabet
    (including '='), rejects a length of 1 mod 4, and ignores non-zero
    trailing bits. Returns None where Go returns an error.
    """
    data = data.replace(b"\r", b"").replace(b"\n", b"")
    if not alphabet.fullmatch(data) or len(data) % 4 == 1:
        return None
    padded = data + b"=" * (-len(data) % 4)
    try:
        if altchars:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64url_lenient(value: str) -> bytes | None:
    raw = value.encode("ascii", "replace").rstrip(b"=")
    for pattern, alt in ((_URL_B64, b"-_"), (_STD_B64, None)):
        decoded = _go_raw_b64decode(raw, pattern, alt)
        if decoded is not None:
            return decoded
    return None


def _parse_jwk(value: bytes) -> bytes:
    try:
        jwk = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidKeyError(
            f"the key starts with '{{' so Dapr parses it as a JWK, but it is not valid JSON ({exc})"
        ) from exc
    if not isinstance(jwk, dict):
        raise InvalidKeyError("the key starts with '{' but is not a JSON object (JWK)")
    if "keys" in jwk and "kty" not in jwk:
        raise InvalidKeyError("the key is a JWK Set; Dapr's Kubernetes-secrets component wants "
                              "a single JWK")
    kty = jwk.get("kty")
    if kty != "oct":
        raise UnsupportedError(
            f"the key is a JWK of type {kty!r}; only symmetric keys (kty 'oct') are supported "
            "here, and the master key must be a 32-byte symmetric key"
        )
    k = jwk.get("k")
    if not isinstance(k, str) or not k:
        raise InvalidKeyError("the oct JWK has no 'k' member")
    decoded = _b64url_lenient(k)
    if decoded is None:
        raise InvalidKeyError("the oct JWK's 'k' member is not valid base64url")
    return decoded


def parse_k8s_secret_key(value: bytes) -> bytes:
    """Turn a Secret data value into key bytes as Dapr's Kubernetes-secrets component does.

    ``value`` is the data value after Kubernetes' own base64 has been removed.
    A value starting with ``{`` (unless 16, 24 or 32 bytes long) is a JWK;
    one starting with ``-----`` is PEM (not supported here); anything else has
    trailing newlines and ``=`` stripped and is tried as unpadded standard
    base64, then unpadded URL-safe base64, and otherwise taken as raw bytes.

    Note the consequence: a 64-character hex key is valid base64 and yields
    48 bytes, which A256KW rejects.
    """
    value = bytes(value)
    if not value:
        raise InvalidKeyError("the Secret value is empty (Dapr reports this as 'key not found')")
    if value[:1] == b"{" and len(value) not in (16, 24, 32):
        return _parse_jwk(value)
    if len(value) > 10 and value[:5] == b"-----":
        raise UnsupportedError(
            "the key is PEM-encoded (an RSA/EC key or certificate); the harness only handles "
            "symmetric master keys. Scrydon's LOCAL strategy expects a 32-byte AES key"
        )
    trimmed = value.rstrip(b"\n=")
    for pattern, alt in ((_STD_B64, None), (_URL_B64, b"-_")):
        decoded = _go_raw_b64decode(trimmed, pattern, alt)
        if decoded is not None:
            return decoded
    return value


@dataclass(frozen=True)
class MasterKeyBackup:
    """A parsed backup of the ``master-key`` Kubernetes Secret."""

    name: str
    namespace: str | None
    data_key: str
    raw_value: bytes
    """The Secret's value after Kubernetes' base64, before Dapr's parsing."""
    key: bytes
    """The key bytes Dapr would use (see :func:`parse_k8s_secret_key`)."""

    @property
    def dapr_key_name(self) -> str:
        """The key name Dapr uses for this key (``<secret>/<data key>``)."""
        return f"{self.name}/{self.data_key}"

    def kek_problem(self) -> str | None:
        """Explain why the key cannot serve as an A256KW KEK, or None when its size is right."""
        return describe_kek_problem(self.key)


def _pick_secret(doc: Any, expected_name: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise MasterKeyBackupError(
            "the backup is not a YAML mapping (expected a Kubernetes Secret)")
    kind = doc.get("kind")
    if kind == "List":
        items = doc.get("items") or []
        matches = [
            it
            for it in items
            if isinstance(it, dict)
            and it.get("kind") == "Secret"
            and isinstance(it.get("metadata"), dict)
            and it["metadata"].get("name") == expected_name
        ]
        if len(matches) != 1:
            raise MasterKeyBackupError(
                f"the backup is a List with {len(matches)} Secrets named {expected_name!r}; "
                f"export it with `kubectl get secret {expected_name} -o yaml`"
            )
        doc = matches[0]
        kind = "Secret"
    if kind != "Secret" or doc.get("apiVersion") != "v1":
        raise MasterKeyBackupError(
            f"the backup is not a v1 Secret (apiVersion={doc.get('apiVersion')!r}, kind={kind!r})"
        )
    secret: dict[str, Any] = doc
    return secret


def _parse_yaml(yaml_text: str) -> Any:
    """The YAML document; an error names the position only, never the offending line."""
    try:
        # BaseLoader keeps every scalar a string: an unquoted base64 value such
        # as 0123 must not turn into a number.
        return yaml.load(yaml_text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        # PyYAML's message quotes the line it stopped at, which may be the key itself.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = (f"at line {mark.line + 1}, column {mark.column + 1}" if mark is not None
                 else "at an unknown position")
        raise MasterKeyBackupError(
            f"the backup is not valid YAML ({where}; a tab where a space belongs is a common "
            "cause); its content is not shown because it holds the key") from None


# Keys of a Secret whose values are not secret; any other long token may be key material.
_PUBLIC_FIELDS = frozenset({"apiVersion", "kind", "name", "namespace", "type", "uid",
                            "resourceVersion", "creationTimestamp", "generateName"})
_TOKEN_LINE = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-/]+)\s*:\s*[\"']?([A-Za-z0-9+/=_\-]{16,})")


def secret_material(yaml_text: str, data_key: str | None = None, *,
                    expected_name: str = "master-key") -> dict[str, str | bytes]:
    """Every value of a master-key backup that must never reach a report, by label.

    A backup that parses yields the key, the Secret's value and its base64 text. One that
    does not (a hand edit gone wrong) still holds the key somewhere: every long token of the
    file outside the Secret's public fields counts, with its base64 decoding.
    """
    out: dict[str, str | bytes] = {}
    try:
        backup = load_master_key_backup(yaml_text, data_key, expected_name=expected_name)
    except DaprCryptoError:
        backup = None
    if backup is not None:
        out["master key"] = backup.key
        out["master-key Secret value"] = backup.raw_value
        out["master-key Secret data"] = base64.b64encode(backup.raw_value).decode()
        return out
    for i, line in enumerate(yaml_text.splitlines(), start=1):
        m = _TOKEN_LINE.match(line)
        if not m or m.group(1) in _PUBLIC_FIELDS:
            continue
        token = m.group(2)
        out[f"master-key backup line {i}"] = token
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(decoded) >= 8:
            out[f"master-key backup line {i} (decoded)"] = decoded
            key = parse_k8s_secret_key(decoded)
            if key != decoded and len(key) >= 8:
                out[f"master-key backup line {i} (key)"] = key
    return out


def load_master_key_backup(
    yaml_text: str,
    data_key: str | None = None,
    *,
    expected_name: str = "master-key",
) -> MasterKeyBackup:
    """Parse a ``kubectl get secret master-key -o yaml`` backup.

    ``data_key`` selects the entry under ``data``; it may be omitted when the
    Secret has exactly one. Raises :class:`MasterKeyBackupError` with the
    reason when the backup cannot give a key.
    """
    doc = _parse_yaml(yaml_text)
    doc = _pick_secret(doc, expected_name)

    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise MasterKeyBackupError("the Secret has no metadata")
    name = metadata.get("name")
    if name != expected_name:
        raise MasterKeyBackupError(
            f"the Secret is named {name!r}, expected {expected_name!r}: wrong file backed up?"
        )
    namespace = metadata.get("namespace") or None
    secret_type = doc.get("type", "Opaque")
    if secret_type != "Opaque":
        raise MasterKeyBackupError(f"the Secret has type {secret_type!r}, expected 'Opaque'")

    data = doc.get("data")
    if not data:
        if doc.get("stringData"):
            raise MasterKeyBackupError(
                "the Secret has stringData but no data: this is a hand-written manifest, not a "
                f"backup taken from the cluster (`kubectl get secret {expected_name} -o yaml` "
                "always returns data)"
            )
        raise MasterKeyBackupError("the Secret has no data entries")
    if not isinstance(data, dict):
        raise MasterKeyBackupError("the Secret's data is not a mapping")
    if data_key is None:
        if len(data) != 1:
            raise MasterKeyBackupError(
                f"the Secret has several data keys ({', '.join(sorted(data))}); choose one"
            )
        data_key = next(iter(data))
    elif data_key not in data:
        raise MasterKeyBackupError(
            f"the Secret has no data key {data_key!r} (it has: {', '.join(sorted(data))})"
        )
    encoded = data[data_key]
    if not isinstance(encoded, str):
        raise MasterKeyBackupError(f"data.{data_key} is not a string")
    try:
        raw_value = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MasterKeyBackupError(
            f"data.{data_key} is not valid base64 ({exc}); Kubernetes always base64-encodes data"
        ) from exc
    if not raw_value:
        raise MasterKeyBackupError(f"data.{data_key} is empty; Dapr would report 'key not found'")
    try:
        key = parse_k8s_secret_key(raw_value)
    except DaprCryptoError as exc:
        raise MasterKeyBackupError(f"data.{data_key} does not hold a usable key: {exc}") from exc
    return MasterKeyBackup(
        name=name, namespace=namespace, data_key=data_key, raw_value=raw_value, key=key
    )


def dump_master_key_backup(
    key: bytes,
    namespace: str = "scrydon-platform",
    data_key: str = "key",
    encode: Literal["raw", "base64", "hex"] = "raw",
    *,
    name: str = "master-key",
) -> str:
    """Render a ``master-key`` Secret backup as ``kubectl get -o yaml`` would (minus server fields).

    ``encode`` says what the Secret's value holds before Kubernetes' own
    base64: the raw key bytes, their base64 text, or their hex text. "hex"
    reproduces a real misconfiguration (Dapr then reads 48 bytes).
    """
    if encode == "raw":
        value = bytes(key)
    elif encode == "base64":
        value = base64.b64encode(key)
    elif encode == "hex":
        value = key.hex().encode("ascii")
    else:
        raise ValueError(f"encode must be 'raw', 'base64' or 'hex', not {encode!r}")
    doc = {
        "apiVersion": "v1",
        "data": {data_key: base64.b64encode(value).decode("ascii")},
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
