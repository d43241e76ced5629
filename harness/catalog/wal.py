"""PostgreSQL WAL archive arithmetic and the tools that confirm it.

A WAL segment file is named ``TTTTTTTTXXXXXXXXYYYYYYYY``: timeline, then the segment number
split into a "log" (xlogid) part and a segment-within-log part. How many segments one log
holds depends on the cluster's ``wal_segment_size`` (``0x100000000 // size``: 4096 at 1 MiB,
256 at 16 MiB), so gaps can only be computed once that size is known.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import tarfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.tools.compression import split_codec

SEGMENT_NAME = re.compile(r"^[0-9A-F]{24}$")
# "... at 0/1C00028": where pg_waldump stopped (other LSNs in a message, such as a bad
# prev-link, may be garbage read from a damaged record).
_AT_LSN = re.compile(r"\bat ([0-9A-F]{1,8})/([0-9A-F]{1,8})\b")
_XLOGID_SPAN = 0x100000000


# A segment as archived: plain, or as pgBackRest names it (a SHA-1 after a dash); any of
# them possibly compressed (see harness.tools.compression).
_ARCHIVED = re.compile(r"^([0-9A-F]{24})(?:-[0-9a-f]{40})?$")


def archived_segment(name: str) -> tuple[str, str | None] | None:
    """``(segment name, codec)`` of an archived WAL segment file, None for other files."""
    base, codec = split_codec(name)
    m = _ARCHIVED.match(base)
    return (m.group(1), codec) if m else None


def needed_for_recovery(names: Iterable[str], label: BackupLabel) -> list[str]:
    """Which archived files recovery from the base backup ``label`` describes can read:
    every segment of its timeline or a later one from its start segment on, and every
    other file (``.history``, ``.backup``, ``.partial``); older segments are left out."""
    start_tl = int(label.start_file[:8], 16)
    start_no = int(label.start_file[8:], 16)  # log and segment together keep their order
    out = []
    for name in names:
        found = archived_segment(name)
        if found and (int(found[0][:8], 16) < start_tl or int(found[0][8:], 16) < start_no):
            continue
        out.append(name)
    return out


def is_segment(name: str) -> bool:
    """True for a WAL segment file name (not ``.backup``, ``.history`` or ``.partial``)."""
    return bool(SEGMENT_NAME.match(name))


def valid_segment_size(size: int) -> bool:
    """True for a ``wal_segment_size`` PostgreSQL accepts (a power of two, 1 MiB to 1 GiB)."""
    return (1 << 20) <= size <= (1 << 30) and size & (size - 1) == 0


def segments_per_xlogid(seg_size: int) -> int:
    """How many segments one "log" (xlogid) holds."""
    return _XLOGID_SPAN // seg_size


def timeline_of(name: str) -> int:
    """The timeline of a segment file name."""
    return int(name[:8], 16)


def segno(name: str, seg_size: int) -> int:
    """The segment number of a segment file name (the same on every timeline)."""
    log, seg = int(name[8:16], 16), int(name[16:24], 16)
    per = segments_per_xlogid(seg_size)
    if seg >= per:
        raise ValueError(f"{name} cannot exist with {seg_size} byte segments "
                         f"(only {per} segments per log)")
    return log * per + seg


def segment_name(timeline: int, number: int, seg_size: int) -> str:
    """The file name of segment ``number`` on ``timeline``."""
    per = segments_per_xlogid(seg_size)
    return f"{timeline:08X}{number // per:08X}{number % per:08X}"


def parse_lsn(text: str) -> int:
    """``0/1B00028`` as a 64-bit position."""
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


@dataclass(frozen=True)
class BackupLabel:
    """What a base backup's ``backup_label`` says about where its WAL starts."""

    start_lsn: int
    start_file: str
    timeline: int
    start_time: str


def parse_backup_label(text: str) -> BackupLabel:
    """Parse ``backup_label`` (or an archived ``.backup`` file); ValueError if malformed."""
    m = re.search(r"START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)", text)
    if not m:
        raise ValueError("no 'START WAL LOCATION' line")
    tl = re.search(r"START TIMELINE: (\d+)", text)
    st = re.search(r"START TIME: (.+)", text)
    return BackupLabel(start_lsn=parse_lsn(m.group(1)), start_file=m.group(2),
                       timeline=int(tl.group(1)) if tl else timeline_of(m.group(2)),
                       start_time=st.group(1).strip() if st else "")


_ZONE_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})?$")


def label_start_time(text: str, zone: dt.tzinfo) -> dt.datetime | None:
    """``START TIME`` of a backup_label (``2026-11-29 02:00:03 UTC``) as a UTC time.

    PostgreSQL writes the server's ``log_timezone`` abbreviation: ``UTC``/``GMT`` and numeric
    offsets are exact; another abbreviation is read as local time of ``zone``.
    """
    parts = text.strip().rsplit(" ", 1)
    try:
        naive = dt.datetime.strptime(parts[0], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    abbrev = parts[1] if len(parts) > 1 else ""
    if abbrev in ("UTC", "GMT", "Z", "UCT"):
        return naive.replace(tzinfo=dt.timezone.utc)
    m = _ZONE_OFFSET.match(abbrev)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        offset = dt.timedelta(minutes=minutes if m.group(1) == "+" else -minutes)
        return naive.replace(tzinfo=dt.timezone(offset)).astimezone(dt.timezone.utc)
    return naive.replace(tzinfo=zone).astimezone(dt.timezone.utc)


def base_member(source: Any, base_relpath: str, member: str) -> bytes | None:
    """A file of a base backup in ``source``: plain format, or inside ``base.tar[.gz]``."""
    rel = f"{base_relpath}/{member}"
    if source.exists(rel):
        return bytes(source.read_bytes(rel))
    for name in ("base.tar", "base.tar.gz"):
        if source.exists(f"{base_relpath}/{name}"):
            with source.open(f"{base_relpath}/{name}") as fh, \
                    tarfile.open(fileobj=fh, mode="r|*") as tar:
                for info in tar:
                    if info.name.lstrip("./") == member and info.isfile():
                        extracted = tar.extractfile(info)
                        return extracted.read() if extracted else None
    return None


def read_backup_label(source: Any, base_relpath: str) -> BackupLabel | None:
    """The ``backup_label`` of a base backup in ``source``; None when it is absent or
    cannot be parsed."""
    raw = base_member(source, base_relpath, "backup_label")
    if raw is None:
        return None
    try:
        return parse_backup_label(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None


def infer_segment_size(sizes: Iterable[int]) -> int | None:
    """The segment size the archive's files show (their most common size), if plausible."""
    common = Counter(s for s in sizes if valid_segment_size(s)).most_common(1)
    return common[0][0] if common else None


def find_gaps(numbers: Iterable[int], start: int, end: int) -> list[tuple[int, int]]:
    """Ranges ``(first, last)`` of segment numbers missing between ``start`` and ``end``."""
    have = set(numbers)
    gaps: list[tuple[int, int]] = []
    first: int | None = None
    for n in range(start, end + 1):
        if n not in have:
            first = n if first is None else first
        elif first is not None:
            gaps.append((first, n - 1))
            first = None
    if first is not None:
        gaps.append((first, end))
    return gaps


def describe_gaps(gaps: list[tuple[int, int]], timeline: int, seg_size: int) -> list[str]:
    """``00000001000000000000001C`` or ``…1C to …1F (4 segments)`` per gap."""
    out = []
    for a, b in gaps:
        if a == b:
            out.append(segment_name(timeline, a, seg_size))
        else:
            out.append(f"{segment_name(timeline, a, seg_size)} to "
                       f"{segment_name(timeline, b, seg_size)} ({b - a + 1} segments)")
    return out


def controldata_segment_size(pg_controldata: str, datadir: Path,
                             timeout: float = 30) -> tuple[int | None, str]:
    """``Bytes per WAL segment`` according to ``pg_controldata -D datadir``, and its output."""
    proc = subprocess.run([pg_controldata, "-D", str(datadir)], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    out = (proc.stdout + proc.stderr).strip()
    if "CRC" in out and "does not match" in out:
        return None, "pg_control is damaged (CRC mismatch): " + out.splitlines()[0]
    m = re.search(r"Bytes per WAL segment:\s+(\d+)", proc.stdout)
    size = int(m.group(1)) if m else None
    return (size if size and valid_segment_size(size) else None), out


@dataclass(frozen=True)
class WalDump:
    """What ``pg_waldump -p ARCHIVE START END`` said about a stretch of the archive."""

    argv: list[str]
    returncode: int
    stderr: str
    missing_file: str | None  # a segment pg_waldump needed and could not find
    bad_file: str | None  # a segment it could not read to the end
    stopped_at: int | None  # the LSN where it could not go on (the last "at X/Y" it printed)

    def continuous(self, end_segno: int, seg_size: int) -> bool:
        """True when pg_waldump read through to the end segment.

        It exits 1 at the end of WAL that was not switched out (a record it cannot decode
        in the last segment); only an error before the last segment means a break.
        """
        if self.returncode == 0:
            return True
        if self.missing_file or (self.bad_file and segno(self.bad_file, seg_size) < end_segno):
            return False
        if self.stopped_at is not None:
            return self.stopped_at // seg_size >= end_segno
        return False


def run_waldump(pg_waldump: str, archive: Path, start: str, end: str,
                timeout: float = 300) -> WalDump:
    """Read every record from segment ``start`` through ``end`` quietly (``-q``)."""
    argv = [pg_waldump, "-q", "-p", str(archive), start, end]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    err = proc.stderr.strip()
    missing = re.search(r'could not find file "?([0-9A-F]{24})', err)
    bad = re.search(r"could not read from file ([0-9A-F]{24})", err)
    lsns = [(int(a, 16) << 32) | int(b, 16) for a, b in _AT_LSN.findall(err)]
    return WalDump(argv=argv, returncode=proc.returncode, stderr=err,
                   missing_file=missing.group(1) if missing else None,
                   bad_file=bad.group(1) if bad else None,
                   stopped_at=lsns[-1] if lsns else None)
