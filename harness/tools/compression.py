"""Compressed backup files, recognised by their suffix and decompressed while they are read.

WAL archives are usually compressed by the ``archive_command`` (``gzip``, ``lz4``, ``zstd``)
or by the archiving tool (pgBackRest: gz, bz2, lz4, zst; WAL-G: lz4, zstd, xz); warehouse
snapshot files may be too. The codec follows from the file name's last suffix; a name
without a known suffix is read as is.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from harness.errors import DrillError

#: File suffix -> codec name.
SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".lz4": "lz4", ".zst": "zstd",
            ".zstd": "zstd"}
_CHUNK = 1 << 20


def split_codec(name: str) -> tuple[str, str | None]:
    """``("000000010000000000000003", "gzip")`` for ``000000010000000000000003.gz``."""
    for suffix, codec in SUFFIXES.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


def decompressing_reader(raw: IO[bytes], codec: str | None) -> IO[bytes]:
    """A binary stream of the decompressed content of ``raw``."""
    if codec is None:
        return raw
    if codec == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if codec == "bzip2":
        return cast(IO[bytes], bz2.BZ2File(raw, mode="rb"))
    if codec == "xz":
        return cast(IO[bytes], lzma.LZMAFile(raw, mode="rb"))
    if codec == "lz4":
        import lz4.frame  # an optional dependency, needed only for lz4 archives

        return cast(IO[bytes], lz4.frame.LZ4FrameFile(raw, mode="rb"))
    if codec == "zstd":
        import zstandard

        return cast(IO[bytes], zstandard.ZstdDecompressor().stream_reader(raw, closefd=False))
    raise ValueError(f"unknown codec {codec!r}")


@contextmanager
def open_decompressed(path: Path) -> Iterator[IO[bytes]]:
    """Open a local file for reading, decompressed according to its suffix."""
    _, codec = split_codec(path.name)
    with path.open("rb") as raw, decompressing_reader(raw, codec) as reader:
        yield reader


def decompress_to(src: Path, dst: Path, *, store: str = "postgres") -> int:
    """Write the decompressed content of ``src`` to ``dst``; return its size in bytes.

    A damaged or truncated compressed file is a :class:`DrillError` naming the file.
    """
    _, codec = split_codec(src.name)
    try:
        with open_decompressed(src) as reader, dst.open("wb") as out:
            shutil.copyfileobj(reader, out, _CHUNK)
    except (OSError, EOFError, ValueError, RuntimeError) as exc:
        dst.unlink(missing_ok=True)
        raise DrillError(f"{src.name} cannot be decompressed as {codec}: "
                         f"{type(exc).__name__}: {exc}", store=store, path=str(src),
                         remedy="the compressed file is damaged or cut short; check the job "
                                "that wrote it") from exc
    return dst.stat().st_size
