"""Reading pg_dump headers without PostgreSQL tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import DrillError
from harness.tools.dumpinfo import parse_toc_listing, read_dump_header


def header_bytes(server: str = "18.4", dumper: str = "18.4", db: str = "auth") -> bytes:
    """A custom-format header as pg_dump 18 writes it (archive version 1.16)."""
    def i(v: int) -> bytes:
        return bytes([1 if v < 0 else 0]) + abs(v).to_bytes(4, "little")

    def s(v: str) -> bytes:
        raw = v.encode()
        return i(len(raw)) + raw

    head = b"PGDMP" + bytes([1, 16, 0, 4, 8, 1, 1])
    head += b"".join(i(v) for v in (5, 4, 3, 24, 10, 126, 0))
    return head + s(db) + s(server) + s(dumper) + b"\0" * 32


def test_reads_versions_and_name(tmp_path: Path) -> None:
    p = tmp_path / "auth.dump"
    p.write_bytes(header_bytes())
    h = read_dump_header(p)
    assert (h.dbname, h.server_version, h.pg_dump_version) == ("auth", "18.4", "18.4")
    assert h.server_major == 18 and h.format == "custom" and h.archive_version == (1, 16, 0)
    assert h.created == "2026-11-24 03:04:05"


def test_directory_format_reads_toc_dat(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "toc.dat").write_bytes(header_bytes(server="16.3", dumper="16.3"))
    assert read_dump_header(tmp_path / "d").server_major == 16


def test_truncated_and_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    cut = tmp_path / "cut.dump"
    cut.write_bytes(header_bytes()[:30])
    with pytest.raises(DrillError, match="cut short"):
        read_dump_header(cut)
    plain = tmp_path / "plain.sql"
    plain.write_text("-- PostgreSQL database dump\n")
    with pytest.raises(DrillError, match="plain SQL script"):
        read_dump_header(plain)
    with pytest.raises(DrillError, match="cannot read dump"):
        read_dump_header(tmp_path / "absent.dump")


def test_toc_listing_extensions_and_tables() -> None:
    listing = """;
;     TOC Entries: 42
;
2; 3079 16390 EXTENSION - vector
3; 0 0 COMMENT - EXTENSION vector
215; 1259 16400 TABLE public kb_document postgres
3400; 0 16400 TABLE DATA public kb_document postgres
3401; 0 16410 TABLE DATA public workflow postgres
"""
    toc = parse_toc_listing(listing)
    assert toc.entries == 42 and toc.extensions == ("vector",)
    assert toc.tables == ("public.kb_document", "public.workflow")
