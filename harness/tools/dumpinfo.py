"""Read a pg_dump archive's header without any PostgreSQL tool.

pg_restore refuses archives written by a newer pg_dump, so asking the scratch server's own
pg_restore about a too-new dump only yields "unsupported version". Parsing the header here
gives the versions in every case, so the harness can say *which* versions clash before it
restores anything. The layout follows pg_dump's ``WriteHead`` (custom format, and
``toc.dat`` of the directory format).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DrillError

_FORMATS = {1: "custom", 2: "files", 3: "tar", 4: "null", 5: "directory"}


@dataclass(frozen=True)
class DumpHeader:
    """What a pg_dump archive says about itself."""

    path: str
    archive_version: tuple[int, int, int]
    format: str
    dbname: str
    server_version: str  # "Dumped from database version"
    pg_dump_version: str  # "Dumped by pg_dump version"
    created: str  # archive creation time as written (local time of the dumping host)
    isdst: int = -1  # the dumping host's daylight-saving flag at that time (-1: unknown)

    def created_at(self, zone: dt.tzinfo) -> dt.datetime | None:
        """The creation time, read as local time of ``zone`` (pg_dump writes no zone)."""
        try:
            naive = dt.datetime.strptime(self.created, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        # An ambiguous hour (the one repeated when clocks go back) is resolved by the
        # daylight-saving flag the dumping host recorded.
        local = naive.replace(tzinfo=zone, fold=0 if self.isdst > 0 else 1)
        return local.astimezone(dt.timezone.utc)

    @property
    def server_major(self) -> int:
        """Major version of the server the dump was taken from."""
        return _major(self.server_version)

    @property
    def pg_dump_major(self) -> int:
        """Major version of the pg_dump that wrote the archive."""
        return _major(self.pg_dump_version)


def _major(version: str) -> int:
    m = re.match(r"(\d+)", version)
    return int(m.group(1)) if m else 0


class _Reader:
    def __init__(self, data: bytes, path: str) -> None:
        self.data = data
        self.pos = 0
        self.path = path
        self.int_size = 4

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DrillError("the dump's header is cut short", store="postgres", path=self.path,
                             remedy="the file is truncated or not a pg_dump archive")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def int_(self) -> int:
        sign = self.byte()
        raw = self.take(self.int_size)
        value = int.from_bytes(raw, "little")
        return -value if sign else value

    def str_(self) -> str:
        n = self.int_()
        if n < 0:
            return ""
        return self.take(n).decode("utf-8", errors="replace")


HEADER_BYTES = 4096  # enough for any pg_dump header: fixed fields and three short strings


def read_dump_header(path: str | Path) -> DumpHeader:
    """Parse the header of a custom-format dump file or a directory-format dump folder."""
    p = Path(path)
    target = p / "toc.dat" if p.is_dir() else p
    try:
        with target.open("rb") as fh:
            data = fh.read(HEADER_BYTES)
    except OSError as exc:
        raise DrillError(f"cannot read dump: {exc}", store="postgres", path=str(p)) from exc
    return parse_dump_header(data, str(p))


def parse_dump_header(data: bytes, path: str) -> DumpHeader:
    """Parse the first bytes of a pg_dump archive (see :data:`HEADER_BYTES`)."""
    if not data.startswith(b"PGDMP"):
        kind = "a plain SQL script" if data[:2] == b"--" else "not a pg_dump archive"
        raise DrillError(f"the file is {kind} (no PGDMP signature)", store="postgres",
                         path=path, remedy="take dumps with pg_dump -Fc (or -Fd)")
    r = _Reader(data, path)
    r.pos = 5
    version = (r.byte(), r.byte(), r.byte())
    r.int_size = r.byte()
    r.byte()  # offset size
    fmt = _FORMATS.get(r.byte(), "unknown")
    if version >= (1, 15, 0):
        r.byte()  # compression algorithm
    else:
        r.int_()  # compression level
    sec, minute, hour, mday, mon, year, isdst = (r.int_() for _ in range(7))
    dbname = r.str_()
    server = r.str_()
    dumper = r.str_()
    created = f"{year + 1900:04d}-{mon + 1:02d}-{mday:02d} {hour:02d}:{minute:02d}:{sec:02d}"
    return DumpHeader(path=path, archive_version=version, format=fmt, dbname=dbname,
                      server_version=server, pg_dump_version=dumper, created=created,
                      isdst=isdst)


@dataclass(frozen=True)
class DumpToc:
    """The table of contents as ``pg_restore -l`` lists it."""

    entries: int
    extensions: tuple[str, ...]
    tables: tuple[str, ...]  # schema.table with TABLE DATA entries


def parse_toc_listing(listing: str) -> DumpToc:
    """Parse ``pg_restore -l`` output: entry count, extensions and tables with data."""
    m = re.search(r"TOC Entries:\s*(\d+)", listing)
    extensions = tuple(sorted(set(re.findall(r"^\d+; \d+ \d+ EXTENSION - (\S+)", listing,
                                             flags=re.M))))
    tables = tuple(sorted({f"{s}.{t}" for s, t in re.findall(
        r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ", listing, flags=re.M)}))
    return DumpToc(entries=int(m.group(1)) if m else 0, extensions=extensions, tables=tables)
