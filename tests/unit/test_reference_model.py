"""The reference model: deterministic, real formats, evolving day by day."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.reference.model import ReferenceModel, get_scale
from harness.crypto import betterauth, dapr, license, masterkey

ANCHOR = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.timezone.utc)


def model(seed: int = 1) -> ReferenceModel:
    return ReferenceModel(seed=seed, scale=get_scale("tiny"), anchor=ANCHOR, days=3,
                          admin_password="known-admin-pw")


def flat(batch) -> str:
    return json.dumps({f"{k[0]}.{k[1]}": v for k, v in batch.rows.items()}, default=str,
                      sort_keys=True) + repr([(b.bucket, b.key, b.sha256) for b in batch.blobs]) \
        + repr(batch.warehouse_rows)


def test_same_seed_same_content_other_seed_other_content() -> None:
    a, b, c = model(1), model(1), model(2)
    assert flat(a.initial()) == flat(b.initial())
    assert flat(a.day(1)) == flat(b.day(1))
    assert flat(model(1).initial()) != flat(c.initial())


def test_admin_password_hash_is_better_auth_format_and_verifies() -> None:
    m = model()
    batch = m.initial()
    admin = next(u for u in batch.rows[("auth", "user")] if u["role"] == "admin")
    account = next(a for a in batch.rows[("auth", "account")] if a["userId"] == admin["id"])
    assert account["providerId"] == "credential" and account["accountId"] == admin["id"]
    assert betterauth.verify_password(account["password"], "known-admin-pw")
    assert not betterauth.verify_password(account["password"], "known-admin-pW")


def test_secrets_decrypt_with_the_master_key_backup() -> None:
    m = model()
    batch = m.initial()
    backup = masterkey.load_master_key_backup(masterkey.dump_master_key_backup(m.master_key, encode="base64"))
    rows = batch.rows[("auth", "secret")]
    assert rows and all(r["id"].startswith("sec_") for r in rows)
    for row in rows:
        assert dapr.decrypt(row["ciphertext"], backup.key) == m.secret_plaintexts[row["id"]]
    with pytest.raises(dapr.KeyUnwrapFailed):
        dapr.decrypt(rows[0]["ciphertext"], bytes(32))


def test_license_bundle_verifies_with_documented_claims() -> None:
    m = model()
    batch = m.initial()
    (cfg,) = batch.rows[("auth", "platform_config")]
    report = license.verify_license_bundle(cfg["license_bundle"], now=ANCHOR, min_days_left=90)
    assert report.tier == "enterprise" and report.days_left >= 300
    assert cfg["setup_completed"] is True


def test_audit_events_cover_history_and_end_just_before_each_backup() -> None:
    m = model()
    first = m.initial()
    events = first.rows[("auth", "audit_log")]
    times = sorted(e["createdAt"] for e in events)
    assert all(e["id"].startswith("aud_") for e in events)
    assert times[-1] < m.backup_time(0) and m.backup_time(0) - times[-1] < dt.timedelta(minutes=6)
    assert times[0] >= m.backup_time(0) - dt.timedelta(days=m.scale.history_days)
    day = m.day(1)
    new = sorted(e["createdAt"] for e in day.rows[("auth", "audit_log")])
    assert m.backup_time(0) <= new[0] and new[-1] < m.backup_time(1)
    # Organisation ids referenced anywhere exist in auth.organization.
    orgs = {o["id"] for o in first.rows[("auth", "organization")]}
    for (db, table), rows in first.rows.items():
        for r in rows:
            ref = r.get("organization_id", r.get("organizationId"))
            if ref is not None and table != "organization":
                assert ref in orgs, f"{db}.{table} references unknown organisation {ref}"


def test_daily_batches_grow_documents_rows_and_catalogue() -> None:
    m = model()
    m.initial()
    before = {t["id"]: t["row_count"] for t in m.tables}
    day = m.day(1)
    assert day.blobs and ("agentic", "kb_document") in day.rows
    assert all(m.tables[i]["row_count"] > before[t] for i, t in enumerate(before))
    assert any("UPDATE managed_table" in q for _, q, _ in day.updates)
    with pytest.raises(ValueError):
        m.day(0)


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_generated_documents_are_made_again_identically_and_never_held(kind: str) -> None:
    """A document's content is made from one seed on demand: the same bytes on every read,
    its recorded size and SHA-256 those of the bytes, made a piece at a time."""
    import functools
    import hashlib
    import io

    from fixtures.reference.deploy import _PiecesReader
    from fixtures.reference.model import Blob, _binary_pieces, _text_pieces

    make = _text_pieces if kind == "text" else _binary_pieces
    for size in (1, 4097, (2 << 20) + 5):
        blob = Blob.generated("kb", "doc", functools.partial(make, 7, size))
        first, second = blob.read(), blob.read()
        assert first == second and len(first) == size == blob.size
        assert hashlib.sha256(first).hexdigest() == blob.sha256
        assert max(len(p) for p in blob.pieces()) <= (1 << 20) + 16  # a piece ends on a word
        other = Blob.generated("kb", "doc", functools.partial(make, 8, size))
        assert other.read() != first
        # Uploaded in parts: each read of a part's size returns a whole part.
        stream = io.BufferedReader(_PiecesReader(blob.pieces()), buffer_size=1 << 20)
        parts = list(iter(lambda: stream.read(1 << 21), b""))
        assert b"".join(parts) == first
        assert all(len(p) == 1 << 21 for p in parts[:-1])
    if kind == "text":
        assert b"backup" in blob.read() or b"drill" in blob.read()


def test_a_day_holds_its_documents_as_recipes_not_bytes() -> None:
    """The model keeps no document bytes: a batch's blobs are recipes of a known size."""
    m = model()
    batch = m.initial()
    docs = [b for b in batch.blobs if "/kb/" in b.key]
    assert docs
    rows = {r["object_key"]: r for r in batch.rows[("agentic", "kb_document")]}
    for blob in docs:
        assert not hasattr(blob, "data")
        assert rows[blob.key]["size_bytes"] == blob.size
        assert rows[blob.key]["sha256"] == blob.sha256
