"""The Debian mirror, as this machine's apt is configured to use it.

The base image is bootstrapped from, and later image builds install from, the mirror named in
the machine's own apt sources (one-line ``*.list`` files and deb822 ``*.sources`` files): a
machine that can install Debian packages can then build the images, and no address is
hard-coded. ``SCRYDON_DRILL_IMAGES_MIRROR`` names a mirror explicitly (e.g. on Ubuntu, whose
sources name no Debian mirror).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from harness.images.errors import ImageInputMissing

MIRROR_ENV = "SCRYDON_DRILL_IMAGES_MIRROR"
# apt options carried into the image when the machine sets them: a mirror that serves an
# archive snapshot is only usable with them, in the image exactly as on the machine.
CARRIED_APT_OPTIONS = ("Acquire::Check-Valid-Until", "Acquire::Check-Date")


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` entry: where, which suites, which components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]

    def line(self) -> str:
        """The entry in one-line ``sources.list`` format."""
        return f"deb {self.uri} {' '.join(self.suites)} {' '.join(self.components)}"


def _one_line_entries(text: str) -> Iterable[AptSource]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        # Options in brackets ([arch=amd64 signed-by=...]) do not change where packages come from.
        line = re.sub(r"\[[^\]]*\]", " ", line)
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "deb":
            yield AptSource(uri=parts[1], suites=(parts[2],), components=tuple(parts[3:]))


def _deb822_entries(text: str) -> Iterable[AptSource]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:  # continuation line
                fields[key] += " " + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield AptSource(uri=uri, suites=tuple(fields.get("suites", "").split()),
                            components=tuple(fields.get("components", "").split()))


def read_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every enabled ``deb`` entry of the machine's apt sources, in apt's reading order."""
    entries: list[AptSource] = []
    main = etc_apt / "sources.list"
    if main.is_file():
        entries.extend(_one_line_entries(main.read_text(errors="replace")))
    parts = etc_apt / "sources.list.d"
    for path in sorted(parts.glob("*")) if parts.is_dir() else []:
        # apt reads only these two extensions; "*.disabled" and the like are ignored as by apt.
        if path.suffix == ".list":
            entries.extend(_one_line_entries(path.read_text(errors="replace")))
        elif path.suffix == ".sources":
            entries.extend(_deb822_entries(path.read_text(errors="replace")))
    return entries


def _path_tail(uri: str) -> str:
    return urlparse(uri).path.rstrip("/").rsplit("/", 1)[-1]


def debian_sources(suite: str, etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """The entries the base image uses for ``suite``: the archive, ``-updates``, ``-security``.

    The archive mirror is the one the machine uses for ``suite`` itself, or for any suite of
    an archive whose path ends in ``/debian`` (so a trixie machine's mirror serves bookworm);
    likewise ``/debian-security`` for security updates. Only the ``main`` component is used.
    Raises :class:`ImageInputMissing` when no Debian mirror is configured.
    """
    override = os.environ.get(MIRROR_ENV, "").strip()
    if override:
        return [AptSource(override, (suite, f"{suite}-updates"), ("main",))]
    entries = read_sources(etc_apt)
    archive = _pick(entries, suite, "debian")
    if archive is None:
        raise ImageInputMissing(
            f"no Debian mirror for {suite} found in this machine's apt sources",
            path=str(etc_apt / "sources.list.d"),
            remedy=f"add a Debian mirror to the apt sources, or set {MIRROR_ENV} to one "
                   "(e.g. the mirror your organisation's machines install Debian packages from)",
        )
    chosen = [AptSource(archive, (suite, f"{suite}-updates"), ("main",))]
    security = _pick(entries, f"{suite}-security", "debian-security")
    if security is not None:
        chosen.append(AptSource(security, (f"{suite}-security",), ("main",)))
    return chosen


def _pick(entries: list[AptSource], suite: str, tail: str) -> str | None:
    # Only entries with Debian's "main" component: third-party repositories that reuse the
    # codename as their suite (e.g. Docker's ".../linux/debian bookworm stable") are not mirrors.
    archives = [e for e in entries if "main" in e.components]
    for entry in archives:
        if suite in entry.suites:
            return entry.uri
    for entry in archives:
        if _path_tail(entry.uri) == tail:
            return entry.uri
    return None


def mirror(suite: str, etc_apt: Path = Path("/etc/apt")) -> str:
    """The archive mirror debootstrap fetches ``suite`` from."""
    return debian_sources(suite, etc_apt)[0].uri


def carried_apt_options() -> dict[str, str]:
    """The :data:`CARRIED_APT_OPTIONS` this machine's apt sets, with their values."""
    try:
        out = subprocess.run(["apt-config", "dump"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r'^(\S+) "(.*)";$', line.strip())
        if m and m.group(1) in CARRIED_APT_OPTIONS:
            found[m.group(1)] = m.group(2)
    return found
