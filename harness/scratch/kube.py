"""Talking to a Kubernetes cluster through ``kubectl`` and ``helm``, and owning port-forwards.

The provider drives the cluster with the same tools an operator runs the runbook with:
``kubectl`` (``apply``, ``rollout status``, ``get``, ``logs``, ``exec``, ``cp``,
``port-forward``) and ``helm``. Both are looked for on ``PATH`` (the project's cluster
scripts put their own there); ``kubernetes.kubectl`` and ``kubernetes.helm`` name them
explicitly. Every command carries the configured kubeconfig and context, so the drill never
touches another cluster than the one it was pointed at.

A port-forward is a ``kubectl port-forward`` child process carrying the run's mark
(``SCRYDON_DRILL_OWNER``), so a killed drill's forwards are found by the sweep; connections
through it are retried, because a Service lags its pods' readiness by about a second.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import KubernetesConfig
from harness.errors import ScratchError, ToolMissing
from harness.records import OWNER_ENV
from harness.scratch.ports import free_port
from harness.tools.wait import Died, WaitTimeout, tail, wait_until


def find_tool(name: str, configured: str) -> str:
    """Path of ``kubectl`` or ``helm``; a clear error naming where one comes from."""
    found = configured or shutil.which(name)
    if not found or not Path(found).exists():
        raise ToolMissing(
            f"{name} is not installed (or not on PATH)", store="scratch",
            remedy=f"install {name} for your cluster's version, or set kubernetes.{name}; on "
                   "the project's machines scripts/k8s/cluster.sh env puts both on PATH")
    return found


@dataclass
class Kube:
    """``kubectl`` and ``helm`` bound to one kubeconfig and context."""

    config: KubernetesConfig
    kubectl: str = ""
    helm: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kubectl = find_tool("kubectl", self.config.kubectl)
        self.env = dict(os.environ)
        if self.config.kubeconfig:
            self.env["KUBECONFIG"] = self.config.kubeconfig

    def _context(self) -> list[str]:
        return ["--context", self.config.context] if self.config.context else []

    def run(self, *args: str, stdin: str | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``kubectl <args>``; ScratchError with its stderr when it fails and ``check``."""
        argv = [self.kubectl, *self._context(), *args]
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=self.env, check=False)
        if check and proc.returncode != 0:
            raise ScratchError(f"kubectl {' '.join(args[:3])} failed: "
                               f"{(proc.stderr or proc.stdout).strip()[-1500:]}",
                               remedy="check the cluster, the kubeconfig/context and RBAC")
        return proc

    def json(self, *args: str) -> Any:
        """``kubectl <args> -o json``, parsed."""
        return json.loads(self.run(*args, "-o", "json").stdout or "{}")

    def apply(self, manifest: str, namespace: str | None = None) -> None:
        """``kubectl apply -f -`` of a YAML document (stream)."""
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        self.run(*args, stdin=manifest)

    def helm_run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``helm <args>`` against the same cluster."""
        if not self.helm:
            self.helm = find_tool("helm", self.config.helm)
        ctx = ["--kube-context", self.config.context] if self.config.context else []
        proc = subprocess.run([self.helm, *ctx, *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, check=False)
        if proc.returncode != 0:
            raise ScratchError(f"helm {' '.join(args[:2])} failed: "
                               f"{(proc.stderr or proc.stdout).strip()[-2000:]}",
                               remedy="read helm's message; check the chart and its values")
        return proc

    def server_version(self) -> str:
        """The cluster's Kubernetes version (``v1.20.2``); a clear error when it does not
        answer."""
        proc = self.run("version", "-o", "json", check=False, timeout=60)
        try:
            data = json.loads(proc.stdout or "{}")
        except ValueError:
            data = {}
        version = str(data.get("serverVersion", {}).get("gitVersion", ""))
        if not version:
            where = self.config.kubeconfig or self.env.get("KUBECONFIG") or "~/.kube/config"
            raise ScratchError(
                "the Kubernetes cluster does not answer: "
                + (proc.stderr.strip().splitlines() or ["no server version"])[-1][:500],
                path=where, remedy="check kubernetes.kubeconfig / kubernetes.context and that "
                "the cluster runs (kubectl version)")
        return version

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods matching a label selector."""
        data = self.json("get", "pods", "-n", namespace, "-l", selector)
        return list(data.get("items", []))

    def logs(self, namespace: str, pod: str, *, container: str = "", lines: int = 60,
             previous: bool = False) -> str:
        """The tail of a pod's log (empty when there is none)."""
        args = ["logs", "-n", namespace, pod, f"--tail={lines}"]
        if container:
            args += ["-c", container]
        if previous:
            args.append("--previous")
        proc = self.run(*args, check=False, timeout=60)
        return proc.stdout if proc.returncode == 0 else ""

    def events(self, namespace: str, name: str) -> str:
        """Warning events of one object, newest last (why a pod does not start)."""
        proc = self.run("get", "events", "-n", namespace, "--field-selector",
                        f"involvedObject.name={name}", "-o",
                        "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
                        "--no-headers", check=False, timeout=60)
        return "\n".join(line for line in proc.stdout.splitlines() if line.strip())


class PortForward:
    """``kubectl port-forward`` to a Service or pod, on 127.0.0.1, owned by the run."""

    def __init__(self, kube: Kube, namespace: str, target: str, port: int, run_id: str,
                 log: Path) -> None:
        self.kube = kube
        self.namespace = namespace
        self.target = target  # svc/<name> or pod/<name>
        self.port = port
        self.local = 0
        self.run_id = run_id
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> int:
        """Start the forward and wait until it listens; return the local port."""
        self.local = free_port()
        env = {**self.kube.env, OWNER_ENV: self.run_id}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.kube.kubectl, *self.kube._context(), "port-forward", "-n", self.namespace,
                 "--address", "127.0.0.1", self.target, f"{self.local}:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        proc = self.proc
        try:
            wait_until(lambda: "Forwarding from" in self.log.read_text(errors="replace"),
                       timeout=timeout, alive=lambda: proc.poll() is None)
        except (Died, WaitTimeout) as exc:
            self.stop()
            raise ScratchError(f"kubectl port-forward to {self.namespace}/{self.target} did "
                               "not start", detail=tail(self.log), remedy="kubectl port-forward "
                               "needs socat on the node and a ready pod behind the Service"
                               ) from exc
        return self.local

    def alive(self) -> bool:
        """Whether the forward's kubectl still runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop the forward (and its process group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.proc = None
