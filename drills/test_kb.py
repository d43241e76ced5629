"""kb.documents: open knowledge-base documents (runbook: "a knowledge-base document")."""

from __future__ import annotations

import pytest

from harness.checks.base import (
    Measure,
    choose,
    postgres,
    require_restored,
    run_seed,
    s3_client,
    settle,
)
from harness.checks.objects import check_documents, fetch_index, s3_reader
from harness.profile import Profile
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="kb.documents", stores=("postgres", "objects"),
                         title="Knowledge-base documents open with the indexed content")
def test_documents(drill_restored: RestoredPlatform, drill_profile: Profile,
                   drill_measure: Measure) -> None:
    """Indexed documents (all, or a sample) download with the indexed size and SHA-256."""
    section = drill_profile.kb
    require_restored(drill_restored, "postgres", "objects")
    client = s3_client(drill_restored)
    with postgres(drill_restored, section.database) as conn:
        index = fetch_index(conn, section.index_sql, where="[kb] index_sql", with_sha256=True)
    seed = run_seed(drill_profile.sampling.seed)
    sample = choose(index, section.sample_size, seed)
    settle(check_documents(sample, s3_reader(client), total=len(index), seed=seed,
                           min_documents=section.min_documents), drill_measure)
