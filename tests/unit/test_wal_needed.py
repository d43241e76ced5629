"""Which archived WAL files a point-in-time recovery from one base backup can read."""

from __future__ import annotations

from harness.catalog.wal import needed_for_recovery, parse_backup_label

LABEL = parse_backup_label(
    "START WAL LOCATION: 0/1C000028 (file 00000002000000000000001C)\n"
    "CHECKPOINT LOCATION: 0/1C000060\nSTART TIMELINE: 2\n"
    "START TIME: 2026-11-28 02:00:03 UTC\n")


def test_segments_before_the_base_backup_or_on_an_older_timeline_are_left_out() -> None:
    names = [
        "00000001000000000000001A",          # older segment, older timeline
        "00000001000000000000001D",          # after the start, but the older timeline
        "00000002000000000000001B",          # the base's timeline, one before its start
        "00000002000000000000001C",          # the start segment
        "00000002000000000000001C.00000028.backup",
        "00000002000000000000001D.gz",       # compressed
        "00000002000000000000001E-" + "a" * 40 + ".zst",  # pgBackRest's name
        "000000020000000100000000",          # the next log: its number is larger
        "000000030000000000000020.partial",  # kept: not a plain segment name
        "00000003.history",
        "000000030000000000000020",          # a later timeline
        "00000002000000000000000F.lz4",      # long before
    ]
    assert needed_for_recovery(names, LABEL) == [
        "00000002000000000000001C",
        "00000002000000000000001C.00000028.backup",
        "00000002000000000000001D.gz",
        "00000002000000000000001E-" + "a" * 40 + ".zst",
        "000000020000000100000000",
        "000000030000000000000020.partial",
        "00000003.history",
        "000000030000000000000020",
    ]
