"""Dapr's ``dapr.io/enc/v1`` encryption scheme (the Secret holding its key: :mod:`masterkey`).

Scrydon's LOCAL secrets strategy stores ciphertexts produced by the Dapr crypto
building block in PostgreSQL; the key-encryption key (KEK) lives in the
``master-key`` Kubernetes Secret. A restore is only useful if the restored
ciphertexts decrypt under the restored key, so the drill decrypts samples
itself. This module implements the format:

.. code-block:: text

    dapr.io/enc/v1\\n
    <compact JSON manifest>\\n
    <std base64 of HMAC-SHA256 over the two lines above>\\n
    <segment 0><segment 1>...

Only the A256KW key wrap (``kw`` = 1) is implemented for a KEK given as bytes;
both payload ciphers (AES-256-GCM and ChaCha20-Poly1305) are supported.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

__all__ = [
    "CIPHER_AES_GCM",
    "CIPHER_CHACHA20_POLY1305",
    "KW_A256KW",
    "SCHEME",
    "SEGMENT_SIZE",
    "DaprCryptoError",
    "DaprHeader",
    "HeaderMacMismatch",
    "InvalidKeyError",
    "KeyUnwrapFailed",
    "MalformedCiphertext",
    "SegmentAuthFailed",
    "UnsupportedError",
    "decrypt",
    "describe_kek_problem",
    "encrypt",
    "read_header",
]

SCHEME = "dapr.io/enc/v1"
SEGMENT_SIZE = 64 * 1024
TAG_SIZE = 16
ENCRYPTED_SEGMENT_SIZE = SEGMENT_SIZE + TAG_SIZE
FILE_KEY_SIZE = 32
NONCE_PREFIX_SIZE = 7
KEK_SIZE = 32

KW_A256KW = 1
CIPHER_AES_GCM = 1
CIPHER_CHACHA20_POLY1305 = 2

# Names Dapr gives the numeric ids; used to make error messages readable.
KEY_WRAP_NAMES = {
    1: "A256KW",
    2: "A128CBC-NOPAD",
    3: "A192CBC-NOPAD",
    4: "A256CBC-NOPAD",
    5: "RSA-OAEP-256",
}
CIPHER_NAMES = {1: "AES-GCM", 2: "CHACHA20-POLY1305"}

_MAGIC_LINE = SCHEME.encode("ascii") + b"\n"
# Dapr refuses headers longer than one segment; so do we.
_MAX_HEADER = SEGMENT_SIZE


# --------------------------------------------------------------------------- errors


class DaprCryptoError(Exception):
    """Base class of every error raised by this module."""


class MalformedCiphertext(DaprCryptoError):
    """The bytes are not a well-formed ``dapr.io/enc/v1`` ciphertext."""


class UnsupportedError(DaprCryptoError):
    """A valid construct that this harness does not implement."""


class InvalidKeyError(DaprCryptoError):
    """Key material that cannot be used at all (empty, wrong size, bad JWK)."""


class KeyUnwrapFailed(DaprCryptoError):
    """The wrapped file key could not be unwrapped with the given KEK."""


class HeaderMacMismatch(DaprCryptoError):
    """The header's HMAC does not match the manifest."""


class SegmentAuthFailed(DaprCryptoError):
    """A payload segment failed AEAD authentication."""

    def __init__(self, message: str, segment: int) -> None:
        super().__init__(message)
        self.segment = segment


# --------------------------------------------------------------------------- helpers


def describe_kek_problem(kek: bytes) -> str | None:
    """Explain why ``kek`` cannot be an A256KW key, or return None if its size is right.

    The hints name the usual misconfigurations of the ``master-key`` Secret.
    """
    n = len(kek)
    if n == KEK_SIZE:
        return None
    msg = f"the KEK is {n} bytes long but A256KW needs exactly {KEK_SIZE} bytes (AES-256)"
    if n == 48:
        msg += (
            "; a 64-character hex key decodes to 48 bytes: the master-key Secret most likely "
            "holds the key as hex text, which Dapr reads as base64. Store the 32 raw key "
            "bytes (or their base64) in the Secret instead"
        )
    elif n == 64 and _is_hex(kek):
        msg += "; these look like 64 hex characters: decode them (bytes.fromhex) first"
    elif n in (43, 44) and re.fullmatch(rb"[A-Za-z0-9+/_-]+=?", kek):
        msg += "; these look like base64 text of a 32-byte key: decode it first"
    elif n in (16, 24):
        msg += f"; this is an AES-{n * 8} key, which Dapr's A256KW rejects"
    elif n == 0:
        msg += "; the key is empty"
    return msg


def _is_hex(data: bytes) -> bool:
    return re.fullmatch(rb"[0-9a-fA-F]+", data) is not None


def _hkdf(file_key: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(file_key)


def _header_mac(file_key: bytes, signed: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, None, b"header"), signed, sha256).digest()


def _aead(cipher: int, payload_key: bytes) -> AESGCM | ChaCha20Poly1305:
    if cipher == CIPHER_AES_GCM:
        return AESGCM(payload_key)
    if cipher == CIPHER_CHACHA20_POLY1305:
        return ChaCha20Poly1305(payload_key)
    raise UnsupportedError(_unsupported_cipher_message(cipher))


def _unsupported_cipher_message(cipher: object) -> str:
    return (
        f"cipher id {cipher!r} is not supported: Dapr defines 1 (AES-GCM) and "
        "2 (ChaCha20-Poly1305); the ciphertext was not made by dapr.io/enc/v1 or is newer"
    )


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _go_json_string(value: str) -> str:
    """Encode a string the way Go's encoding/json does (HTML-safe escaping).

    Only the manifest's key name goes through this; matching Go byte for byte
    keeps our ciphertexts indistinguishable from Dapr's.
    """
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64_field(manifest: dict[str, Any], name: str) -> bytes:
    value = manifest.get(name)
    if not isinstance(value, str):
        raise MalformedCiphertext(
            f"manifest field {name!r} must be a base64 string, found {type(value).__name__}"
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCiphertext(
            f"manifest field {name!r} is not valid standard base64 ({exc}); "
            "the ciphertext was damaged or not produced by Dapr"
        ) from exc


# --------------------------------------------------------------------------- header


@dataclass(frozen=True)
class DaprHeader:
    """The parsed header of a ``dapr.io/enc/v1`` ciphertext."""

    key_name: str | None
    key_wrap: int
    wrapped_file_key: bytes
    cipher: int
    nonce_prefix: bytes
    manifest: bytes
    """The manifest line exactly as written (without the newline)."""
    mac: bytes
    """The decoded header MAC."""
    length: int
    """Number of header bytes; the first segment starts at this offset."""

    @property
    def key_wrap_name(self) -> str:
        """Dapr's name for the key-wrap algorithm (e.g. ``A256KW``)."""
        return KEY_WRAP_NAMES.get(self.key_wrap, f"unknown({self.key_wrap})")

    @property
    def cipher_name(self) -> str:
        """Dapr's name for the payload cipher (e.g. ``AES-GCM``)."""
        return CIPHER_NAMES.get(self.cipher, f"unknown({self.cipher})")


def read_header(blob: bytes) -> DaprHeader:
    """Parse and validate the header of a ciphertext without decrypting anything.

    Raises :class:`MalformedCiphertext` for anything that is not a
    ``dapr.io/enc/v1`` header and :class:`UnsupportedError` for key-wrap or
    cipher ids outside the ones Dapr defines.
    """
    blob = bytes(blob)
    if not blob.startswith(_MAGIC_LINE):
        start = blob[:24]
        hint = ""
        if blob.startswith(b"ZGFwci5pby9lbmMvdj"):
            hint = " (it is base64 text of a Dapr ciphertext: decode it first)"
        elif blob.startswith(b"\\x") or blob.startswith(b"646170722e696f"):
            hint = " (it looks hex-encoded, e.g. a bytea column exported as text: decode it first)"
        raise MalformedCiphertext(
            f"not a {SCHEME} ciphertext: it must start with {_MAGIC_LINE!r}, "
            f"found {start!r}{hint}"
        )
    manifest_end = blob.find(b"\n", len(_MAGIC_LINE))
    mac_end = blob.find(b"\n", manifest_end + 1) if manifest_end >= 0 else -1
    if manifest_end < 0 or mac_end < 0:
        raise MalformedCiphertext(
            f"truncated header: the ciphertext has only {len(blob)} bytes and ends before "
            "the manifest and MAC lines are complete"
        )
    if mac_end + 1 > _MAX_HEADER:
        raise MalformedCiphertext(f"header is {mac_end + 1} bytes; Dapr limits it to {_MAX_HEADER}")
    manifest_bytes = blob[len(_MAGIC_LINE) : manifest_end]
    mac_line = blob[manifest_end + 1 : mac_end]
    if not manifest_bytes:
        raise MalformedCiphertext("the manifest line is empty")
    if not mac_line:
        raise MalformedCiphertext("the header MAC line is empty")

    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedCiphertext(
            f"the manifest is not valid JSON ({exc}); the header was damaged"
        ) from exc
    if not isinstance(manifest, dict):
        raise MalformedCiphertext("the manifest must be a JSON object")

    key_name = manifest.get("k")
    if key_name is not None and not isinstance(key_name, str):
        raise MalformedCiphertext("manifest field 'k' (key name) must be a string")
    kw = manifest.get("kw")
    cph = manifest.get("cph")
    # bool is an int subclass in Python, but Go would reject true/false here.
    if type(kw) is not int:
        raise MalformedCiphertext(f"manifest field 'kw' must be an integer id, found {kw!r}")
    if type(cph) is not int:
        raise MalformedCiphertext(f"manifest field 'cph' must be an integer id, found {cph!r}")
    if kw not in KEY_WRAP_NAMES:
        raise UnsupportedError(
            f"key-wrap algorithm id {kw} is unknown: Dapr defines 1-5 "
            "(1 = A256KW, 2-4 = AES-CBC-NOPAD, 5 = RSA-OAEP-256)"
        )
    if cph not in CIPHER_NAMES:
        raise UnsupportedError(_unsupported_cipher_message(cph))
    wfk = _b64_field(manifest, "wfk")
    if not wfk:
        raise MalformedCiphertext("manifest field 'wfk' (wrapped file key) is empty")
    np_ = _b64_field(manifest, "np")
    if len(np_) != NONCE_PREFIX_SIZE:
        raise MalformedCiphertext(
            f"manifest field 'np' must decode to {NONCE_PREFIX_SIZE} bytes, got {len(np_)}"
        )
    try:
        mac = base64.b64decode(mac_line, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCiphertext(
            f"the header MAC line is not valid standard base64 ({exc}); the header was damaged"
        ) from exc

    return DaprHeader(
        key_name=key_name or None,
        key_wrap=kw,
        wrapped_file_key=wfk,
        cipher=cph,
        nonce_prefix=np_,
        manifest=manifest_bytes,
        mac=mac,
        length=mac_end + 1,
    )


# --------------------------------------------------------------------------- encrypt


def encrypt(
    plaintext: bytes,
    kek: bytes | None,
    key_name: str | None = "master-key/key",
    *,
    rng: Callable[[int], bytes] = os.urandom,
    cipher: int = CIPHER_AES_GCM,
    wrap: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """Encrypt ``plaintext`` as Dapr's ``dapr.io/enc/v1`` would.

    The file key and nonce prefix are drawn together as 39 bytes from ``rng``.
    The file key is wrapped with A256KW (RFC 3394) under ``kek``, unless
    ``wrap`` is given (then ``kek`` must be None and the manifest still says
    ``kw`` = 1; used to reproduce Dapr's identity-wrapped test vectors).
    ``key_name`` goes into the manifest's ``k`` field; None or "" omits it.
    """
    if (kek is None) == (wrap is None):
        raise TypeError("pass exactly one of kek and wrap")
    if cipher not in CIPHER_NAMES:
        raise UnsupportedError(_unsupported_cipher_message(cipher))

    random = rng(FILE_KEY_SIZE + NONCE_PREFIX_SIZE)
    if len(random) != FILE_KEY_SIZE + NONCE_PREFIX_SIZE:
        raise ValueError(f"rng returned {len(random)} bytes, expected 39")
    file_key, nonce_prefix = random[:FILE_KEY_SIZE], random[FILE_KEY_SIZE:]

    if kek is not None:
        problem = describe_kek_problem(kek)
        if problem:
            raise InvalidKeyError(f"cannot encrypt: {problem}")
        wrapped = aes_key_wrap(kek, file_key)
    else:
        assert wrap is not None
        wrapped = wrap(file_key)

    # Field order and compact separators follow Go's json.Marshal of Dapr's
    # Manifest struct, so our output is byte-compatible with Dapr's.
    parts = []
    if key_name:
        parts.append(f'"k":{_go_json_string(key_name)}')
    parts.append(f'"kw":{KW_A256KW}')
    parts.append(f'"wfk":"{_b64(wrapped)}"')
    parts.append(f'"cph":{cipher}')
    parts.append(f'"np":"{_b64(nonce_prefix)}"')
    manifest = ("{" + ",".join(parts) + "}").encode("utf-8")

    signed = _MAGIC_LINE + manifest + b"\n"
    header = signed + _b64(_header_mac(file_key, signed)).encode("ascii") + b"\n"
    if len(header) > _MAX_HEADER:
        raise ValueError("key name too long: the header would exceed 64 KiB")

    aead = _aead(cipher, _hkdf(file_key, nonce_prefix, b"payload"))
    data = memoryview(bytes(plaintext))
    count = -(-len(data) // SEGMENT_SIZE)
    if count > 2**32:
        raise ValueError("plaintext too large for dapr.io/enc/v1 (more than 2^32 segments)")
    out = [header]
    for i in range(count):
        chunk = data[i * SEGMENT_SIZE : (i + 1) * SEGMENT_SIZE]
        out.append(aead.encrypt(_nonce(nonce_prefix, i, i == count - 1), bytes(chunk), None))
    return b"".join(out)


# --------------------------------------------------------------------------- decrypt


def _unwrap_with_kek(kek: bytes, header: DaprHeader) -> bytes:
    if header.key_wrap != KW_A256KW:
        raise UnsupportedError(
            f"the file key is wrapped with {header.key_wrap_name} (kw={header.key_wrap}); "
            "this harness only implements A256KW (kw=1) for a KEK given as bytes. "
            "Pass unwrap=... to decrypt() to handle other algorithms"
        )
    key_label = f" (manifest key name {header.key_name!r})" if header.key_name else ""
    problem = describe_kek_problem(kek)
    if problem:
        raise KeyUnwrapFailed(f"cannot unwrap the file key{key_label}: {problem}")
    try:
        return aes_key_unwrap(kek, header.wrapped_file_key)
    except InvalidUnwrap as exc:
        raise KeyUnwrapFailed(
            f"A256KW unwrap failed{key_label}: the KEK is not the key this ciphertext was "
            "encrypted with (a master-key Secret from another cluster or another backup "
            "generation?), or the wrapped key in the manifest was altered"
        ) from exc
    except ValueError as exc:
        raise MalformedCiphertext(
            f"the wrapped file key is {len(header.wrapped_file_key)} bytes, which is not a "
            f"valid A256KW output (a 32-byte key wraps to 40 bytes): {exc}"
        ) from exc


def _try_open(
    aead: AESGCM | ChaCha20Poly1305, prefix: bytes, i: int, last: bool, chunk: bytes
) -> bytes | None:
    try:
        return aead.decrypt(_nonce(prefix, i, last), chunk, None)
    except Exception:  # cryptography raises InvalidTag; anything else is also a failure
        return None


def decrypt(
    blob: bytes,
    kek: bytes | None = None,
    *,
    unwrap: Callable[[bytes, int], bytes] | None = None,
) -> bytes:
    """Decrypt a ``dapr.io/enc/v1`` ciphertext and return the plaintext.

    Give either ``kek`` (the 32-byte A256KW key, i.e. what the ``master-key``
    Secret yields) or ``unwrap(wrapped_file_key, kw_id) -> file_key``.
    The header MAC is checked over the header bytes exactly as written before
    any segment is opened.

    Raises :class:`MalformedCiphertext`, :class:`UnsupportedError`,
    :class:`KeyUnwrapFailed`, :class:`HeaderMacMismatch` or
    :class:`SegmentAuthFailed`, each with an explanation for an operator.
    """
    if (kek is None) == (unwrap is None):
        raise TypeError("pass exactly one of kek and unwrap")
    blob = bytes(blob)
    header = read_header(blob)

    if kek is not None:
        file_key = _unwrap_with_kek(kek, header)
    else:
        assert unwrap is not None
        try:
            file_key = unwrap(header.wrapped_file_key, header.key_wrap)
        except DaprCryptoError:
            raise
        except Exception as exc:
            raise KeyUnwrapFailed(f"the unwrap function failed: {exc}") from exc
        if not file_key:
            raise KeyUnwrapFailed("the unwrap function returned an empty file key")

    signed = blob[: len(_MAGIC_LINE) + len(header.manifest) + 1]
    if not hmac.compare_digest(_header_mac(file_key, signed), header.mac):
        raise HeaderMacMismatch(
            "the header MAC does not match: the manifest or the MAC line was modified after "
            "encryption, or the unwrapped file key is wrong (with A256KW a wrong KEK is "
            "normally caught at unwrap, so suspect tampering or corruption of the header)"
        )

    aead = _aead(header.cipher, _hkdf(file_key, header.nonce_prefix, b"payload"))
    body = memoryview(blob)[header.length :]
    count = -(-len(body) // ENCRYPTED_SEGMENT_SIZE)
    out: list[bytes] = []
    for i in range(count):
        chunk = bytes(body[i * ENCRYPTED_SEGMENT_SIZE : (i + 1) * ENCRYPTED_SEGMENT_SIZE])
        last = i == count - 1
        if last and len(chunk) <= TAG_SIZE:
            raise MalformedCiphertext(
                f"truncated ciphertext: segment {i} has only {len(chunk)} bytes, not even room "
                f"for data plus its {TAG_SIZE}-byte tag (the file was cut short)"
            )
        plain = _try_open(aead, header.nonce_prefix, i, last, chunk)
        if plain is None:
            _diagnose_segment_failure(aead, header, blob, body, i, count, chunk)
        out.append(plain)
    return b"".join(out)


def _diagnose_segment_failure(
    aead: AESGCM | ChaCha20Poly1305,
    header: DaprHeader,
    blob: bytes,
    body: memoryview,
    i: int,
    count: int,
    chunk: bytes,
) -> NoReturn:
    """Raise the most helpful error for segment ``i`` failing authentication.

    The header already verified, so the key is right; the usual causes are
    truncation, bytes appended after the ciphertext, or real corruption. The
    extra trial decryptions only run on the failure path.
    """
    last = i == count - 1
    prefix = header.nonce_prefix
    if (last and len(chunk) == ENCRYPTED_SEGMENT_SIZE
            and _try_open(aead, prefix, i, False, chunk) is not None):
        raise MalformedCiphertext(
            f"truncated ciphertext: it ends after segment {i}, which is not marked as the final "
            "segment; the file was cut at a 64 KiB segment boundary and later segments are missing"
        )
    if not last and _try_open(aead, prefix, i, True, chunk) is not None:
        extra = len(body) - (i + 1) * ENCRYPTED_SEGMENT_SIZE
        raise MalformedCiphertext(
            f"segment {i} is the final segment but {extra} more bytes follow it: something was "
            "appended to the ciphertext (a trailing newline, or two ciphertexts concatenated)"
        )
    if last:
        for junk in (b"\r\n", b"\n", b" "):
            if blob.endswith(junk) and len(chunk) - len(junk) > TAG_SIZE:
                if _try_open(aead, prefix, i, True, chunk[: -len(junk)]) is not None:
                    raise MalformedCiphertext(
                        f"the ciphertext has {len(junk)} stray byte(s) {junk!r} after its final "
                        "segment: it was probably stored or copied as text with a trailing "
                        "newline; strip it"
                    )
    start = i * SEGMENT_SIZE
    where = "the last" if last else f"numbered from 0, of {count}"
    raise SegmentAuthFailed(
        f"segment {i} ({where}; plaintext bytes {start}-{start + len(chunk) - TAG_SIZE - 1}) "
        "failed authentication: the header verified, so the key is right, but this segment's "
        "ciphertext was modified or corrupted"
        + (" or the file was truncated inside it" if last else ""),
        segment=i,
    )
