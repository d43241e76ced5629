"""Layout patterns (``postgres/dumps/{ts}/{db}.dump``) turned into path matchers.

The literal parts of a pattern are matched literally (regex metacharacters escaped), each
placeholder by a group: ``{ts}`` by a regex derived from the strftime ``timestamp_format``
and validated with ``strptime``, ``{key}`` by anything (object keys contain ``/``), the other
placeholders by one path component. A pattern matches a file exactly, or a folder: then every
file below it matches with the rest of its path in :attr:`Match.rest`, which is how folder
backups (``pg_basebackup -Fp``, ``pg_dump -Fd``) are recognised.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass, field

from harness.errors import ConfigError

PLACEHOLDERS = ("ts", "db", "bucket", "key", "database", "table")

_COMPONENT = r"[^/]+"
# strftime directives as regexes; what strftime writes is zero-padded and fixed-width.
_DIRECTIVES = {
    "Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}",
    "I": r"\d{2}", "M": r"\d{2}", "S": r"\d{2}", "j": r"\d{3}", "f": r"\d{6}",
    "z": r"(?:Z|[+-]\d{2}:?\d{2})", "Z": r"[A-Za-z]{1,5}", "b": r"[A-Za-z]{3}",
    "a": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "A": r"[A-Za-z]+", "p": r"[AaPp][Mm]",
    "U": r"\d{2}", "W": r"\d{2}", "V": r"\d{2}", "G": r"\d{4}", "u": r"\d", "w": r"\d",
    "%": "%",
}


def timestamp_regex(fmt: str) -> str:
    """A regex (without groups) matching what ``strftime(fmt)`` writes."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            directive = fmt[i + 1]
            # Unknown directives match lazily; strptime has the last word.
            out.append(_DIRECTIVES.get(directive, r".+?") if directive != "%" else "%")
            i += 2
            continue
        out.append(re.escape(ch))
        i += 1
    return "".join(out)


def parse_timestamp(text: str, fmt: str) -> dt.datetime | None:
    """``text`` parsed with ``fmt`` as UTC (naive times are UTC); None if it does not parse."""
    try:
        value = dt.datetime.strptime(text, fmt)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Match:
    """A path matched by a pattern."""

    values: dict[str, str]  # placeholder -> text
    matched: str  # the part of the path the pattern matched (the file, or the folder)
    rest: str | None  # below a folder match: the rest of the path; None for a file match
    taken_at: dt.datetime | None  # from {ts}, when the pattern has one


@dataclass(frozen=True)
class PathPattern:
    """One compiled layout pattern."""

    name: str  # the configuration key it came from, e.g. "postgres_dump"
    pattern: str
    timestamp_format: str
    fields: tuple[str, ...]
    regex: re.Pattern[str] = field(repr=False, compare=False)
    list_prefix: str  # the literal folder before the first placeholder ("" at the root)

    @classmethod
    def compile(cls, name: str, pattern: str, timestamp_format: str, *,
                required: tuple[str, ...] = (), allowed: tuple[str, ...] = PLACEHOLDERS
                ) -> PathPattern:
        """Compile ``pattern``; :class:`ConfigError` for unknown or missing placeholders."""
        where = f"backups.{name} = {pattern!r}"
        text = pattern.strip().strip("/")
        if not text:
            raise ConfigError(f"{where} is empty", remedy=f"set backups.{name} to a path pattern")
        parts: list[str] = []
        seen: list[str] = []
        first_literal: str | None = None
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ConfigError(f"{where} is not a valid pattern: {exc}",
                              remedy="write placeholders as {ts}, {db}, ...; a literal brace "
                                     "as {{ or }}") from exc
        literal_so_far = ""
        for literal, fname, spec, conv in parsed:
            parts.append(re.escape(literal))
            if first_literal is None:
                literal_so_far += literal
            if fname is None:
                continue
            if fname not in allowed or spec or conv:
                raise ConfigError(
                    f"{where} has an unknown placeholder {{{fname}}}",
                    remedy=f"backups.{name} may use: "
                           + ", ".join("{" + a + "}" for a in allowed))
            if first_literal is None:
                first_literal = literal_so_far
            if fname in seen:
                parts.append(f"(?P={fname})")  # the same value everywhere in one path
                continue
            seen.append(fname)
            if fname == "ts":
                parts.append(f"(?P<ts>{timestamp_regex(timestamp_format)})")
            elif fname == "key":
                parts.append(r"(?P<key>.+)")
            else:
                parts.append(f"(?P<{fname}>{_COMPONENT})")
        missing = [r for r in required if r not in seen]
        if missing:
            raise ConfigError(f"{where} lacks " + ", ".join("{" + m + "}" for m in missing),
                              remedy=f"backups.{name} must contain "
                                     + ", ".join("{" + r + "}" for r in required))
        body = "".join(parts)
        regex = re.compile(rf"^(?P<_m>{body})(?:/(?P<_rest>.+))?$", re.DOTALL)
        if first_literal is None:  # no placeholder: the pattern is one fixed path
            prefix = text.rsplit("/", 1)[0] if "/" in text else ""
        else:
            prefix = first_literal.rsplit("/", 1)[0] if "/" in first_literal else ""
        return cls(name=name, pattern=text, timestamp_format=timestamp_format,
                   fields=tuple(seen), regex=regex, list_prefix=prefix.strip("/"))

    @property
    def has_ts(self) -> bool:
        """True when the pattern carries the backup run's timestamp."""
        return "ts" in self.fields

    def match(self, relpath: str) -> Match | None:
        """Match a file's relative path; None if it does not fit (or ``{ts}`` does not parse)."""
        m = self.regex.match(relpath)
        if not m:
            return None
        values = {k: v for k, v in m.groupdict().items() if not k.startswith("_") and v}
        taken_at = None
        if "ts" in values:
            taken_at = parse_timestamp(values["ts"], self.timestamp_format)
            if taken_at is None:
                return None
        return Match(values=values, matched=m.group("_m"), rest=m.group("_rest"),
                     taken_at=taken_at)

    def format(self, **values: str) -> str:
        """The relative path for the given placeholder values."""
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise ConfigError(f"backups.{self.name} = {self.pattern!r} needs "
                              + ", ".join("{" + m + "}" for m in missing)
                              + " to name one file")
        return self.pattern.format(**values)
