"""How backups are laid out in backup storage, as patterns turned into path matchers.

A layout names, per store, where its backups live relative to the backup root
(``postgres/dumps/{ts}/{db}.dump``). ``{ts}`` is a backup run's time written with a strftime
format (one for every store, or one per store), ``{db}`` a database, ``{bucket}``/``{key}`` an
object, ``{database}``/``{table}`` a warehouse table. The default layout is the one the
reference backup producer writes::

    postgres/dumps/{ts}/{db}.dump          pg_dump -Fc of each of the five databases, daily
    postgres/base/{ts}/                    pg_basebackup -Fp with backup_manifest (SHA-256)
    postgres/wal/<segment>                 continuous WAL archive (archive_command)
    objects/{bucket}/{key}                 replica of every bucket; never deletes
    warehouse/{ts}/{database}/{table}.sql  per-table snapshot (MariaDB stand-in for StarRocks)
    warehouse/{ts}/snapshot.json           tables, row counts and MD5 of each snapshot file
    master-key/master-key.backup.yaml      the master-key Secret as the runbook captures it

The literal parts of a pattern are matched literally (regex metacharacters escaped), each
placeholder by a group: ``{ts}`` by a regex derived from its strftime format and validated
with ``strptime``, ``{key}`` by anything (object keys contain ``/``), the other placeholders
by one path component. A pattern matches a file exactly, or a folder: then every file below
it matches with the rest of its path in :attr:`Match.rest`, which is how folder backups
(``pg_basebackup -Fp``, ``pg_dump -Fd``) are recognised.

Every pattern the configuration accepts must round-trip (a file written by
:meth:`PathPattern.format` is found again by :meth:`PathPattern.match` with the same
values), so :meth:`Layout.compile` refuses, when the configuration loads, what cannot: an
unknown or missing placeholder, two placeholders with nothing between them, a timestamp
format that cannot date a backup, and patterns of two stores that would claim each other's
files.
"""

from __future__ import annotations

import dataclasses
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
        previous: str | None = None
        for literal, fname, spec, conv in parsed:
            if fname is not None and previous is not None and not literal:
                # "{db}{ts}": no literal tells where one value ends and the next begins, so
                # a file written for one pair of values may be read back as another.
                raise ConfigError(
                    f"{where} puts {{{previous}}} and {{{fname}}} side by side",
                    remedy=f"separate them in backups.{name} with a literal character, e.g. "
                           f"{{{previous}}}_{{{fname}}} or {{{previous}}}/{{{fname}}}")
            previous = fname
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

    @property
    def resolution(self) -> dt.timedelta:
        """How much time one ``{ts}`` value covers: a name stamped ``%Y-%m-%d`` says only
        which day its run was."""
        fmt = self.timestamp_format
        for directives, span in ((("%S", "%s", "%f"), dt.timedelta(seconds=1)),
                                 (("%M",), dt.timedelta(minutes=1)),
                                 (("%H", "%I"), dt.timedelta(hours=1))):
            if any(d in fmt for d in directives):
                return span
        return dt.timedelta(days=1)

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


# The date parts a timestamp format needs to name one backup run's day.
_YEAR = ("%Y", "%y", "%G")
_DAY = (("%m", "%d"), ("%j",), ("%b", "%d"), ("%B", "%d"))
# A time every format is tried with: every field differs from its neighbours and from zero.
_PROBE_TIME = dt.datetime(2031, 11, 28, 13, 47, 56, tzinfo=dt.timezone.utc)
# Sample values used to check that no pattern claims another store's files.
_SAMPLES = {"db": "analytics", "bucket": "scrydon-kb", "key": "org_1/docs/a b.txt",
            "database": "scrydon_managed", "table": "t_orders"}

TIMESTAMP_FORMAT = "%Y-%m-%dT%H%M%SZ"


def check_timestamp_format(key: str, fmt: str) -> None:
    """Refuse a strftime format that cannot name a backup run's time unambiguously."""
    where = f"backups.{key} = {fmt!r}"
    if not any(y in fmt for y in _YEAR) or not any(all(d in fmt for d in group)
                                                  for group in _DAY):
        raise ConfigError(f"{where} cannot date a backup: it needs a year and a day "
                          "(%Y with %m and %d, or %j)",
                          remedy=f"set backups.{key} to the format your backup jobs use, e.g. "
                                 f"{TIMESTAMP_FORMAT}")
    text = _PROBE_TIME.strftime(fmt)
    if not re.fullmatch(timestamp_regex(fmt), text) or parse_timestamp(text, fmt) is None:
        raise ConfigError(f"{where}: a time written with it ({text!r}) cannot be read back",
                          remedy="use zero-padded numeric directives (%Y %m %d %H %M %S)")
    if "{" in text or "}" in text:
        raise ConfigError(f"{where} writes a brace, which layout patterns reserve",
                          remedy="remove the brace from the format")


@dataclass(frozen=True)
class StoreSpec:
    """What one store's pattern must and may contain, and its configuration keys."""

    key: str  # the [backups] key of the pattern
    required: tuple[str, ...]
    allowed: tuple[str, ...]
    format_key: str  # the [backups] key of its own timestamp format ("" when it has none)


#: Every store of the layout, in the order errors are reported.
STORE_SPECS: dict[str, StoreSpec] = {
    "postgres-dump": StoreSpec("postgres_dump", ("db",), ("ts", "db"), "dump_timestamp_format"),
    "base-backup": StoreSpec("base_backup", (), ("ts",), "base_timestamp_format"),
    "wal-archive": StoreSpec("wal_archive", (), (), ""),
    "objects": StoreSpec("objects_replica", ("bucket", "key"), ("bucket", "key"), ""),
    "warehouse": StoreSpec("warehouse_table", ("table",), ("ts", "database", "table"),
                           "warehouse_timestamp_format"),
    "warehouse-manifest": StoreSpec("warehouse_manifest", (), ("ts", "database"),
                                    "warehouse_timestamp_format"),
    "master-key": StoreSpec("master_key", (), ("ts",), "master_key_timestamp_format"),
}


@dataclass(frozen=True)
class Layout:
    """Patterns locating each store's backups, relative to the backup root.

    ``timestamp_format`` writes ``{ts}`` for every store unless the store has its own
    (``dump_timestamp_format``, ``base_timestamp_format``, ``warehouse_timestamp_format``,
    ``master_key_timestamp_format``; empty means "the common one").
    """

    postgres_dump: str = "postgres/dumps/{ts}/{db}.dump"
    base_backup: str = "postgres/base/{ts}"
    wal_archive: str = "postgres/wal"
    objects_replica: str = "objects/{bucket}/{key}"
    warehouse_table: str = "warehouse/{ts}/{database}/{table}.sql"
    warehouse_manifest: str = "warehouse/{ts}/snapshot.json"
    master_key: str = "master-key/master-key.backup.yaml"
    timestamp_format: str = TIMESTAMP_FORMAT
    dump_timestamp_format: str = ""
    base_timestamp_format: str = ""
    warehouse_timestamp_format: str = ""
    master_key_timestamp_format: str = ""

    @classmethod
    def of(cls, settings: object) -> Layout:
        """The layout named by an object with these attributes (the ``[backups]`` section)."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: getattr(settings, n) for n in names if hasattr(settings, n)})

    def pattern_of(self, store: str) -> str:
        """The pattern of ``store`` (a key of :data:`STORE_SPECS`)."""
        return str(getattr(self, STORE_SPECS[store].key))

    def format_of(self, store: str) -> str:
        """The strftime format ``{ts}`` is written with in ``store``'s pattern."""
        spec = STORE_SPECS[store]
        own = str(getattr(self, spec.format_key)) if spec.format_key else ""
        return own or self.timestamp_format

    def stamp(self, at: dt.datetime, store: str = "postgres-dump") -> str:
        """Render a backup time in ``store``'s timestamp format (UTC)."""
        return at.astimezone(dt.timezone.utc).strftime(self.format_of(store))

    def parse_stamp(self, text: str, store: str = "postgres-dump") -> dt.datetime:
        """Parse a timestamp written by :meth:`stamp` (UTC)."""
        value = parse_timestamp(text, self.format_of(store))
        if value is None:
            raise ValueError(f"{text!r} does not match {self.format_of(store)!r}")
        return value

    def compile(self) -> dict[str, PathPattern]:
        """Every store's compiled pattern; :class:`ConfigError` for a layout that would not
        round-trip (see the module's documentation)."""
        checked: set[str] = set()
        for store, spec in STORE_SPECS.items():
            fmt = self.format_of(store)
            key = spec.format_key if spec.format_key and getattr(self, spec.format_key) \
                else "timestamp_format"
            if "ts" in self.pattern_of(store) and key not in checked:
                check_timestamp_format(key, fmt)
                checked.add(key)
        patterns = {store: PathPattern.compile(spec.key, self.pattern_of(store),
                                               self.format_of(store), required=spec.required,
                                               allowed=spec.allowed)
                    for store, spec in STORE_SPECS.items()}
        self._check_round_trip(patterns)
        self._check_disjoint(patterns)
        return patterns

    def _sample_path(self, store: str, pattern: PathPattern) -> str:
        values = dict(_SAMPLES, ts=_PROBE_TIME.strftime(pattern.timestamp_format))
        path = pattern.format(**{f: values[f] for f in pattern.fields})
        if store in ("base-backup", "wal-archive"):
            path += "/000000010000000000000001"  # a file below the folder
        return path

    def _check_round_trip(self, patterns: dict[str, PathPattern]) -> None:
        for store, pattern in patterns.items():
            path = self._sample_path(store, pattern)
            if store == "wal-archive":
                continue
            m = pattern.match(path)
            values = dict(_SAMPLES, ts=_PROBE_TIME.strftime(pattern.timestamp_format))
            expected = {f: values[f] for f in pattern.fields}
            if m is None or m.values != expected:
                found = "nothing" if m is None else ", ".join(
                    f"{{{k}}}={v!r}" for k, v in sorted(m.values.items()))
                raise ConfigError(
                    f"backups.{pattern.name} = {pattern.pattern!r} does not read back what it "
                    f"names: {path!r} gives {found}",
                    remedy=f"make the parts of backups.{pattern.name} unambiguous (a literal "
                           "between placeholders that may contain it)")

    def _check_disjoint(self, patterns: dict[str, PathPattern]) -> None:
        for store, pattern in patterns.items():
            path = self._sample_path(store, pattern)
            for other, other_pattern in patterns.items():
                if other == store or other_pattern.match(path) is None:
                    continue
                if {store, other} == {"base-backup", "wal-archive"}:
                    continue  # reported once below if they really overlap
                raise ConfigError(
                    f"backups.{other_pattern.name} = {other_pattern.pattern!r} also matches "
                    f"{STORE_SPECS[store].key.replace('_', ' ')} files such as {path!r} "
                    f"(backups.{pattern.name} = {pattern.pattern!r}): the catalogue could "
                    "not tell the two stores apart",
                    remedy=f"give backups.{other_pattern.name} a folder or suffix of its own")
        base, wal_pattern = patterns["base-backup"], patterns["wal-archive"]
        if base.list_prefix == wal_pattern.pattern or wal_pattern.match(base.list_prefix + "/x"):
            raise ConfigError(
                f"backups.wal_archive = {wal_pattern.pattern!r} contains the base backups "
                f"(backups.base_backup = {base.pattern!r})",
                remedy="keep WAL segments and base backups in separate folders")


DEFAULT_LAYOUT = Layout()
