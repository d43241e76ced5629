"""kind clusters for ``kubernetes.cluster = "kind"``: create, load images, delete.

The drill drives the ``kind`` binary (found on PATH or named by ``kubernetes.kind``) rather
than a library, so what it does is what an operator would type. The cluster is named after
the run (``scrydon-drill-<run id>``), its kubeconfig written into the run folder (the user's
own kubeconfig is never touched), and it is deleted with the run; the sweep deletes the kind
clusters of dead runs by that name.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.config import KubernetesConfig
from harness.errors import ScratchError, ToolMissing

CLUSTER_PREFIX = "scrydon-drill-"


def cluster_name(run_id: str) -> str:
    """The kind cluster of a run (kind allows lower-case letters, digits and dashes)."""
    return (CLUSTER_PREFIX + run_id).lower()


def run_id_of(cluster: str) -> str | None:
    """The run id a kind cluster name carries, None for clusters the drill did not name."""
    return cluster[len(CLUSTER_PREFIX):] if cluster.startswith(CLUSTER_PREFIX) else None


def find_kind(kc: KubernetesConfig) -> str:
    """The kind binary; a clear error saying where one comes from."""
    found = kc.kind or shutil.which("kind")
    if not found or not Path(found).exists():
        raise ToolMissing("kind is not installed (or not on PATH)", store="scratch",
                          remedy="install kind (https://kind.sigs.k8s.io) or set "
                                 "kubernetes.kind; or use kubernetes.cluster = \"existing\"")
    return found


@dataclass(frozen=True)
class KindCommands:
    """The command lines of one run's kind cluster."""

    kind: str
    name: str
    kubeconfig: Path
    node_image: str = ""
    wait: str = "180s"

    def create(self) -> list[str]:
        """``kind create cluster`` with the run's name, node image and private kubeconfig."""
        argv = [self.kind, "create", "cluster", "--name", self.name,
                "--kubeconfig", str(self.kubeconfig), "--wait", self.wait]
        if self.node_image:
            argv += ["--image", self.node_image]
        return argv

    def load(self, images: Iterable[str]) -> list[str]:
        """``kind load docker-image``: images from the local engine onto the nodes."""
        return [self.kind, "load", "docker-image", "--name", self.name, *images]

    def delete(self) -> list[str]:
        """``kind delete cluster`` of exactly this run's cluster."""
        return [self.kind, "delete", "cluster", "--name", self.name,
                "--kubeconfig", str(self.kubeconfig)]

    @staticmethod
    def list_clusters(kind: str) -> list[str]:
        """``kind get clusters``."""
        return [kind, "get", "clusters"]


def run_kind(argv: list[str], what: str, timeout: float = 600) -> str:
    """Run a kind command; ScratchError with its output when it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ScratchError(f"kind {what} failed: {(proc.stderr or proc.stdout).strip()[-1500:]}",
                           remedy="kind needs a Docker engine and its node image (kindest/node)"
                                  " from a registry or loaded locally")
    return proc.stdout
