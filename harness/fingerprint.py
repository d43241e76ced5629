"""Content fingerprints of stores: per-table row counts and order-independent hashes.

Two stores with equal fingerprints hold the same rows (whatever their physical order) and the
same objects. The reference producer fingerprints the source at each backup; the restore
engine fingerprints what it restored; equality proves the round trip lost nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from psycopg import sql

# Sum of the first 60 bits of each row's MD5, modulo 2**63: insensitive to row order, and
# different for any changed, missing or extra row with overwhelming probability.
_PG_HASH = ("SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)"
            "::bigint) % 9223372036854775807, 0) FROM {} AS t")


def postgres_fingerprint(conninfo: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Fingerprint every user table of one database: ``{schema.table: {rows, hash}}``."""
    out: dict[str, dict[str, int]] = {}
    with psycopg.connect(**conninfo) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            q = sql.SQL(_PG_HASH).format(sql.Identifier(schema, table))
            rows, digest = conn.execute(q).fetchone()  # type: ignore[misc]
            out[f"{schema}.{table}"] = {"rows": int(rows), "hash": int(digest)}
    return out


def warehouse_fingerprint(conn: Any, database: str) -> dict[str, dict[str, int]]:
    """Fingerprint every table of a MySQL-protocol database: ``{table: {rows, hash}}``."""
    out: dict[str, dict[str, int]] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "ORDER BY table_name", (database,))
        tables = [r[0] for r in cur.fetchall()]
        for table in tables:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE "
                        "table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                        (database, table))
            cols = ", ".join(f"COALESCE(CAST(`{r[0]}` AS CHAR), '\\\\N')" for r in cur.fetchall())
            cur.execute(
                f"SELECT COUNT(*), COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|', {cols})), "
                f"1, 15), 16, 10) AS UNSIGNED)) % 9223372036854775807, 0) "
                f"FROM `{database}`.`{table}`")
            rows, digest = cur.fetchone()
            out[table] = {"rows": int(rows), "hash": int(digest)}
    return out


def objects_fingerprint(client: Any, buckets: list[str]) -> dict[str, str]:
    """``{bucket/key: sha256}`` of every object in the given buckets (missing buckets: empty)."""
    out: dict[str, str] = {}
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            continue
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
                h = hashlib.sha256()
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    h.update(chunk)
                out[f"{bucket}/{obj['Key']}"] = h.hexdigest()
    return out
