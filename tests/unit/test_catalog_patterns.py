"""Layout patterns as path matchers: literal parts literal, {ts} parsed with its format."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.errors import ConfigError
from harness.layout import PathPattern, timestamp_regex

UTC = dt.timezone.utc
FMT = "%Y-%m-%dT%H%M%SZ"


def test_default_dump_pattern_yields_run_database_and_time() -> None:
    p = PathPattern.compile("postgres_dump", "postgres/dumps/{ts}/{db}.dump", FMT)
    m = p.match("postgres/dumps/2026-03-10T020000Z/auth.dump")
    assert m is not None and m.rest is None
    assert m.values == {"ts": "2026-03-10T020000Z", "db": "auth"}
    assert m.taken_at == dt.datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    assert p.list_prefix == "postgres/dumps"
    for other in ("postgres/dumps/2026-03-10T020000Z/auth.dump.partial",
                  "postgres/dumps/2026-03-10T020000Z/authXdump",  # '.' is not a wildcard
                  "postgres/dumps/2026-03-10T020000Z/sub/auth.dump",
                  "postgres/dumps/2026-13-45T020000Z/auth.dump",  # matches the regex, not strptime
                  "xpostgres/dumps/2026-03-10T020000Z/auth.dump"):
        assert p.match(other) is None, other


def test_regex_metacharacters_in_literal_parts_are_literal() -> None:
    p = PathPattern.compile("postgres_dump", "prod (eu)+[1]/pg.*/{ts}/{db}$.dump", FMT)
    assert p.match("prod (eu)+[1]/pg.*/2026-03-10T020000Z/auth$.dump") is not None
    for near in ("prod eu[1]/pg.*/2026-03-10T020000Z/auth$.dump",
                 "prod (eu)+1/pg.*/2026-03-10T020000Z/auth$.dump",
                 "prod (eu)+[1]/pgXX/2026-03-10T020000Z/auth$.dump",
                 "prod (eu)))+[1]/pg.*/2026-03-10T020000Z/auth$.dump"):
        assert p.match(near) is None, near
    assert p.list_prefix == "prod (eu)+[1]/pg.*"


def test_timestamp_format_with_slashes_and_other_directives() -> None:
    p = PathPattern.compile("postgres_dump", "dumps/{ts}/{db}.sql.gz", "%Y/%m/%d/%H%M")
    m = p.match("dumps/2026/03/10/0215/cortex.sql.gz")
    assert m is not None and m.values["db"] == "cortex"
    assert m.taken_at == dt.datetime(2026, 3, 10, 2, 15, tzinfo=UTC)
    # %z: an offset in the name is honoured and converted to UTC
    q = PathPattern.compile("postgres_dump", "{db}-{ts}.dump", "%Y%m%dT%H%M%z")
    m2 = q.match("auth-20260310T0300+0100.dump")
    assert m2 is not None and m2.taken_at == dt.datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    assert q.list_prefix == ""
    assert timestamp_regex("%Y.%m") == r"\d{4}\.\d{2}"


def test_folder_patterns_match_every_file_below_the_folder() -> None:
    p = PathPattern.compile("base_backup", "postgres/base/{ts}", FMT, allowed=("ts",))
    m = p.match("postgres/base/2026-03-10T020000Z/global/pg_control")
    assert m is not None and m.matched == "postgres/base/2026-03-10T020000Z"
    assert m.rest == "global/pg_control"


def test_keys_with_slashes_and_repeated_placeholders() -> None:
    p = PathPattern.compile("objects_replica", "objects/{bucket}/{key}", FMT)
    m = p.match("objects/kb/org/1/doc.txt")
    assert m is not None and m.values == {"bucket": "kb", "key": "org/1/doc.txt"}
    assert p.format(bucket="kb", key="a/b") == "objects/kb/a/b"
    r = PathPattern.compile("postgres_dump", "{ts}/{db}/{db}-{ts}.dump", FMT)
    assert r.match("2026-03-10T020000Z/auth/auth-2026-03-10T020000Z.dump") is not None
    assert r.match("2026-03-10T020000Z/auth/cortex-2026-03-10T020000Z.dump") is None


def test_literal_braces_and_bad_patterns() -> None:
    p = PathPattern.compile("master_key", "keys/{{weird}}/master-key.yaml", FMT, allowed=("ts",))
    assert p.match("keys/{weird}/master-key.yaml") is not None
    with pytest.raises(ConfigError, match=r"unknown placeholder \{dbname\}"):
        PathPattern.compile("postgres_dump", "dumps/{ts}/{dbname}.dump", FMT)
    with pytest.raises(ConfigError, match=r"lacks \{db\}"):
        PathPattern.compile("postgres_dump", "dumps/{ts}/all.dump", FMT, required=("db",))
    with pytest.raises(ConfigError, match="not a valid pattern"):
        PathPattern.compile("postgres_dump", "dumps/{ts/{db}.dump", FMT)
