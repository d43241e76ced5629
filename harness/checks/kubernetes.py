"""The runbook's Kubernetes steps, checked: same versions, master key before the chart, rollout.

* ``k8s.versions`` (runbook step 1): the scratch cluster runs the source's Kubernetes version
  (``kubernetes.kubernetes_version``), and the chart installs the Scrydon version the backups
  were taken by: the restored databases' ``platform_migrations`` (migrations are forward-only,
  so a newer release would migrate the restored data and an older one cannot read it), or
  ``kubernetes.platform_version`` when set.
* ``k8s.master-key``: the backed-up ``master-key`` Secret was in the namespace before the chart
  was installed, and after the install it is the same object holding the backup's key: the
  chart's ``lookup`` did not generate a new one.
* ``k8s.rollout``: every workload of the release became ready within the timeout.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.checks.base import Outcome, listing, plural
from harness.crypto import masterkey
from harness.errors import could_not_verify
from harness.scratch.deployment import PlatformDeployment

#: The Scrydon version a restored database was last migrated to (every service has this
#: table: public documentation).
MIGRATIONS_SQL = "SELECT max(version) FROM platform_migrations"
RUNBOOK_ORDER = ("runbook: restore the master-key Secret (kubectl apply -f master-key.backup.yaml"
                 " -n <namespace>) BEFORE helm install")


def _numbers(version: str) -> list[str]:
    core = version.strip().lstrip("vV").split("+")[0].split("-")[0]
    return [p for p in core.split(".") if p]


def same_kubernetes(cluster: str, expected: str) -> bool:
    """``v1.29.4`` matches ``1.29.4``, ``v1.29`` and ``1.29``: the expected version's parts
    must all agree (a minor version alone pins the minor)."""
    want = _numbers(expected)
    return bool(want) and _numbers(cluster)[:len(want)] == want


def not_deployed(dep: PlatformDeployment | None, note: str) -> Outcome | None:
    """The outcome of a platform check when there is no deployment to look at, else None."""
    if dep is not None:
        if not dep.installed and not dep.chart:
            could_not_verify("no platform chart is configured: the stores were restored but "
                             "the platform was not deployed",
                             remedy="set kubernetes.chart (and values) to drill runbook steps "
                                    "5-7 on the cluster")
        if not dep.installed:
            return Outcome.failed(f"the platform chart did not install: {dep.install_error}",
                                  remedy="read helm's message; check the chart, its version "
                                         "and values")
        return None
    return Outcome.failed(note or "the platform was not deployed",
                          remedy="make the restore succeed first: the chart runs on the "
                                 "restored stores")


def check_versions(dep: PlatformDeployment | None, note: str, *, expected_kubernetes: str,
                   expected_platform: str, restored: Mapping[str, str | None]) -> Outcome:
    """Kubernetes and Scrydon versions of the scratch deployment against the source's."""
    problems: list[str] = []
    measured: dict[str, str] = {}
    cluster = dep.cluster_version if dep else ""
    measured["cluster_kubernetes"] = cluster
    if expected_kubernetes and cluster and not same_kubernetes(cluster, expected_kubernetes):
        problems.append(f"the scratch cluster runs Kubernetes {cluster}, the source cluster "
                        f"{expected_kubernetes} (runbook step 1: the same Kubernetes version)")
    migrated = {db: v for db, v in restored.items() if v}
    distinct = sorted(set(migrated.values()))
    if len(distinct) > 1:
        problems.append("the restored databases were migrated by different Scrydon versions: "
                        + ", ".join(f"{db} {v}" for db, v in sorted(migrated.items())))
    backup_version = distinct[-1] if distinct else ""
    measured["backup_platform_version"] = backup_version
    if expected_platform and backup_version and expected_platform != backup_version:
        problems.append(f"kubernetes.platform_version is {expected_platform} but the restored "
                        f"databases were last migrated by {backup_version}")
    wanted = expected_platform or backup_version
    if (dep is None or not dep.installed) and not problems:
        missing = not_deployed(dep, note)  # could-not-verify without a chart
        assert missing is not None
        return missing
    if dep is not None and dep.installed:
        measured["chart"] = dep.chart_version
        measured["chart_app_version"] = dep.app_version
        if not wanted:
            problems.append("the backups' Scrydon version is unknown (no platform_migrations "
                            "rows restored) and kubernetes.platform_version is not set")
        elif dep.app_version != wanted:
            source = "kubernetes.platform_version" if expected_platform else \
                "platform_migrations of the restored databases"
            problems.append(f"the chart {dep.chart_version or dep.chart} installs Scrydon "
                            f"{dep.app_version or '(no appVersion)'} but the backups come from "
                            f"Scrydon {wanted} ({source}); migrations are forward-only, so "
                            "restore into the same Scrydon version (runbook step 1)")
    if problems:
        return Outcome.failed("; ".join(problems),
                              remedy="provision the scratch cluster with the source's Kubernetes"
                                     " version and install the chart version of the backups' "
                                     "Scrydon release (kubernetes.chart_version)", **measured)
    if not expected_kubernetes:
        could_not_verify(f"the scratch cluster runs Kubernetes {cluster}, but the source "
                         "cluster's version is not configured",
                         remedy="set kubernetes.kubernetes_version to the source cluster's "
                                "version (kubectl version on it)")
    return Outcome.passed(
        f"Kubernetes {cluster} as the source ({expected_kubernetes}); the chart "
        f"{dep.chart_version if dep else ''} installs Scrydon {wanted}, the version the "
        "backups were taken by", **measured)


def check_master_key(dep: PlatformDeployment | None, note: str,
                     backup_key: masterkey.MasterKeyBackup | None,
                     backup_error: str | None) -> Outcome:
    """The backup's master-key Secret was there before the chart and survived it."""
    missing = not_deployed(dep, note)
    if missing is not None:
        return missing
    assert dep is not None
    if backup_key is None:
        return Outcome.failed(
            f"no usable master-key backup ({backup_error or 'none found'}): the chart's lookup "
            "generated a new key, and every encrypted secret is unrecoverable",
            remedy="back the master-key Secret up out of band, as the runbook says")
    before, after = dep.secret_before_chart, dep.secret_after_chart
    measured = {"order": dep.order, "uid_before": before.uid if before else "",
                "uid_after": after.uid if after else "",
                "key_matches_backup": bool(dep.key_matches_backup)}
    good = (dep.order == "runbook" and before is not None and before.restored_by_drill
            and after is not None and after.uid == before.uid and dep.key_matches_backup is True)
    if not good:
        story = dep.master_key_story()
        if dep.secret_restore_error:
            story += f"; restoring the backup's Secret failed: {dep.secret_restore_error}"
        return Outcome.failed(story, remedy=RUNBOOK_ORDER, **measured)
    assert before is not None
    return Outcome.passed(
        f"master-key was restored from the backup into {dep.namespace} (uid {before.uid}, "
        f"created {before.created}) before helm install; after the install it is the same "
        "Secret, not owned by Helm, and holds the backup's key", **measured)


def check_rollout(dep: PlatformDeployment | None, note: str) -> Outcome:
    """Every workload of the release is ready within the rollout timeout."""
    missing = not_deployed(dep, note)
    if missing is not None:
        return missing
    assert dep is not None
    measured = {"workloads": len(dep.workloads), "rollout_seconds": round(dep.rollout_seconds, 1),
                "timeout_seconds": dep.rollout_timeout}
    if not dep.workloads:
        return Outcome.failed("the chart deployed no workload (no Deployment, StatefulSet or "
                              "DaemonSet in the release)", remedy="check the chart", **measured)
    bad = {w: why for w, why in dep.workloads.items() if why != "ready"}
    if bad:
        return Outcome.failed(
            f"{plural(len(bad), 'workload')} of the release did not become ready: "
            + "; ".join(f"{w}: {why}" for w, why in bad.items()),
            remedy="read the pods' logs above; an api-platform that cannot decrypt the "
                   "restored secrets stays unready", **measured)
    return Outcome.passed(
        f"{plural(len(dep.workloads), 'workload')} ready in {dep.rollout_seconds:.1f} s "
        f"(timeout {dep.rollout_timeout:.0f} s): {listing(sorted(dep.workloads))}", **measured)


def on_the_cluster(outcome: Outcome, dep: PlatformDeployment) -> Outcome:
    """``secrets.decrypt`` on a deployed platform: a failure says why the platform's key is
    not the backup's, in the runbook's terms."""
    if outcome.ok or dep.key_matches_backup is True:
        return outcome
    return Outcome.failed(
        "the deployed platform runs with the namespace's master-key Secret, which is not the "
        f"backup's ({dep.master_key_story()}): {outcome.message}",
        remedy=RUNBOOK_ORDER, **outcome.measured)
