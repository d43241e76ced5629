"""Compliance mapping: which controls (ISO 27001, SOC 2, NIST 800-53, DORA...) a check evidences.

The mapping lives in a data file, ``harness/data/controls.toml``, that users extend with their
own file (``evidence.controls_file``). See that file for the layout and the matching rules.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from harness.config import load_toml
from harness.errors import ConfigError
from harness.records import RunRecord

CONTROL_FIELDS = ("framework", "ref", "title", "description")


@dataclass
class ControlCatalog:
    """Known controls and the check-to-control mapping."""

    controls: dict[str, dict[str, str]] = field(default_factory=dict)
    mapping: dict[str, list[str]] = field(default_factory=dict)  # check id or pattern -> ids
    sources: list[str] = field(default_factory=list)

    def for_check(self, check_id: str) -> list[str]:
        """Control ids for a check: exact id, else the most specific pattern, else ``"*"``.

        A parametrized check id such as ``signin.offline[admin]`` matches as ``signin.offline``
        when it has no entry of its own.
        """
        base = check_id.split("[", 1)[0]
        for key in (check_id, base):
            if key in self.mapping:
                return list(self.mapping[key])
        best: tuple[int, str] | None = None
        for pattern in self.mapping:
            if "*" not in pattern or pattern == "*":
                continue
            prefix = pattern.split("*", 1)[0]
            if _glob(pattern, base) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), pattern)
        if best is not None:
            return list(self.mapping[best[1]])
        return list(self.mapping.get("*", []))

    def describe(self, control_id: str) -> dict[str, str]:
        """The catalogue entry of a control; an unknown id gets a placeholder saying so."""
        if control_id in self.controls:
            return dict(self.controls[control_id])
        framework, _, ref = control_id.partition(":")
        return {"framework": framework if ref else "", "ref": ref or control_id,
                "title": "(not in the controls catalogue)",
                "description": f"add [controls.\"{control_id}\"] to evidence.controls_file"}

    def merge(self, data: dict[str, object], origin: str) -> None:
        """Add the controls and mappings of one parsed TOML document (later files win)."""
        unknown = set(data) - {"controls", "checks"}
        if unknown:
            raise ConfigError(f"unknown table(s) {sorted(unknown)} in controls file {origin}",
                              path=origin, remedy="use only [controls.\"<id>\"] and [checks]")
        controls = data.get("controls", {})
        if not isinstance(controls, dict):
            raise ConfigError(f"[controls] in {origin} must be a table", path=origin)
        for cid, entry in controls.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("title"), str):
                raise ConfigError(f"control {cid!r} in {origin} needs at least a title",
                                  path=origin,
                                  remedy=f"write [controls.\"{cid}\"] with framework, ref, "
                                  "title and description strings")
            self.controls[cid] = {k: str(entry.get(k, "")) for k in CONTROL_FIELDS}
        checks = data.get("checks", {})
        if not isinstance(checks, dict):
            raise ConfigError(f"[checks] in {origin} must be a table", path=origin)
        for key, ids in checks.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ConfigError(f"[checks] {key!r} in {origin} must be a list of control ids",
                                  path=origin, remedy=f'write "{key}" = ["ISO27001:A.8.13"]')
            self.mapping[key] = list(ids)
        self.sources.append(origin)


def _glob(pattern: str, text: str) -> bool:
    """``*`` matches any run of characters; nothing else is special (ids contain dots)."""
    parts = pattern.split("*")
    if not text.startswith(parts[0]):
        return False
    pos = len(parts[0])
    for middle in parts[1:-1]:
        found = text.find(middle, pos)
        if found < 0:
            return False
        pos = found + len(middle)
    return text.endswith(parts[-1]) and len(text) - len(parts[-1]) >= pos


def default_catalog_text() -> str:
    """The text of the packaged ``controls.toml``."""
    return resources.files("harness").joinpath("data/controls.toml").read_text(encoding="utf-8")


def load_catalog(extra_file: str | Path | None = None) -> ControlCatalog:
    """The packaged catalogue, extended by ``extra_file`` when given."""
    catalog = ControlCatalog()
    catalog.merge(tomllib.loads(default_catalog_text()), "harness/data/controls.toml")
    if extra_file:
        path = Path(extra_file)
        data = load_toml(path, "controls file", remedy="fix evidence.controls_file")
        catalog.merge(data, str(path))
    return catalog


def apply_controls(record: RunRecord, catalog: ControlCatalog, *,
                   fixed: Collection[str] = ()) -> list[str]:
    """Give each check without controls its mapped ones and fill the record's control catalogue.

    Checks whose id is in ``fixed`` keep their controls even when empty (declared on the
    marker). Returns the cited control ids missing from the catalogue.
    """
    unknown: set[str] = set()
    for check in record.checks:
        if not check.controls and check.id not in fixed:
            check.controls = catalog.for_check(check.id)
        for ctl in check.controls:
            record.control_catalog[ctl] = catalog.describe(ctl)
            if ctl not in catalog.controls:
                unknown.add(ctl)
    return sorted(unknown)
