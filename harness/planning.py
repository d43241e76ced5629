"""``scrydon-drill plan`` and ``scrydon-drill history``: what a drill would do, and what past
drills did.

``plan`` reads the catalogue only (no scratch environment, nothing written): the restore set
with every artefact's time and size, the runs passed over and why, the checks that would run
and those left out with the reason, and an estimate of the recovery time from the history
(the median RTO of recent passing drills). ``history`` lists the past runs with their
RTO/RPO, the targets and the regressions the report's trend also flags.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.config import DrillConfig
from harness.evidence.finish import s3_options
from harness.evidence.history import (
    REGRESSION_BASELINE_RUNS,
    REGRESSION_FACTOR,
    REGRESSION_MIN_SECONDS,
    HistoryEntry,
    open_history,
)
from harness.evidence.views import fmt_size
from harness.profile import CHECK_IDS, load_profile, not_run_reason, resolve_profile_path


def history_entries(cfg: DrillConfig, base_dir: Path | None = None,
                    limit: int | None = None) -> tuple[str, list[HistoryEntry]]:
    """Where the history lives and its newest entries (oldest first)."""
    base = Path(cfg.report.dir)
    if not base.is_absolute():
        base = (base_dir or Path.cwd()) / base
    store = open_history(cfg.evidence.history_dir or str(base / "history"), s3_options(cfg))
    return store.location, store.load(limit or max(cfg.evidence.history_runs, 1))


def plan_text(cfg: DrillConfig, base_dir: Path | None = None) -> str:
    """The plan of a drill with ``cfg``; raises the catalogue's error when no set can be
    restored (the CLI turns it into its exit code)."""
    from harness.drill import open_catalog

    source, catalog = open_catalog(cfg)
    rs = catalog.choose_restore_set()
    lines = [f"backup source: {source.root}",
             f"restore set: {rs.run} (backup time {rs.backup_time.isoformat()})"]
    total = 0
    for item in rs.lineage():
        total += item.size or 0
        lines.append(f"  {item.store:<18} {item.name:<22} {fmt_size(item.size):>10}  "
                     f"{item.taken_at or '?'}  {item.location}")
    lines.append(f"  {'total':<41} {fmt_size(total):>10}")
    if rs.objects_root:
        lines.append(f"  objects replica: {rs.objects_root}")
    for reason in rs.reasons:
        lines.append(f"  chosen: {reason}")
    for flag in rs.flags:
        lines.append(f"  warning: {flag}")
    profile = load_profile(resolve_profile_path(
        cfg.drill.profile, cfg.sources.get("drill.profile", "default"), base_dir or Path.cwd()))
    run: list[tuple[str, str | None]] = []
    left_out: list[tuple[str, str | None]] = []
    for check_id in CHECK_IDS:
        reason = not_run_reason(check_id, profile, cfg)
        (left_out if reason else run).append((check_id, reason))
    lines.append(f"checks that would run ({len(run)}, provider {cfg.scratch.provider}): "
                 + ", ".join(c for c, _ in run))
    for _, reason in left_out:
        lines.append(f"  left out: {str(reason).replace('was not run', 'would not run')}")
    location, entries = history_entries(cfg, base_dir)
    rtos = [e.rto_seconds for e in entries
            if e.kind == "drill" and not e.failed and e.rto_seconds is not None]
    if rtos:
        lines.append(f"estimated recovery time: {statistics.median(rtos):.0f} s (median RTO of "
                     f"the last {len(rtos)} passing drills in {location})")
    else:
        lines.append(f"estimated recovery time: unknown (no passing drill in {location})")
    return "\n".join(lines)


def history_text(cfg: DrillConfig, base_dir: Path | None = None,
                 limit: int | None = None) -> str:
    """The past runs, oldest first, with RTO/RPO against targets and regressions marked."""
    location, entries = history_entries(cfg, base_dir, limit)
    if not entries:
        return f"no past runs in {location}"
    lines = [f"past runs in {location} (oldest first):",
             f"  {'run':<26} {'kind':<8} {'verdict':<17} {'checks':>7} {'RTO s':>8} "
             f"{'RPO h':>7}  notes"]
    baseline: list[float] = []
    regressions = 0
    for e in entries:
        notes = []
        if e.failed and e.verdict == "pass":
            notes.append("run failed")
        if e.rto_seconds is not None and e.rto_target_seconds \
                and e.rto_seconds > e.rto_target_seconds:
            notes.append(f"RTO over target {e.rto_target_seconds:g} s")
        if e.rpo_seconds is not None and e.rpo_target_seconds \
                and e.rpo_seconds > e.rpo_target_seconds:
            notes.append(f"RPO over target {e.rpo_target_seconds / 3600:g} h")
        recent = baseline[-REGRESSION_BASELINE_RUNS:]
        if e.rto_seconds is not None and recent:
            median = statistics.median(recent)
            if e.rto_seconds > median * REGRESSION_FACTOR \
                    and e.rto_seconds - median >= REGRESSION_MIN_SECONDS:
                notes.append(f"RTO regressed ({e.rto_seconds / median:.1f}x the median of "
                             f"{len(recent)} runs before)")
                regressions += 1
        if e.rto_seconds is not None and not e.failed and e.kind == "drill":
            baseline.append(e.rto_seconds)
        rto = f"{e.rto_seconds:.1f}" if e.rto_seconds is not None else "-"
        rpo = f"{e.rpo_seconds / 3600:.1f}" if e.rpo_seconds is not None else "-"
        lines.append(f"  {e.run_id:<26} {e.kind:<8} {e.verdict:<17} "
                     f"{e.checks - e.checks_failed:>3}/{e.checks:<3} {rto:>8} {rpo:>7}  "
                     + "; ".join(notes))
    drills = [e for e in entries if e.kind == "drill"]
    passed = sum(1 for e in drills if not e.failed)
    lines.append(f"{len(drills)} drill(s), {passed} passed, {regressions} RTO regression(s)")
    return "\n".join(lines)
