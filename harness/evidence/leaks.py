"""Keeping secrets out of evidence: redaction before writing, a scan of every artefact after.

A secret can reach an artefact in many spellings: as is, JSON- or HTML-escaped, URL-encoded
(a DSN password), base64 or hex encoded (a master key), or base64-encoded as part of a longer
value. :func:`secret_forms` lists them all; :func:`redact_text` removes them from text before
it enters a report and :func:`scan_for_secrets` proves afterwards that none is left.
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

    def text(self, value: str) -> str:
        """``value`` without secrets."""
        for needle in self.needles:
            if needle in value:
                value = value.replace(needle, MASK)
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
    findings: list[SecretFinding] = []
    for path in files:
        data = path.read_bytes()
        for label, form, needle in needles:
            at = data.find(needle)
            if at >= 0:
                findings.append(SecretFinding(str(path), label, form, at))
    return findings
