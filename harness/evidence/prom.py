"""metrics.prom: the run in Prometheus text format (textfile collector or push gateway).

No run id in the labels of the main series, so each run overwrites the same series instead of
creating new ones; ``scrydon_drill_info`` carries the run id for joining.
"""

from __future__ import annotations

import math

from harness.evidence.views import (
    backup_age_seconds,
    duration_seconds,
    parse_time,
    run_failed,
    verdict_of,
)
from harness.records import VERDICTS, RunRecord

PREFIX = "scrydon_drill"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return str(int(f)) if f.is_integer() else repr(f)


class _Metrics:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_text: str,
               samples: list[tuple[dict[str, str], float]]) -> None:
        if not samples:
            return
        full = f"{PREFIX}_{name}"
        self.lines.append(f"# HELP {full} {help_text}")
        self.lines.append(f"# TYPE {full} gauge")
        for labels, value in samples:
            self.lines.append(f"{full}{_labels(labels)} {_num(value)}")


def render_metrics(record: RunRecord) -> str:
    """The Prometheus text exposition of a run."""
    m = _Metrics()
    kind = {"kind": record.kind}
    verdict = verdict_of(record)
    m.family("success", "1 when the drill passed and the run had no error, else 0.",
             [(kind, 0.0 if run_failed(record) else 1.0)])
    m.family("verdict", "The drill verdict, one series per possible verdict (1 = this one).",
             [({**kind, "verdict": v}, 1.0 if v == verdict else 0.0) for v in VERDICTS])
    m.family("run_errors", "Problems of the run itself (publishing, leaks, interruption).",
             [(kind, float(len(record.run_errors)))])
    finished = parse_time(record.finished_at) or parse_time(record.started_at)
    if finished is not None:
        m.family("last_run_timestamp_seconds", "When the run finished (Unix time).",
                 [(kind, finished.timestamp())])
    duration = duration_seconds(record)
    if duration is not None:
        m.family("duration_seconds", "Wall-clock duration of the whole run.", [(kind, duration)])
    totals: dict[tuple[str, str], float] = {}
    for phase in record.phases:
        if phase.store == "checks":
            continue  # per-check durations are in check_seconds
        key = (phase.store, phase.name)
        totals[key] = totals.get(key, 0.0) + phase.seconds
    m.family("phase_seconds", "Seconds spent in each phase of the drill, per store.",
             [({**kind, "store": s, "phase": p}, v) for (s, p), v in totals.items()])
    age = backup_age_seconds(record)
    if age is not None:
        m.family("backup_age_seconds", "Age of the restored backup when the run started.",
                 [(kind, age)])
    for name, measured, target, what in (
            ("rto", record.rto_seconds, record.targets.rto_seconds, "recovery time"),
            ("rpo", record.rpo_seconds, record.targets.rpo_seconds, "recovery point")):
        if measured is not None:
            m.family(f"{name}_seconds", f"Measured {what} (seconds).", [(kind, measured)])
        if target is not None:
            m.family(f"{name}_target_seconds", f"Target {what} objective (seconds).",
                     [(kind, target)])
    m.family("checks", "Number of checks per verdict.",
             [({**kind, "verdict": v}, float(sum(c.verdict == v for c in record.checks)))
              for v in VERDICTS])
    m.family("check_success", "1 when the check passed, else 0.",
             [({**kind, "check": c.id}, 1.0 if c.verdict == "pass" else 0.0)
              for c in record.checks])
    m.family("check_seconds", "Seconds each check took.",
             [({**kind, "check": c.id}, c.seconds) for c in record.checks])
    m.family("info", "Identity of the last run (value always 1).",
             [({**kind, "run_id": record.run_id, "verdict": verdict,
                "harness_version": record.versions.get("harness", "")}, 1.0)])
    return "\n".join(m.lines) + "\n"
