"""Property-based tests on random reference states (hypothesis), on servers shared per module.

1. Round trip: any reference state (sizes, organisations, unicode names, empty tables, large
   blobs) backed up the runbook's way restores to exactly the same content in every store.
2. Detection: for any valid platform state and any fault of the catalogue that applies to
   it, the real drill fails the check the catalogue names, with a message naming the cause.
   (The PITR faults need a base backup and a WAL archive, which these states do not carry;
   the matrix covers them on the reference.)

Examples are few and small (tiny scales, one source and one scratch environment for the
whole module), so this runs in CI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, event, given, reject, settings
from hypothesis import strategies as st
from psycopg import sql

import fixtures.faults as catalogue
from fixtures.backup.clock import SimulatedClock
from fixtures.backup.producer import BackupProducer
from fixtures.fingerprint import objects_fingerprint, postgres_fingerprint, warehouse_fingerprint
from fixtures.reference.build import source_fingerprint
from fixtures.reference.deploy import apply_batch, create_databases
from fixtures.reference.model import Blob, ReferenceModel, Scale, Settings
from fixtures.reference.schema import DATABASES
from fixtures.selftest import CaseResult, DrillRunner, evaluate
from harness.catalog.catalog import Catalog
from harness.catalog.source import DirectorySource
from harness.config import BackupsConfig, resolve
from harness.layout import DEFAULT_LAYOUT
from harness.restore.engine import RestoreEngine
from harness.scratch.endpoints import Endpoints
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from tests.conftest import private_run_root

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SETTINGS = Settings()
BUCKETS = [SETTINGS.kb_bucket, SETTINGS.notebook_bucket]
# Text PostgreSQL, MariaDB (utf8mb4), S3 keys' metadata and JSON all carry: anything but NUL
# and lone surrogates.
NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               min_size=1, max_size=40)
# Each example costs seconds (servers, dumps, a drill): no "explain" phase, which re-runs a
# failing example dozens of times to annotate it.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
PITR_FAULTS = {n for n in catalogue.NAMES if catalogue.get(n).category == "pitr"}


@dataclass(frozen=True)
class State:
    """One random reference deployment: its size, history, names and admin password."""

    seed: int
    scale: Scale
    days: int
    names: tuple[str, ...]
    password: str
    large_blob: int  # bytes of one extra knowledge-base document (0: none)


def scales(valid_platform: bool) -> st.SearchStrategy[Scale]:
    """Tiny scales; ``valid_platform`` keeps what every drill check needs at least once."""
    lo = 1 if valid_platform else 0
    return st.builds(
        Scale, orgs=st.integers(2 if valid_platform else 1, 3),
        users_per_org=st.integers(0, 3), workflows_per_org=st.integers(lo, 2),
        kbs_per_org=st.integers(lo, 2), docs_per_kb=st.integers(lo, 3),
        doc_bytes=st.integers(1, 64 * 1024), notebooks_per_org=st.integers(lo, 2),
        tables_per_org=st.integers(lo, 2), rows_per_table=st.integers(lo, 40),
        audit_per_day=st.integers(3 if valid_platform else 0, 30),
        secrets_per_org=st.integers(lo, 3), history_days=st.integers(1, 3),
        daily_docs=st.integers(0, 2), daily_rows=st.integers(lo, 10))


def states(valid_platform: bool) -> st.SearchStrategy[State]:
    """Random states (``valid_platform``: ones a clean drill passes, two or three days)."""
    return st.builds(
        State, seed=st.integers(0, 2**31 - 1), scale=scales(valid_platform),
        days=st.integers(2, 3) if valid_platform else st.integers(1, 3),
        names=st.lists(NAME, min_size=1, max_size=6).map(tuple),
        password=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FFF,
                                       blacklist_categories=("Cs", "Cc")),
                         min_size=8, max_size=24),
        large_blob=st.sampled_from([0, 0, 3 * 1024 * 1024 + 17]))


# -- shared servers -------------------------------------------------------------------------


def reset(ep: Endpoints) -> None:
    """Empty every store of an environment (databases, objects, warehouse database)."""
    assert ep.postgres and ep.s3 and ep.warehouse
    with psycopg.connect(**ep.postgres.conninfo(), autocommit=True) as conn:
        for db in DATABASES:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(db)))
    client: Any = ep.s3.client()
    # Objects only: SeaweedFS answers InternalError to writes into a bucket deleted and
    # created again moments before (its collection is still being dropped).
    for bucket in client.list_buckets().get("Buckets", []):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket["Name"], Key=obj["Key"])
    conn2: Any = ep.warehouse.connect()
    try:
        with conn2.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{SETTINGS.warehouse_database}`")
    finally:
        conn2.close()


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    # Short: PostgreSQL's socket path (run folder + server folder) must stay below 108 bytes.
    with private_run_root("sdp-") as path:
        yield path


def environment(root: Path, role: str, env: dict[str, str] | None = None
                ) -> Iterator[Endpoints]:
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(root),
                                                     "sweep_on_start": False}})
    with LocalProvider(cfg, Run.create(root), role=role,
                       postgres_env=env) as provider:
        yield provider.endpoints


@pytest.fixture(scope="module")
def source_clock(root: Path) -> SimulatedClock:
    """The source's simulated clock: each backup run happens on its own day."""
    folder = root / "clock"
    folder.mkdir(mode=0o755)
    return SimulatedClock(folder)


@pytest.fixture(scope="module")
def source_env(root: Path, source_clock: SimulatedClock) -> Iterator[Endpoints]:
    yield from environment(root, "source", source_clock.env())


@pytest.fixture(scope="module")
def scratch_env(root: Path) -> Iterator[Endpoints]:
    yield from environment(root, "scratch")


@pytest.fixture(scope="module")
def editors(root: Path) -> Iterator[tuple[catalogue.DumpEditor, catalogue.DumpEditor]]:
    with catalogue.DumpEditor(root / "ed16", major=16) as ed16, \
            catalogue.DumpEditor(root / "ed18", major=18) as ed18:
        yield ed16, ed18


# -- building a state's backups -------------------------------------------------------------


def rename(batch: Any, names: tuple[str, ...]) -> None:
    """Give organisations, users, workflows, knowledge bases, documents and warehouse labels
    the drawn (unicode) names, keeping each workflow's definition consistent."""
    def name(i: int) -> str:
        return names[i % len(names)]

    for i, org in enumerate(batch.rows.get(("auth", "organization"), [])):
        org["name"] = name(i)
    for i, user in enumerate(batch.rows.get(("auth", "user"), [])):
        user["name"] = name(i + 1)
    for i, wf in enumerate(batch.rows.get(("agentic", "workflow"), [])):
        wf["name"] = name(i + 2)
        definition = json.loads(wf["definition"])
        definition["name"] = wf["name"]
        wf["definition"] = json.dumps(definition, ensure_ascii=False)
    for i, kb in enumerate(batch.rows.get(("agentic", "knowledge_base"), [])):
        kb["name"] = name(i + 3)
    for i, doc in enumerate(batch.rows.get(("agentic", "kb_document"), [])):
        doc["title"] = name(i + 4)
    for rows in batch.warehouse_rows.values():
        for i, row in enumerate(rows):
            rows[i] = (*row[:2], name(i + 5)[:200], *row[3:])


def add_large_blob(model: ReferenceModel, batch: Any, size: int) -> None:
    """One more knowledge-base document of ``size`` bytes (past S3's multipart threshold)."""
    if not size or not model.kbs:
        return
    kb = model.kbs[0]
    data = bytes(model.rng.getrandbits(8) for _ in range(256)) * (size // 256) + b"x" * (size % 256)
    key = f"org/{kb['organization_id']}/kb/{kb['id']}/large.bin"
    batch.blobs.append(Blob.of(SETTINGS.kb_bucket, key, data))
    import hashlib

    batch.add("agentic", "kb_document", {
        "id": "doc_large", "knowledge_base_id": kb["id"], "organization_id": kb["organization_id"],
        "title": "Large document", "bucket": SETTINGS.kb_bucket, "object_key": key,
        "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "application/octet-stream", "created_at": batch.at})


def backup_run(producer: BackupProducer, at: dt.datetime) -> None:
    """The runbook's daily backup without WAL archiving (these sources run without it)."""
    stamp = DEFAULT_LAYOUT.stamp(at)
    written = list(producer.dump_databases(stamp))
    producer.replicate_objects()
    manifest = producer.snapshot_warehouse(stamp, at)
    written += [manifest, *manifest.parent.rglob("*.sql")]
    producer.backup_master_key()
    for path in written:
        os.utime(path, (at.timestamp(), at.timestamp()))


def build(state: State, ep: Endpoints, backups: Path, clock: SimulatedClock
          ) -> tuple[ReferenceModel, dict[str, Any]]:
    """Load ``state`` into the (reset) source, back it up daily; return the model and the
    source's fingerprint at the last backup."""
    reset(ep)
    anchor = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    model = ReferenceModel(seed=state.seed, scale=state.scale, anchor=anchor, days=state.days,
                           admin_password=state.password, settings=SETTINGS)
    # A new history on the shared source: its clock goes back to before the first day.
    clock.set(model.backup_time(0) - dt.timedelta(hours=12), backward_ok=True)
    create_databases(ep)
    backups.mkdir(parents=True)
    os.chmod(backups, 0o755)
    producer = BackupProducer(ep, backups, settings=SETTINGS, master_key=model.master_key,
                              clock_env=clock.env())
    for day in range(state.days):
        batch = model.initial() if day == 0 else model.day(day)
        rename(batch, state.names)
        if day == 0:
            add_large_blob(model, batch, state.large_blob)
        clock.advance_to(batch.newest())
        apply_batch(ep, batch, SETTINGS)
        clock.advance_to(model.backup_time(day))
        backup_run(producer, model.backup_time(day))
    return model, source_fingerprint(ep, SETTINGS)


def restored_fingerprint(ep: Endpoints) -> dict[str, Any]:
    assert ep.postgres and ep.s3 and ep.warehouse
    conn: Any = ep.warehouse.connect()
    try:
        wh = warehouse_fingerprint(conn, SETTINGS.warehouse_database)
    finally:
        conn.close()
    return {"postgres": {db: postgres_fingerprint(ep.postgres.conninfo(db)) for db in DATABASES},
            "objects": objects_fingerprint(ep.s3.client(), BUCKETS), "warehouse": wh}


# -- 1. round trip ----------------------------------------------------------------------------


@settings(max_examples=8, deadline=None, print_blob=True, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(state=states(valid_platform=False))
def test_any_state_round_trips_through_backup_and_restore(state: State, source_env: Endpoints,
                                                          scratch_env: Endpoints,
                                                          root: Path,
                                                          source_clock: SimulatedClock) -> None:
    work = Path(tempfile.mkdtemp(prefix="r", dir=root))
    try:
        _model, expected = build(state, source_env, work / "backups", source_clock)
        reset(scratch_env)
        cfg = BackupsConfig(source=str(work / "backups"))
        rs = Catalog(DirectorySource(work / "backups"), cfg).choose_restore_set()
        # A deployment without a single object has no replica to restore (nothing to lose).
        stores = ("postgres", "objects", "warehouse") if expected["objects"] else (
            "postgres", "warehouse")
        result = RestoreEngine(scratch_env).restore(rs, stores=stores)
        assert result.ok, result.errors
        assert result.master_key is not None
        assert result.master_key.key == _model.master_key
        assert restored_fingerprint(scratch_env) == expected
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- 2. detection -----------------------------------------------------------------------------


@settings(max_examples=5, deadline=None, print_blob=True, phases=PHASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(state=states(valid_platform=True),
       fault=st.sampled_from([n for n in catalogue.NAMES if n not in PITR_FAULTS]))
def test_any_fault_in_any_state_is_caught(state: State, fault: str, source_env: Endpoints,
                                          editors: tuple[Any, Any], root: Path,
                                          source_clock: SimulatedClock) -> None:
    event(f"fault {fault}")
    work = Path(tempfile.mkdtemp(prefix="d", dir=root))
    os.chmod(work, 0o755)
    try:
        model, _ = build(state, source_env, work / "backups", source_clock)
        meta = {"seed": state.seed, "admin_email": SETTINGS.admin_email,
                "settings": dataclasses.asdict(SETTINGS)}
        inputs = catalogue.Inputs(meta=meta, editor=editors[0], editor18=editors[1],
                                  work=work / "env", now=dt.datetime.now(dt.timezone.utc))
        try:
            ctx = catalogue.get(fault).inject(work / "backups", work / "broken", inputs)
        except catalogue.FaultError:
            reject()  # the fault does not apply to this state (e.g. no run old enough)
        try:
            config = work / "drill.toml"
            config.write_text(f"[admin]\nemail = {json.dumps(SETTINGS.admin_email)}\n"
                              f"password = {json.dumps(state.password, ensure_ascii=False)}\n",
                              encoding="utf-8")
            runs = root / "runs"
            runs.mkdir(exist_ok=True)
            os.chmod(runs, 0o755)
            case = CaseResult(name=fault, fault=catalogue.get(fault))
            case.drill = DrillRunner(config, runs).run(ctx.backups, work / "report",
                                                       sets=ctx.drill_sets(), env=ctx.env)
            evaluate(case, ctx)
            assert case.ok, "\n".join(case.problems)
        finally:
            ctx.close()
    finally:
        from harness.scratch.sweep import sweep

        sweep(root / "runs", include_kept=True)
        shutil.rmtree(work, ignore_errors=True)
