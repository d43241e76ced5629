"""Tests for harness.crypto.dapr: the dapr.io/enc/v1 format and the master-key Secret."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.crypto import dapr, masterkey
from harness.crypto.dapr import (
    HeaderMacMismatch,
    InvalidKeyError,
    KeyUnwrapFailed,
    MalformedCiphertext,
    SegmentAuthFailed,
    UnsupportedError,
)
from harness.crypto.masterkey import MasterKeyBackupError

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "dapr-enc-v1"

# From the vectors' README: file -> (key name, plaintext length, SHA-256 of plaintext).
GOLDEN = {
    "empty-message.enc": ("mykey", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    "single-segment.enc": ("mykey", 11, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"),
    "single-segment-no-key-name.enc": (None, 11, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"),
    "one-full-segment.enc": ("mykey", 65536, "c6424019940597505250191c94dbc41927188becf20cd3bde26cedd9a824df66"),
    "two-full-segments.enc": ("mykey", 131072, "b865cf9e2e26170a713851a1f0fc26a51bf1b8cdf403307cd0d6478682491a30"),
    "multi-segment.enc": ("mykey", 122880, "590992fd01c6fce38a14868ed778d44c475a22717efb72a426b325f49cde76c7"),
    "large-file.enc": ("mykey", 307200, "9ca413c3f45a8ef403122980ad7a2f0e68cbbc017d7bdcd4d3ec309bcc91744c"),
}

KEK = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
# A 32-byte key that is not base64 text (so Dapr keeps it raw) and whose base64
# uses '+' and '/' (so the URL-safe form is not also valid standard base64).
RAW_KEY = b"".join(bytes([0xFB, 0xEF, 0xFF, 0x80 + i]) for i in range(8))


def identity_unwrap(wfk: bytes, kw: int) -> bytes:
    """The golden vectors store the file key unwrapped in 'wfk'."""
    assert kw == dapr.KW_A256KW
    return wfk


def golden(name: str) -> bytes:
    path = VECTORS / name
    if not path.is_file():
        pytest.skip(f"Dapr golden vectors not found at {VECTORS} (shared/ folder absent next to the repo)")
    return path.read_bytes()


def body_offset(blob: bytes) -> int:
    """Offset of segment 0, found independently of the module under test."""
    return blob.index(b"\n", blob.index(b"\n", blob.index(b"\n") + 1) + 1) + 1


def flip(blob: bytes, pos: int, mask: int = 0x01) -> bytes:
    b = bytearray(blob)
    b[pos] ^= mask
    return bytes(b)


# --------------------------------------------------------------------------- golden vectors


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_vector_decrypts(name: str) -> None:
    key_name, length, digest = GOLDEN[name]
    blob = golden(name)
    plain = dapr.decrypt(blob, unwrap=identity_unwrap)
    assert len(plain) == length
    assert hashlib.sha256(plain).hexdigest() == digest
    header = dapr.read_header(blob)
    assert header.key_name == key_name
    assert (header.key_wrap, header.cipher) == (1, 1)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_encrypt_reproduces_golden_vector_byte_for_byte(name: str) -> None:
    """With Dapr's file key and nonce prefix, our encryptor must emit Dapr's exact bytes."""
    blob = golden(name)
    header = dapr.read_header(blob)
    plain = dapr.decrypt(blob, unwrap=identity_unwrap)
    seed = header.wrapped_file_key + header.nonce_prefix
    again = dapr.encrypt(plain, None, header.key_name, rng=lambda n: seed[:n], wrap=lambda fk: fk)
    assert again == blob


def test_golden_segment_sizes() -> None:
    blob = golden("large-file.enc")
    body = len(blob) - body_offset(blob)
    # 307200 = 4 full segments of 65536 + 45056
    assert body == 4 * 65552 + 45056 + 16


def test_flipped_segment_byte_names_segment() -> None:
    blob = golden("multi-segment.enc")
    start = body_offset(blob)
    with pytest.raises(SegmentAuthFailed, match="segment 1") as info:
        dapr.decrypt(flip(blob, start + 65552 + 100), unwrap=identity_unwrap)
    assert info.value.segment == 1
    with pytest.raises(SegmentAuthFailed) as info0:
        dapr.decrypt(flip(blob, start + 5), unwrap=identity_unwrap)
    assert info0.value.segment == 0


def test_flipped_tag_byte_of_last_segment() -> None:
    blob = golden("single-segment.enc")
    with pytest.raises(SegmentAuthFailed) as info:
        dapr.decrypt(flip(blob, len(blob) - 1), unwrap=identity_unwrap)
    assert info.value.segment == 0


def test_flipped_manifest_byte_keeps_json_valid_fails_mac() -> None:
    blob = golden("single-segment.enc")
    pos = blob.index(b"mykey")
    with pytest.raises(HeaderMacMismatch):
        dapr.decrypt(flip(blob, pos + 4), unwrap=identity_unwrap)  # mykey -> mykex


def test_flipped_manifest_byte_breaking_json_is_malformed() -> None:
    blob = golden("single-segment.enc")
    pos = blob.index(b"{")
    with pytest.raises(MalformedCiphertext, match="JSON"):
        dapr.decrypt(flip(blob, pos, 0x40), unwrap=identity_unwrap)


def test_flipped_mac_byte() -> None:
    blob = golden("single-segment.enc")
    mac_start = blob.index(b"\n", blob.index(b"\n") + 1) + 1
    # 'F' -> 'G': still valid base64, different MAC
    with pytest.raises(HeaderMacMismatch):
        dapr.decrypt(flip(blob, mac_start), unwrap=identity_unwrap)


def test_mac_line_not_base64_is_malformed() -> None:
    blob = golden("single-segment.enc")
    mac_start = blob.index(b"\n", blob.index(b"\n") + 1) + 1
    damaged = blob[:mac_start] + b"!" + blob[mac_start + 1 :]
    with pytest.raises(MalformedCiphertext, match="base64"):
        dapr.decrypt(damaged, unwrap=identity_unwrap)


@pytest.mark.parametrize("cut", [5, 20, 60, 150])
def test_truncated_header_is_malformed(cut: int) -> None:
    blob = golden("single-segment.enc")
    with pytest.raises(MalformedCiphertext):
        dapr.decrypt(blob[:cut], unwrap=identity_unwrap)


def test_truncated_inside_tag_is_malformed() -> None:
    blob = golden("single-segment.enc")
    # keep fewer than 16 bytes of the only segment
    with pytest.raises(MalformedCiphertext, match="truncated"):
        dapr.decrypt(blob[: body_offset(blob) + 10], unwrap=identity_unwrap)


def test_truncated_at_segment_boundary_is_malformed() -> None:
    blob = golden("two-full-segments.enc")
    cut = blob[: body_offset(blob) + 65552]
    with pytest.raises(MalformedCiphertext, match="segment boundary"):
        dapr.decrypt(cut, unwrap=identity_unwrap)


def test_truncated_mid_segment_fails_last_segment() -> None:
    blob = golden("multi-segment.enc")
    with pytest.raises(SegmentAuthFailed, match="truncated") as info:
        dapr.decrypt(blob[:-100], unwrap=identity_unwrap)
    assert info.value.segment == 1


@pytest.mark.parametrize("name", ["single-segment.enc", "one-full-segment.enc"])
def test_trailing_newline_is_diagnosed(name: str) -> None:
    blob = golden(name)
    with pytest.raises(MalformedCiphertext, match="trailing newline"):
        dapr.decrypt(blob + b"\n", unwrap=identity_unwrap)


def test_bad_magic() -> None:
    with pytest.raises(MalformedCiphertext, match="dapr.io/enc/v1"):
        dapr.decrypt(b"dapr.io/enc/v2\n{}\nAAAA\n", unwrap=identity_unwrap)
    encoded = base64.b64encode(golden("single-segment.enc"))
    with pytest.raises(MalformedCiphertext, match="base64 text"):
        dapr.decrypt(encoded, unwrap=identity_unwrap)


# --------------------------------------------------------------------------- header validation


def _forge(manifest: dict | str, file_key: bytes = b"\x01" * 32) -> bytes:
    """A header-only ciphertext with a correct MAC over an arbitrary manifest."""
    import hmac

    text = manifest if isinstance(manifest, str) else json.dumps(manifest, separators=(",", ":"))
    signed = b"dapr.io/enc/v1\n" + text.encode() + b"\n"
    hk = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"header").derive(file_key)
    return signed + base64.b64encode(hmac.new(hk, signed, "sha256").digest()) + b"\n"


def _manifest(**over: object) -> dict:
    m = {"k": "x", "kw": 1, "wfk": base64.b64encode(b"\x01" * 32).decode(), "cph": 1,
         "np": base64.b64encode(b"\x02" * 7).decode()}
    m.update(over)
    return {k: v for k, v in m.items() if v is not None}


def test_forged_header_helper_is_accepted() -> None:
    assert dapr.decrypt(_forge(_manifest()), unwrap=identity_unwrap) == b""


@pytest.mark.parametrize("kw", [2, 5, 9])
def test_unsupported_key_wrap_with_kek(kw: int) -> None:
    with pytest.raises(UnsupportedError, match=f"kw={kw}|id {kw}"):
        dapr.decrypt(_forge(_manifest(kw=kw)), KEK)


def test_cph_other_than_1_2_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="cipher id 3"):
        dapr.read_header(_forge(_manifest(cph=3)))


@pytest.mark.parametrize(
    "over, pattern",
    [
        ({"np": base64.b64encode(b"\x00" * 8).decode()}, "7 bytes"),
        ({"np": "not base64!"}, "base64"),
        ({"wfk": ""}, "empty"),
        ({"kw": True}, "integer"),
        ({"cph": "1"}, "integer"),
        ({"k": 5}, "string"),
    ],
)
def test_bad_manifest_fields(over: dict, pattern: str) -> None:
    with pytest.raises(MalformedCiphertext, match=pattern):
        dapr.read_header(_forge(_manifest(**over)))


def test_mac_is_over_manifest_bytes_as_written() -> None:
    """A manifest with other spacing and key order must verify: never re-serialise it."""
    m = _manifest()
    text = '{ "np": "%s",  "cph": 1, "wfk": "%s", "kw": 1, "k": "x" }' % (m["np"], m["wfk"])
    assert dapr.decrypt(_forge(text), unwrap=identity_unwrap) == b""


def test_manifest_not_object() -> None:
    with pytest.raises(MalformedCiphertext, match="object"):
        dapr.read_header(_forge("[1,2]"))


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("length", [0, 1, 65535, 65536, 65537, 131072, 200000])
def test_round_trip(length: int) -> None:
    plain = hashlib.shake_256(str(length).encode()).digest(length)
    blob = dapr.encrypt(plain, KEK)
    assert dapr.decrypt(blob, KEK) == plain
    body = len(blob) - body_offset(blob)
    full, rest = divmod(length, 65536)
    assert body == full * 65552 + (rest + 16 if rest else 0)


@pytest.mark.parametrize("length", [65536, 131072])
def test_exact_multiple_flags_final_full_segment(length: int) -> None:
    """The last full segment must use the 'last' nonce flag, and no empty segment follows."""
    plain = b"\xab" * length
    blob = dapr.encrypt(plain, KEK)
    off = body_offset(blob)
    assert (len(blob) - off) % 65552 == 0
    manifest = json.loads(blob.split(b"\n")[1])
    file_key = aes_key_unwrap(KEK, base64.b64decode(manifest["wfk"]))
    np_ = base64.b64decode(manifest["np"])
    pk = HKDF(algorithm=hashes.SHA256(), length=32, salt=np_, info=b"payload").derive(file_key)
    n = length // 65536
    last_seg = blob[off + (n - 1) * 65552 :]
    nonce = np_ + (n - 1).to_bytes(4, "big") + b"\x01"
    assert AESGCM(pk).decrypt(nonce, last_seg, None) == plain[-65536:]


def test_chacha_round_trip() -> None:
    plain = b"x" * 70000
    blob = dapr.encrypt(plain, KEK, cipher=dapr.CIPHER_CHACHA20_POLY1305)
    assert json.loads(blob.split(b"\n")[1])["cph"] == 2
    assert dapr.decrypt(blob, KEK) == plain


@settings(max_examples=40, deadline=None, database=None)
@given(plain=st.binary(max_size=600), key_name=st.one_of(st.none(), st.text(max_size=20)))
def test_round_trip_property(plain: bytes, key_name: str | None) -> None:
    blob = dapr.encrypt(plain, KEK, key_name)
    assert dapr.decrypt(blob, KEK) == plain
    assert dapr.read_header(blob).key_name == (key_name or None)


def test_wrong_kek() -> None:
    blob = dapr.encrypt(b"secret", KEK)
    with pytest.raises(KeyUnwrapFailed, match="not the key"):
        dapr.decrypt(blob, bytes(32))


@pytest.mark.parametrize("size, hint", [(48, "64-character hex key decodes to 48 bytes"), (16, "AES-128"), (0, "empty")])
def test_kek_of_wrong_length(size: int, hint: str) -> None:
    blob = dapr.encrypt(b"secret", KEK)
    with pytest.raises(KeyUnwrapFailed, match=f"{size} bytes") as info:
        dapr.decrypt(blob, b"\x07" * size)
    assert hint in str(info.value)


def test_encrypt_rejects_bad_kek() -> None:
    with pytest.raises(InvalidKeyError, match="48 bytes"):
        dapr.encrypt(b"x", b"\x00" * 48)


def test_unwrap_and_kek_are_exclusive() -> None:
    blob = dapr.encrypt(b"x", KEK)
    with pytest.raises(TypeError):
        dapr.decrypt(blob)
    with pytest.raises(TypeError):
        dapr.decrypt(blob, KEK, unwrap=identity_unwrap)


def test_unwrap_exception_becomes_key_unwrap_failed() -> None:
    def boom(wfk: bytes, kw: int) -> bytes:
        raise RuntimeError("vault unreachable")

    with pytest.raises(KeyUnwrapFailed, match="vault unreachable"):
        dapr.decrypt(dapr.encrypt(b"x", KEK), unwrap=boom)


def test_independent_reading_of_our_output() -> None:
    """Read our ciphertext with only the spec and cryptography's primitives."""
    import hmac

    plain = bytes(range(256)) * 600  # 153600 bytes: 2 full segments + 22528
    blob = dapr.encrypt(plain, KEK, "master-key/key")
    magic, manifest_line, mac_line, _ = blob.split(b"\n", 3)
    assert magic == b"dapr.io/enc/v1"
    assert b" " not in manifest_line  # compact JSON
    manifest = json.loads(manifest_line)
    assert list(manifest) == ["k", "kw", "wfk", "cph", "np"]
    assert manifest["k"] == "master-key/key" and manifest["kw"] == 1 and manifest["cph"] == 1
    wfk = base64.b64decode(manifest["wfk"], validate=True)
    np_ = base64.b64decode(manifest["np"], validate=True)
    assert len(wfk) == 40 and len(np_) == 7
    file_key = aes_key_unwrap(KEK, wfk)

    hk = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"header").derive(file_key)
    signed = magic + b"\n" + manifest_line + b"\n"
    assert base64.b64decode(mac_line, validate=True) == hmac.new(hk, signed, "sha256").digest()

    pk = HKDF(algorithm=hashes.SHA256(), length=32, salt=np_, info=b"payload").derive(file_key)
    body = blob[len(signed) + len(mac_line) + 1 :]
    sizes = [len(body[i : i + 65552]) for i in range(0, len(body), 65552)]
    assert sizes == [65552, 65552, 22528 + 16]
    out = b""
    for i in range(len(sizes)):
        nonce = np_ + i.to_bytes(4, "big") + (b"\x01" if i == len(sizes) - 1 else b"\x00")
        out += AESGCM(pk).decrypt(nonce, body[i * 65552 : (i + 1) * 65552], None)
    assert out == plain


def test_no_key_name_omits_k() -> None:
    for name in (None, ""):
        manifest = json.loads(dapr.encrypt(b"x", KEK, name).split(b"\n")[1])
        assert list(manifest) == ["kw", "wfk", "cph", "np"]


def test_key_name_escaped_like_go() -> None:
    line = dapr.encrypt(b"x", KEK, "a<b>&\"c").split(b"\n")[1]
    assert line.startswith(b'{"k":"a\\u003cb\\u003e\\u0026\\"c",')


def test_rng_draws_39_bytes_once() -> None:
    calls: list[int] = []

    def rng(n: int) -> bytes:
        calls.append(n)
        return bytes(range(n))

    blob = dapr.encrypt(b"hello", KEK, rng=rng)
    assert calls == [39]
    header = dapr.read_header(blob)
    assert header.nonce_prefix == bytes(range(32, 39))
    assert aes_key_unwrap(KEK, header.wrapped_file_key) == bytes(range(32))


# --------------------------------------------------------------------------- key parsing


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(RAW_KEY, id="raw"),
        pytest.param(base64.b64encode(RAW_KEY), id="b64-padded"),
        pytest.param(base64.b64encode(RAW_KEY).rstrip(b"="), id="b64-unpadded"),
        pytest.param(base64.b64encode(RAW_KEY) + b"\n", id="b64-newline"),
        pytest.param(base64.urlsafe_b64encode(RAW_KEY), id="b64url"),
        pytest.param(base64.urlsafe_b64encode(RAW_KEY).rstrip(b"=") + b"\n", id="b64url-unpadded-newline"),
        pytest.param(
            json.dumps({"kty": "oct", "k": base64.urlsafe_b64encode(RAW_KEY).rstrip(b"=").decode()}).encode(),
            id="jwk-oct",
        ),
    ],
)
def test_parse_k8s_secret_key_forms(value: bytes) -> None:
    assert masterkey.parse_k8s_secret_key(value) == RAW_KEY


def test_url_safe_characters_really_used() -> None:
    # the url-safe cases above must not be decodable as std base64 by accident
    assert b"-" in base64.urlsafe_b64encode(RAW_KEY) and b"_" in base64.urlsafe_b64encode(RAW_KEY)


def test_hex_key_decodes_to_48_bytes() -> None:
    key = masterkey.parse_k8s_secret_key(RAW_KEY.hex().encode())
    assert len(key) == 48
    assert key == base64.b64decode(RAW_KEY.hex())


def test_raw_key_that_is_valid_base64_text_is_decoded() -> None:
    # A 32-character alphanumeric "passphrase" is valid base64: Dapr uses 24 bytes.
    assert len(masterkey.parse_k8s_secret_key(b"abcdefghijklmnopqrstuvwxyz012345")) == 24


def test_std_base64_is_strict_before_fallback() -> None:
    # '.' is outside both alphabets: the raw bytes are the key.
    value = b"abc.defghijklmnopqrstuvwxyz01234"
    assert masterkey.parse_k8s_secret_key(value) == value


def test_brace_of_length_32_is_not_jwk() -> None:
    value = b"{" + b"\x99" * 31
    assert masterkey.parse_k8s_secret_key(value) == value


def test_jwk_other_types_and_pem_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="RSA"):
        masterkey.parse_k8s_secret_key(json.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB"}).encode())
    with pytest.raises(UnsupportedError, match="PEM"):
        masterkey.parse_k8s_secret_key(b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidKeyError, match="JSON"):
        masterkey.parse_k8s_secret_key(b"{not json at all, and not 16/24/32 bytes long}")
    with pytest.raises(InvalidKeyError):
        masterkey.parse_k8s_secret_key(b"")


# --------------------------------------------------------------------------- master-key backups


@pytest.mark.parametrize("encode", ["raw", "base64", "hex"])
def test_master_key_backup_round_trip(encode: str) -> None:
    text = masterkey.dump_master_key_backup(RAW_KEY, encode=encode)  # type: ignore[arg-type]
    doc = yaml.safe_load(text)
    assert doc["kind"] == "Secret" and doc["type"] == "Opaque"
    assert doc["metadata"] == {"name": "master-key", "namespace": "scrydon-platform"}
    for server_field in ("resourceVersion", "uid", "creationTimestamp"):
        assert server_field not in text
    backup = masterkey.load_master_key_backup(text)
    assert (backup.name, backup.namespace, backup.data_key) == ("master-key", "scrydon-platform", "key")
    assert backup.dapr_key_name == "master-key/key"
    if encode == "hex":
        assert backup.raw_value == RAW_KEY.hex().encode()
        assert len(backup.key) == 48
        assert "hex" in (backup.kek_problem() or "")
    else:
        assert backup.key == RAW_KEY
        assert backup.kek_problem() is None


def test_hex_backup_fails_to_decrypt_real_ciphertext() -> None:
    blob = dapr.encrypt(b"postgres secret", RAW_KEY)
    good = masterkey.load_master_key_backup(masterkey.dump_master_key_backup(RAW_KEY))
    assert dapr.decrypt(blob, good.key) == b"postgres secret"
    bad = masterkey.load_master_key_backup(masterkey.dump_master_key_backup(RAW_KEY, encode="hex"))
    with pytest.raises(KeyUnwrapFailed, match="hex") as info:
        dapr.decrypt(blob, bad.key)
    assert "48" in str(info.value)


SECRET_YAML = """\
apiVersion: v1
kind: Secret
metadata:
  name: master-key
  namespace: scrydon-platform
type: Opaque
data:
{data}
"""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("key: [unclosed", "not valid YAML"),
        ("just a string", "not a YAML mapping"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: master-key}\n", "not a v1 Secret"),
        (SECRET_YAML.replace("name: master-key", "name: other").format(data=f"  key: {_b64(RAW_KEY)}"), "named 'other'"),
        (SECRET_YAML.format(data="  {}"), "no data"),
        (SECRET_YAML.format(data=f"  a: {_b64(RAW_KEY)}\n  b: {_b64(RAW_KEY)}"), "several data keys"),
        (SECRET_YAML.format(data="  key: '***not base64***'"), "not valid base64"),
        (SECRET_YAML.replace("\ndata:\n", "\nstringData:\n").format(data="  key: hello"), "stringData"),
        (SECRET_YAML.replace("Opaque", "kubernetes.io/tls").format(data=f"  key: {_b64(RAW_KEY)}"), "type"),
    ],
)
def test_master_key_backup_errors(text: str, pattern: str) -> None:
    with pytest.raises(MasterKeyBackupError, match=pattern):
        masterkey.load_master_key_backup(text)


def test_master_key_backup_choose_data_key() -> None:
    other = bytes(reversed(RAW_KEY))
    text = SECRET_YAML.format(data=f"  a: {_b64(RAW_KEY)}\n  b: {_b64(other)}")
    assert masterkey.load_master_key_backup(text, "b").key == other
    with pytest.raises(MasterKeyBackupError, match="no data key 'c'"):
        masterkey.load_master_key_backup(text, "c")


def test_master_key_backup_numeric_looking_value_stays_text() -> None:
    # base64 "0123" is a valid value that a YAML 1.1 loader would read as an octal int
    text = SECRET_YAML.format(data="  key: 0123")
    assert masterkey.load_master_key_backup(text).raw_value == base64.b64decode("0123")


def test_master_key_backup_from_kubectl_with_server_fields() -> None:
    text = (
        "apiVersion: v1\ndata:\n  key: " + _b64(RAW_KEY) + "\nkind: Secret\nmetadata:\n"
        "  creationTimestamp: \"2025-01-01T00:00:00Z\"\n  name: master-key\n  namespace: prod\n"
        "  resourceVersion: \"123\"\n  uid: 6f0b\ntype: Opaque\n"
    )
    backup = masterkey.load_master_key_backup(text)
    assert backup.namespace == "prod" and backup.key == RAW_KEY
