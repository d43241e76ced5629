"""Keeping secrets out of evidence: redaction before writing, a scan of every artefact after.

A secret can reach an artefact in many spellings: as is, JSON- or HTML-escaped, URL-encoded
(a DSN password), base64 or hex encoded (a master key), or base64-encoded as part of a longer
value. :func:`secret_forms` lists them all; :func:`redact_text` removes them from text before
it enters a report and :func:`scan_for_secrets` proves afterwards that none is left.

A secret can also leak in part: an error quoting one line of a key file carries a piece of
the key. Any run of :data:`FRAGMENT` or more characters of a secret's raw, base64, base64url
or hex spelling counts as a leak, and is masked and searched for like the whole. Raw-spelling
pieces are taken only from secrets that look random (key material, generated tokens) and
only where they mix kinds of character: eight characters of a password made of words
("correct-horse...", "evidence-secret-key-1") occur in ordinary prose, so such a password is
searched for whole, and its encoded spellings in pieces.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter secrets would match by chance all over a report; they are reported as unscannable.
MIN_SECRET_LENGTH = 6
# The encoded core of a secret must be at least this long to be searched for on its own.
_MIN_CORE = 8
#: Length of the pieces of a secret that count as a leak on their own.
FRAGMENT = 8
_FRAGMENT_FORMS = ("raw", "base64", "base64url", "hex", "HEX")
# userinfo of a URL: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"'<>]*:)([^@\s\"'<>]+)(@)")
# libpq keyword DSN: password=... (also inside longer conninfo strings)
_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd|secret_key|secret)(\s*=\s*)([^\s'\"&;,]+)")

T = TypeVar("T")


def _b64_cores(raw: bytes) -> set[str]:
    """Base64 text that appears whenever ``raw`` is encoded, whatever precedes it.

    A secret inside a longer encoded value starts at one of three bit offsets; for each, only
    the characters built from the secret's own bits are stable, so those are what we search.
    """
    cores: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        start = -(-pad * 8 // 6)  # ceil: characters touching the filler bytes
        end = (pad + len(raw)) * 8 // 6  # floor: characters made only of secret bits
        core = encoded[start:end]
        if len(core) >= _MIN_CORE:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def secret_forms(secret: str | bytes) -> dict[str, bytes]:
    """Every spelling of ``secret`` worth searching for, keyed by a name for the form."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    forms: dict[str, bytes] = {"raw": raw}
    text = raw.decode("utf-8", errors="ignore") if isinstance(secret, bytes) else secret
    if text and text.encode("utf-8") == raw:
        forms["json-escaped"] = json.dumps(text)[1:-1].encode()
        forms["json-ascii-escaped"] = json.dumps(text, ensure_ascii=True)[1:-1].encode()
        forms["html-escaped"] = html.escape(text).encode()
        forms["url-encoded"] = quote(text, safe="").encode()
        forms["url-encoded-plus"] = quote_plus(text).encode()
    forms["base64"] = base64.b64encode(raw).rstrip(b"=")
    forms["base64url"] = base64.urlsafe_b64encode(raw).rstrip(b"=")
    for i, core in enumerate(sorted(_b64_cores(raw))):
        forms[f"base64-embedded-{i}"] = core.encode()
    forms["hex"] = raw.hex().encode()
    forms["HEX"] = raw.hex().upper().encode()
    # The same spelling reached by two routes is searched once, under its first name.
    unique: dict[str, bytes] = {}
    for name, value in forms.items():
        if value and value not in unique.values():
            unique[name] = value
    return unique


def looks_random(secret: str | bytes) -> bool:
    """True for key material: binary bytes, or text of 12+ characters mixing lower case,
    upper case and digits (a generated token). "evidence-secret-key-1" is not: pieces of it
    ("evidence") are ordinary words."""
    if isinstance(secret, bytes):
        try:
            secret = secret.decode("ascii")
        except UnicodeDecodeError:
            return True  # binary key material
    return (len(secret) >= 12 and any(c.islower() for c in secret)
            and any(c.isupper() for c in secret) and any(c.isdigit() for c in secret))


def _mixed(piece: bytes) -> bool:
    """A piece of text mixing at least two kinds of character (not a plain word)."""
    kinds = (bytes.islower, bytes.isupper, bytes.isdigit)
    found = sum(any(test(bytes([b])) for b in piece) for test in kinds)
    found += any(not bytes([b]).isalnum() for b in piece)
    return found >= 2


def secret_fragments(secret: str | bytes) -> set[bytes]:
    """Every :data:`FRAGMENT`-character piece of the secret's spellings that counts as a leak."""
    forms = secret_forms(secret)
    pieces: set[bytes] = set()
    for name in _FRAGMENT_FORMS:
        form = forms.get(name)
        if not form or len(form) < FRAGMENT:
            continue
        if name == "raw" and not looks_random(secret):
            continue
        for i in range(len(form) - FRAGMENT + 1):
            piece = form[i:i + FRAGMENT]
            # A raw piece of text that is one plain word occurs in prose by chance.
            if name == "raw" and piece.isascii() and not _mixed(piece):
                continue
            pieces.add(piece)
    return pieces


def _fragment_spans(data: bytes, pieces: set[bytes]) -> list[tuple[int, int]]:
    """Merged ``(start, end)`` byte ranges of ``data`` covered by pieces of a secret."""
    spans: list[tuple[int, int]] = []
    for i in range(len(data) - FRAGMENT + 1):
        if data[i:i + FRAGMENT] in pieces:
            if spans and i <= spans[-1][1]:
                spans[-1] = (spans[-1][0], i + FRAGMENT)
            else:
                spans.append((i, i + FRAGMENT))
    return spans


class Redactor:
    """Replaces known secrets (in every spelling) and URL/keyword passwords with ``***``."""

    def __init__(self, secrets: Iterable[str | bytes] = ()) -> None:
        needles: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_LENGTH:
                continue
            for form in secret_forms(secret).values():
                try:
                    needles.add(form.decode("utf-8"))
                except UnicodeDecodeError:
                    continue  # binary raw form: it cannot appear in text
        # Longest first, so a secret's long spelling is not half-masked by a shorter one.
        self.needles = sorted(needles, key=len, reverse=True)
        self.pieces: set[bytes] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                self.pieces |= secret_fragments(secret)

    def _mask_fragments(self, value: str) -> str:
        if not self.pieces or not value.isascii():
            # Every piece is ASCII (encoded forms, or random text); in non-ASCII text byte
            # offsets would not be character offsets, so pieces are masked per ASCII run.
            if not self.pieces:
                return value
            return re.sub(r"[\x00-\x7f]+", lambda m: self._mask_fragments(m.group(0)), value)
        data = value.encode("ascii")
        spans = _fragment_spans(data, self.pieces)
        for start, end in reversed(spans):
            value = value[:start] + MASK + value[end:]
        return value

    def text(self, value: str) -> str:
        """``value`` without secrets (whole or in pieces)."""
        for needle in self.needles:
            if needle in value:
                value = value.replace(needle, MASK)
        value = self._mask_fragments(value)
        value = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), value)
        return _KV_PASSWORD.sub(lambda m: m.group(1) + m.group(2) + MASK, value)

    def value(self, value: T) -> T:
        """A copy of plain data (dicts, lists, dataclasses, strings) with every string redacted."""
        return self._walk(value)  # type: ignore[no-any-return]

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._walk(v) for v in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self._walk(getattr(value, f.name))
                       for f in dataclasses.fields(value)}
            return dataclasses.replace(value, **changes)
        return value


def redact_text(text: str, secrets: Iterable[str | bytes] = ()) -> str:
    """``text`` with ``secrets`` (every spelling) and URL/keyword passwords masked."""
    return Redactor(secrets).text(text)


@dataclass(frozen=True)
class SecretFinding:
    """One secret found in one artefact. Never carries the secret itself."""

    path: str
    label: str  # which secret, e.g. "admin.password"
    form: str  # which spelling, e.g. "base64"
    offset: int  # byte offset in the file

    def __str__(self) -> str:
        return (f"{self.path}: contains {self.label} ({self.form} form) at byte {self.offset}"
                " — the report leaks a secret; redact it where it enters the run record")


def scan_for_secrets(paths: Path | Iterable[Path], secrets: Mapping[str, str | bytes]
                     ) -> list[SecretFinding]:
    """Search files (or every file under a folder) for each secret in every spelling.

    ``secrets`` maps a label (``"admin.password"``) to the value. Values shorter than
    :data:`MIN_SECRET_LENGTH` cannot be searched meaningfully and raise :class:`ValueError`, so
    a scan never passes by quietly ignoring a secret.
    """
    short = [label for label, value in secrets.items() if len(value) < MIN_SECRET_LENGTH]
    if short:
        raise ValueError(f"secrets too short to scan for ({', '.join(short)}): "
                         f"fewer than {MIN_SECRET_LENGTH} characters would match by chance")
    if isinstance(paths, Path):
        files = sorted(p for p in paths.rglob("*") if p.is_file()) if paths.is_dir() else [paths]
    else:
        files = list(paths)
    needles = [(label, form, needle) for label, value in secrets.items()
               for form, needle in secret_forms(value).items()]
    pieces = {label: secret_fragments(value) for label, value in secrets.items()}
    findings: list[SecretFinding] = []
    for path in files:
        data = path.read_bytes()
        found_whole: set[str] = set()
        for label, form, needle in needles:
            at = data.find(needle)
            if at >= 0:
                findings.append(SecretFinding(str(path), label, form, at))
                found_whole.add(label)
        for label, own in pieces.items():
            if label in found_whole or not own:
                continue
            spans = _fragment_spans(data, own)
            if spans:
                start, end = spans[0]
                findings.append(SecretFinding(str(path), label,
                                              f"a {end - start}-character piece", start))
    return findings
