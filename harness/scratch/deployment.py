"""What deploying the platform on the restored stores did (runbook steps 5 and 7).

The Kubernetes provider fills one :class:`PlatformDeployment`: the master-key Secret as it
was before the chart and after it, the chart and the Scrydon version it installs, each
workload's rollout, and the URL of the deployed API (a port-forward the run owns). The
``k8s.*`` checks, ``secrets.decrypt`` and ``signin.deployed`` read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.crypto import masterkey
from harness.records import Phase


@dataclass(frozen=True)
class SecretState:
    """The master-key Secret as the cluster showed it at one moment."""

    uid: str
    created: str  # creationTimestamp
    helm_owned: bool  # carries Helm's ownership (meta.helm.sh/release-name)
    restored_by_drill: bool  # carries this run's label: the drill created it from the backup


@dataclass
class PlatformDeployment:
    """The platform as deployed on the restored stores."""

    namespace: str
    release: str
    chart: str
    order: str  # "runbook" (Secret, then chart) or "chart-first"
    cluster_version: str = ""
    chart_version: str = ""  # chart name-version as helm lists it
    app_version: str = ""  # the Scrydon version the chart installs
    phases: list[Phase] = field(default_factory=list)
    secret_before_chart: SecretState | None = None
    secret_after_chart: SecretState | None = None
    secret_restore_error: str = ""  # why the backup's Secret could not be created
    cluster_key: masterkey.MasterKeyBackup | None = None  # what the platform runs with
    cluster_key_error: str = ""
    key_matches_backup: bool | None = None
    installed: bool = False
    install_error: str = ""
    rollout_seconds: float = 0.0
    rollout_timeout: float = 0.0
    workloads: dict[str, str] = field(default_factory=dict)  # kind/name -> "ready" or why not
    url: str = ""  # the deployed API through the run's port-forward
    url_error: str = ""

    @property
    def rollout_ok(self) -> bool:
        """Every workload of the release became ready in time."""
        return self.installed and bool(self.workloads) and all(
            v == "ready" for v in self.workloads.values())

    def master_key_story(self) -> str:
        """What happened to the master-key Secret, in the runbook's terms."""
        if self.order == "chart-first" or self.secret_before_chart is None:
            before = ("the chart was installed before the backed-up master-key Secret was "
                      "restored" if self.order == "chart-first" else
                      "no master-key Secret was in the namespace when the chart was installed")
            return (f"{before}: the chart's lookup found none and generated a new key, so "
                    "every encrypted secret in the restored database is unrecoverable "
                    "(runbook: restore the master-key Secret BEFORE helm install)")
        after = self.secret_after_chart
        if after is None:
            return "the master-key Secret is gone after the chart was installed"
        if after.uid != self.secret_before_chart.uid:
            return ("the master-key Secret was replaced while the chart was installed (uid "
                    f"{self.secret_before_chart.uid} before, {after.uid} after)")
        if self.key_matches_backup is False:
            return "the master-key Secret in the cluster holds another key than the backup"
        return ("the master-key Secret restored from the backup was in place before the chart "
                "and is unchanged after it")
