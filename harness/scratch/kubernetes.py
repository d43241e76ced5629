"""Scratch stores on Kubernetes (``scratch.provider = "kubernetes"``): the runbook's full DR.

The provider works in one namespace per run (``drill-<run id>``, labelled with it) of an
existing cluster (``kubernetes.cluster = "existing"``: kubeconfig and context) or of a kind
cluster it creates for the run. Each store is a one-replica Deployment with a Service and a
readiness probe; the harness reaches it through a ``kubectl port-forward`` it owns and proves
it serves (a query, an object written) before restoring into it.

After the restore, :meth:`KubernetesProvider.deploy_platform` carries out the rest of the
runbook in its order: the backed-up ``master-key`` Secret created in the namespace (namespace
rewritten, server fields dropped), then ``helm install`` of the platform chart with the
restored stores' in-cluster addresses, then the rollout waited for (with the logs of whatever
does not become ready), then a port-forward to the platform's API for ``signin.deployed``.
Every step is a phase of the evidence.

What the run created is recorded in ``kubernetes.json`` in its run folder before it is
created, so a killed run's namespace, release and kind cluster can be found by the sweep; a
namespace the drill did not create is never deleted, only the run's labelled objects in it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config import DrillConfig, KubernetesConfig
from harness.crypto import dapr, masterkey
from harness.errors import ScratchError, ServerStartError
from harness.records import Phase, utcnow
from harness.scratch import k8s_manifests as manifests
from harness.scratch.base import RUN_LABEL, SCRATCH_STORES, ScratchProvider, SweepReport
from harness.scratch.deployment import PlatformDeployment, SecretState
from harness.scratch.endpoints import Endpoints, PostgresEndpoint
from harness.scratch.kind import KindCommands, cluster_name, find_kind, run_kind
from harness.scratch.kube import Kube, PortForward
from harness.scratch.run import Run
from harness.scratch.storespec import (
    POSTGRES_IDS,
    StoreSpec,
    local_endpoints,
    local_postgres,
    postgres_endpoint,
    readiness_probe,
    s3_endpoint,
    store_spec,
    warehouse_endpoint,
)
from harness.tools.pitr import (
    PitrResult,
    base_backup_major,
    prepare_datadir,
    recovery_failed,
    recovery_proof,
    recovery_settings,
    stage_wal,
)
from harness.tools.wait import Died, WaitTimeout, wait_until

STATE_FILE = "kubernetes.json"
# Container states that will not become ready by waiting.
_STUCK = {"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull",
          "CreateContainerConfigError", "CreateContainerError", "InvalidImageName",
          "RunContainerError"}
_LOG_LINES = 40


@dataclass
class _KStore:
    """One store running in the namespace."""

    spec: StoreSpec
    forward: PortForward | None = None
    cluster_ip: str = ""
    endpoint: PostgresEndpoint | None = None
    version: str = ""

    @property
    def port(self) -> int:
        return self.forward.local if self.forward else 0


def _pull_policy(image: str) -> str:
    # A moving local tag is never pulled: it exists only where it was built or loaded.
    return "Never" if image.startswith("scrydon-drill/") else "IfNotPresent"


def _pod_problem(pod: Mapping[str, Any]) -> str | None:
    """Why a pod will not become ready by waiting (None while it still may)."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Failed", "Succeeded"):
        return f"pod phase {status['phase']}"
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses")
                                                            or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _STUCK:
            return f"{cs.get('name')}: {waiting['reason']}: {waiting.get('message', '')}".strip()
        if int(cs.get("restartCount") or 0) >= 2:
            last = (cs.get("lastState") or {}).get("terminated") or {}
            return (f"{cs.get('name')} restarted {cs['restartCount']} times (last exit "
                    f"{last.get('exitCode', '?')}: {last.get('reason', '')})")
    return None


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _workload_ready(obj: Mapping[str, Any]) -> bool:
    """A Deployment, StatefulSet or DaemonSet whose current generation is fully ready."""
    status = obj.get("status") or {}
    meta = obj.get("metadata") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False
    if obj.get("kind") == "DaemonSet":
        want = int(status.get("desiredNumberScheduled") or 0)
        return int(status.get("numberReady") or 0) >= want and \
            int(status.get("updatedNumberScheduled") or 0) >= want
    want = int((obj.get("spec") or {}).get("replicas", 1))
    return (int(status.get("readyReplicas") or 0) >= want
            and int(status.get("updatedReplicas") or 0) >= want)


def _fill(template: str, values: Mapping[str, str]) -> dict[str, Any]:
    """``a.b={placeholder},c=literal`` into nested chart values."""
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in template.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ScratchError(f"kubernetes.store_values entry {item!r} is not key=value",
                               remedy="write kubernetes.store_values as chart.key={placeholder}"
                                      ",...")
        try:
            value = raw.format_map(values)
        except KeyError as exc:
            raise ScratchError(f"kubernetes.store_values: unknown placeholder {exc}",
                               remedy="use " + " ".join("{" + k + "}" for k in values)
                               ) from exc
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = int(value) if value.isdigit() and "port" in parts[-1] else value
    return out


class KubernetesProvider(ScratchProvider):
    """Stores as Deployments in a namespace of the run; the platform chart on top of them."""

    name = "kubernetes"

    def __init__(self, config: DrillConfig, run: Run, *,
                 stores: tuple[str, ...] = SCRATCH_STORES) -> None:
        super().__init__(config, run, stores=stores)
        self.kc = config.kubernetes
        self.namespace = self.kc.namespace or f"drill-{run.run_id.lower()}"
        self.kube: Kube | None = None
        self.cluster_version = ""
        self.created_namespace = False
        self.kind: KindCommands | None = None
        self._stores: dict[str, _KStore] = {}
        self._forwards: list[PortForward] = []
        self._pitr_pods: list[str] = []
        self.release_installed = False
        self.deployment: PlatformDeployment | None = None
        self.phases: list[Phase] = []
        self._state: dict[str, Any] = {}

    # -- bookkeeping ------------------------------------------------------------------------
    def _save_state(self, **values: Any) -> None:
        """Record what the run is about to create, before it creates it (for the sweep)."""
        self._state.update(values)
        path = self.run.directory / STATE_FILE
        path.write_text(json.dumps(self._state, indent=1))

    @contextmanager
    def _phase(self, store: str, name: str, detail: str = "") -> Iterator[Phase]:
        started = utcnow()
        t0 = time.monotonic()
        phase = Phase(store=store, name=name, started_at=started.isoformat(), seconds=0.0,
                      detail=detail)
        try:
            yield phase
        except BaseException as exc:
            phase.ok = False
            phase.detail = (phase.detail + "; " if phase.detail else "") + str(exc)[:500]
            raise
        finally:
            phase.seconds = round(time.monotonic() - t0, 6)
            self.phases.append(phase)
            self.timings.add(f"{store}.{name}", phase.seconds)

    def _kube_config(self) -> KubernetesConfig:
        if self.kind is not None:
            return dataclasses.replace(self.kc, kubeconfig=str(self.kind.kubeconfig),
                                       context=f"kind-{self.kind.name}")
        return self.kc

    def _k(self) -> Kube:
        if self.kube is None:
            raise ScratchError("the Kubernetes provider was not started")
        return self.kube

    def owner(self) -> str:
        """``host:pid`` of the process that owns the run's objects."""
        return f"{socket.gethostname()}:{os.getpid()}"

    # -- images ------------------------------------------------------------------------------
    def image_for(self, store: str, major: int | None = None) -> str:
        """The image a store runs (see ``kubernetes.images``)."""
        from harness.images import default_images, local_images

        cc = self.config.containers
        major = major or self.config.scratch.postgres_version
        configured = {"postgres": cc.postgres_image, "objects": cc.objects_image,
                      "warehouse": cc.warehouse_image}[store]
        if configured:
            return configured
        service = {"postgres": "postgres", "objects": "seaweedfs", "warehouse": "mariadb"}[store]
        if self.kc.images == "local":
            if store == "postgres" and major != 16:
                raise ScratchError(
                    f"no local image of PostgreSQL {major}: the local stand-in is PostgreSQL 16",
                    remedy="set containers.postgres_image to a pgvector image of that major, "
                           "or kubernetes.images = \"upstream\"")
            return local_images()[service]
        ref = default_images()[service]
        return ref.replace("-pg16", f"-pg{major}") if store == "postgres" else ref

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> Endpoints:
        """Namespace, one Deployment + Service per store, ready and reachable."""
        if self._started:
            return self.endpoints
        self._started = True
        t0 = time.monotonic()
        try:
            if self.kc.cluster == "kind":
                self._create_kind()
            with self._phase("cluster", "connect") as ph:
                self.kube = Kube(self._kube_config())
                self.cluster_version = self.kube.server_version()
                ph.detail = f"Kubernetes {self.cluster_version}"
            with self._phase("cluster", "namespace", self.namespace):
                self._ensure_namespace()
            if self.stores:
                with self._phase("scratch", "stores ready", ", ".join(self.stores)):
                    self._start_stores()
            self.timings.add("kubernetes.start", time.monotonic() - t0)
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def _create_kind(self) -> None:
        kind = find_kind(self.kc)
        self.kind = KindCommands(kind, cluster_name(self.run.run_id),
                                 self.run.directory / "kind.kubeconfig", self.kc.kind_node_image)
        self._save_state(kind_cluster=self.kind.name, kind=kind,
                         kubeconfig=str(self.kind.kubeconfig))
        with self._phase("cluster", "kind create", self.kind.name):
            run_kind(self.kind.create(), "create cluster", timeout=900)
        if self.kc.images == "local":
            from harness.images import local_images

            with self._phase("cluster", "kind load images"):
                run_kind(self.kind.load(sorted(set(local_images().values()))), "load",
                         timeout=900)

    def _ensure_namespace(self) -> None:
        kube = self._k()
        self._save_state(kubeconfig=self._state.get("kubeconfig") or self.kc.kubeconfig,
                         context=self.kc.context, namespace=self.namespace)
        exists = kube.run("get", "namespace", self.namespace, check=False).returncode == 0
        if exists:
            if not self.kc.namespace:
                raise ScratchError(f"namespace {self.namespace} exists already",
                                   remedy="a run id is never reused: remove the namespace")
            return
        self._save_state(created_namespace=True)
        kube.apply(yaml.safe_dump(manifests.namespace(self.namespace, self.run.run_id,
                                                      self.owner())))
        self.created_namespace = True

    def _start_stores(self) -> None:
        kube = self._k()
        docs: list[dict[str, Any]] = []
        for store in self.stores:
            spec = store_spec(store, self.image_for(store), self.config)
            self._stores[store] = _KStore(spec)
            docs.append(manifests.store_secret(spec, self.namespace, self.run.run_id))
            if self.kc.storage_class:
                docs.append(manifests.store_volume_claim(spec, self.namespace,
                                                         self.run.run_id, self.kc))
            docs.append(manifests.store_deployment(spec, self.namespace, self.run.run_id,
                                                   self.kc, _pull_policy(spec.image)))
            docs.append(manifests.store_service(spec, self.namespace, self.run.run_id))
        kube.apply(yaml.safe_dump_all(docs))
        deadline = time.monotonic() + self.config.scratch.ready_timeout
        for store, item in self._stores.items():
            took = self._wait_pod(f"{manifests.STORE_LABEL}={store},{RUN_LABEL}="
                                  f"{self.run.run_id}", f"the {store} store",
                                  item.spec.image, deadline)
            self.timings.add(f"{store}.pod-ready", took)
        for store, item in self._stores.items():
            svc = kube.json("get", "service", store, "-n", self.namespace)
            item.cluster_ip = str(svc.get("spec", {}).get("clusterIP", ""))
            forward = item.forward = self._forward(f"svc/{store}", item.spec.port, store)
            probe, transient = readiness_probe(store, self._endpoint_factory(store))
            t1 = time.monotonic()
            try:
                wait_until(probe, timeout=max(5.0, deadline - time.monotonic()),
                           transient=transient, alive=forward.alive)
            except (Died, WaitTimeout) as exc:
                raise ServerStartError(
                    f"the {store} store's pod is ready but the store does not serve through "
                    f"its port-forward: {exc}", remedy="read the pod's log below",
                    detail=self.logs(store)) from exc
            self.timings.add(f"{store}.serves", time.monotonic() - t1)

    def _forward(self, target: str, port: int, label: str) -> PortForward:
        forward = PortForward(self._k(), self.namespace, target, port, self.run.run_id,
                              self.run.directory / f"port-forward-{label}.log")
        self._forwards.append(forward)
        forward.start()
        return forward

    def _wait_pod(self, selector: str, what: str, image: str, deadline: float) -> float:
        """Wait for the pod behind ``selector`` to be Ready; fail at once when it cannot be."""
        kube = self._k()
        t0 = time.monotonic()
        last: list[dict[str, Any]] = []

        def ready() -> bool:
            last[:] = kube.pods(self.namespace, selector)
            for pod in last:
                problem = _pod_problem(pod)
                if problem:
                    raise _PodStuck(pod["metadata"]["name"], problem)
            return bool(last) and all(_pod_ready(p) for p in last)

        try:
            wait_until(ready, timeout=max(1.0, deadline - time.monotonic()), interval=0.5)
        except _PodStuck as exc:
            raise ServerStartError(f"{what} ({image}) will not become ready: pod {exc.pod}: "
                                   f"{exc.problem}", remedy="read the pod's events and log below",
                                   detail=self._pod_detail(exc.pod)) from exc
        except WaitTimeout as exc:
            names = [p["metadata"]["name"] for p in last]
            raise ServerStartError(
                f"{what} ({image}) was not ready after "
                f"{self.config.scratch.ready_timeout:.0f} s"
                + (f" (pods: {', '.join(names)})" if names else " (no pod was created)"),
                remedy="raise scratch.ready_timeout on a slow cluster, or read the events and "
                       "log below", detail="\n".join(self._pod_detail(n) for n in names)
            ) from exc
        return time.monotonic() - t0

    def _pod_detail(self, pod: str) -> str:
        kube = self._k()
        events = kube.events(self.namespace, pod)
        log = kube.logs(self.namespace, pod, lines=_LOG_LINES) or kube.logs(
            self.namespace, pod, lines=_LOG_LINES, previous=True)
        return (f"-- events of {pod} --\n{events or '(none)'}\n"
                f"-- log of {pod} --\n{log or '(empty)'}")

    # -- endpoints -----------------------------------------------------------------------------
    def _endpoint_factory(self, store: str) -> Callable[[], Any]:
        item = self._stores[store]
        if store == "postgres":
            return lambda: self._postgres(item)
        if store == "objects":
            return lambda: s3_endpoint(item.spec, "127.0.0.1", item.port)
        return lambda: warehouse_endpoint(item.spec, "127.0.0.1", item.port)

    def _postgres(self, item: _KStore) -> PostgresEndpoint:
        return local_postgres(item, self.config.scratch.postgres_version)

    @property
    def endpoints(self) -> Endpoints:
        """The stores through the run's port-forwards."""
        return local_endpoints(self._stores, self.config.scratch.postgres_version)

    def in_cluster_values(self) -> dict[str, str]:
        """The restored stores as the platform's pods reach them (Service ClusterIPs: they
        work with and without cluster DNS)."""
        out: dict[str, str] = {}
        pg = self._stores.get("postgres")
        if pg:
            out.update(postgres_host=pg.cluster_ip, postgres_port=str(pg.spec.port),
                       postgres_user=pg.spec.user, postgres_password=pg.spec.password)
        s3 = self._stores.get("objects")
        if s3:
            out.update(s3_endpoint=f"http://{s3.cluster_ip}:{s3.spec.port}",
                       s3_access_key=s3.spec.user, s3_secret_key=s3.spec.password)
        wh = self._stores.get("warehouse")
        if wh:
            out.update(warehouse_host=wh.cluster_ip, warehouse_port=str(wh.spec.port),
                       warehouse_user=wh.spec.user, warehouse_password=wh.spec.password)
        return out

    # -- the platform (runbook steps 5-7) -----------------------------------------------------
    def deploy_platform(self, document: str | None,
                        backup_key: masterkey.MasterKeyBackup | None) -> PlatformDeployment:
        """Restore the master-key Secret, install the chart, wait for the rollout, forward to
        the API — in the runbook's order, or chart first when ``kubernetes.apply_order``
        says so. Failures are recorded in the result, not raised: the checks report them."""
        kc = self.kc
        dep = PlatformDeployment(namespace=self.namespace, release=kc.release, chart=kc.chart,
                                 order=kc.apply_order, cluster_version=self.cluster_version,
                                 rollout_timeout=kc.rollout_timeout)
        self.deployment = dep
        first = len(self.phases)
        try:
            if kc.apply_order == "runbook":
                self._restore_secret(dep, document)
                self._install_chart(dep)
            else:
                self._install_chart(dep)
                self._restore_secret(dep, document)
            if dep.installed:
                self._wait_rollout(dep)
            self._read_cluster_key(dep, backup_key)
            if dep.rollout_ok:
                self._forward_platform(dep)
        finally:
            # The deployment's phases travel with it; the provider keeps its own.
            dep.phases = self.phases[first:]
            del self.phases[first:]
        return dep

    def _secret_state(self) -> SecretState | None:
        proc = self._k().run("get", "secret", "master-key", "-n", self.namespace, "-o", "json",
                             check=False)
        if proc.returncode != 0:
            return None
        meta = json.loads(proc.stdout).get("metadata", {})
        annotations = meta.get("annotations") or {}
        return SecretState(uid=str(meta.get("uid", "")),
                           created=str(meta.get("creationTimestamp", "")),
                           helm_owned="meta.helm.sh/release-name" in annotations,
                           restored_by_drill=(meta.get("labels") or {}).get(RUN_LABEL)
                           == self.run.run_id)

    def _restore_secret(self, dep: PlatformDeployment, document: str | None) -> None:
        try:
            with self._phase("master-key", "secret applied", "master-key") as ph:
                if document is None:
                    raise ScratchError("no usable master-key backup to restore")
                doc = yaml.safe_load(document)
                secret = manifests.master_key_secret(doc, self.namespace, self.run.run_id)
                # create, not apply: a Secret already there (the chart's, or someone's in a
                # namespace the drill did not create) must never be overwritten.
                proc = self._k().run("create", "-f", "-", stdin=json.dumps(secret),
                                     check=False)
                if proc.returncode != 0:
                    raise ScratchError((proc.stderr or proc.stdout).strip()[-500:])
                ph.detail = f"created in {self.namespace}"
        except ScratchError as exc:
            dep.secret_restore_error = str(exc)
        if not dep.installed:
            dep.secret_before_chart = self._secret_state()

    def _install_chart(self, dep: PlatformDeployment) -> None:
        kc = self.kc
        if not kc.chart:
            dep.install_error = "no chart is configured (kubernetes.chart)"
            return
        try:
            with self._phase("platform", "helm install", f"{kc.release} from {kc.chart}"):
                values = self.run.directory / "store-values.yaml"
                fd = os.open(values, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    yaml.safe_dump(_fill(kc.store_values, self.in_cluster_values()), fh)
                args = ["install", kc.release, kc.chart, "-n", self.namespace]
                if kc.chart_version:
                    args += ["--version", kc.chart_version]
                for extra in filter(None, (v.strip() for v in kc.values.split(","))):
                    args += ["-f", extra]
                args += ["-f", str(values)]
                self._save_state(release=kc.release)
                self._k().helm_run(*args)
                self.release_installed = True
                dep.installed = True
                listed = json.loads(self._k().helm_run("list", "-n", self.namespace,
                                                       "-o", "json").stdout or "[]")
                for rel in listed:
                    if rel.get("name") == kc.release:
                        dep.chart_version = str(rel.get("chart", ""))
                        dep.app_version = str(rel.get("app_version", ""))
        except ScratchError as exc:
            dep.install_error = exc.render()
        dep.secret_after_chart = self._secret_state()

    def _workloads(self) -> list[str]:
        manifest = self._k().helm_run("get", "manifest", self.kc.release, "-n",
                                      self.namespace).stdout
        out = []
        for doc in yaml.safe_load_all(manifest):
            if isinstance(doc, dict) and doc.get("kind") in ("Deployment", "StatefulSet",
                                                             "DaemonSet"):
                out.append(f"{doc['kind'].lower()}/{doc['metadata']['name']}")
        return out

    def _wait_rollout(self, dep: PlatformDeployment) -> None:
        """Poll the release's workloads until all are ready, one cannot become ready (a pod
        crash-looping, an image that cannot be pulled), or the timeout passes."""
        kube = self._k()
        t0 = time.monotonic()
        with self._phase("platform", "rollout") as ph:
            pending = self._workloads()
            stuck: dict[str, str] = {}

            def settled() -> bool:
                for workload in list(pending):
                    obj = kube.json("get", workload, "-n", self.namespace)
                    if _workload_ready(obj):
                        dep.workloads[workload] = "ready"
                        pending.remove(workload)
                        continue
                    for pod in self._workload_pods(obj):
                        problem = _pod_problem(pod)
                        if problem:
                            stuck[workload] = problem
                            pending.remove(workload)
                            break
                return not pending

            try:
                wait_until(settled, timeout=self.kc.rollout_timeout, interval=1.0)
            except WaitTimeout:
                pass
            for workload in pending:
                dep.workloads[workload] = (f"not ready after {self.kc.rollout_timeout:.0f} s: "
                                           + self._not_ready_detail(workload))
            for workload, problem in stuck.items():
                dep.workloads[workload] = (f"cannot become ready ({problem}): "
                                           + self._not_ready_detail(workload))
            dep.rollout_seconds = time.monotonic() - t0
            ready = sum(v == "ready" for v in dep.workloads.values())
            ph.detail = f"{ready} of {len(dep.workloads)} workload(s) ready"
            ph.ok = dep.rollout_ok

    def _workload_pods(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        return self._k().pods(self.namespace, selector) if selector else []

    def _not_ready_detail(self, workload: str) -> str:
        kube = self._k()
        parts = []
        for pod in self._workload_pods(kube.json("get", workload, "-n", self.namespace)):
            if _pod_ready(pod):
                continue
            pname = pod["metadata"]["name"]
            problem = _pod_problem(pod) or "readiness probe failing"
            log = kube.logs(self.namespace, pname, lines=15).strip()
            events = kube.events(self.namespace, pname).strip()
            parts.append(f"pod {pname}: {problem}"
                         + (f"; events: {events[-600:]}" if events else "")
                         + (f"; log: {log[-800:]}" if log else ""))
        return " | ".join(parts) or "no pod"

    def _read_cluster_key(self, dep: PlatformDeployment,
                          backup_key: masterkey.MasterKeyBackup | None) -> None:
        proc = self._k().run("get", "secret", "master-key", "-n", self.namespace, "-o", "json",
                             check=False)
        if proc.returncode != 0:
            dep.cluster_key_error = "the namespace holds no master-key Secret"
            return
        doc = json.loads(proc.stdout)
        try:
            dep.cluster_key = masterkey.load_master_key_backup(yaml.safe_dump(doc))
        except dapr.DaprCryptoError as exc:
            dep.cluster_key_error = f"the cluster's master-key Secret is unusable: {exc}"
            return
        if backup_key is not None:
            dep.key_matches_backup = dep.cluster_key.key == backup_key.key

    def _forward_platform(self, dep: PlatformDeployment) -> None:
        try:
            with self._phase("platform", "port-forward", self.kc.platform_service):
                forward = self._forward(f"svc/{self.kc.platform_service}",
                                        self.kc.platform_port, "platform")
                dep.url = f"http://127.0.0.1:{forward.local}"
        except ScratchError as exc:
            dep.url_error = exc.render()

    # -- teardown ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the port-forwards, uninstall the release, delete what the run created (the
        namespace only when the run created it), delete the kind cluster it created."""
        t0 = time.monotonic()
        errors: list[str] = []
        for forward in self._forwards:
            forward.stop()
        self._forwards.clear()
        kube, self.kube = self.kube, None  # a second stop() has nothing left to do
        if self.kind is not None:
            # The run's own kind cluster goes as a whole.
            try:
                run_kind(self.kind.delete(), "delete cluster")
            except ScratchError as exc:
                errors.append(str(exc))
            self.kind = None
        elif kube is not None:
            # A namespace the run created (or was about to: the state file says so before
            # the call) goes as a whole, release included; in someone else's namespace the
            # release is uninstalled first.
            own = bool(self._state.get("created_namespace"))
            if self.release_installed and not own:
                try:
                    kube.helm_run("uninstall", self.kc.release, "-n", self.namespace,
                                  "--wait", "--timeout", "120s")
                except ScratchError as exc:
                    errors.append(str(exc))
            if self._state.get("namespace"):
                errors += _delete_run_objects(kube, self.namespace, self.run.run_id,
                                              namespace_too=own)
        self.release_installed = False
        self.created_namespace = False
        self._stores.clear()
        self.timings.add("kubernetes.stop", time.monotonic() - t0)
        if errors:
            raise ScratchError("some Kubernetes objects could not be removed",
                               detail="\n".join(errors),
                               remedy="run 'scrydon-drill sweep' to remove leftovers")

    # -- evidence ---------------------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        """Cluster, namespace and the image of every store."""
        out = {"provider": "kubernetes", "cluster": self.kc.cluster,
               "kubernetes": self.cluster_version, "namespace": self.namespace}
        if self.kc.context:
            out["context"] = self.kc.context
        if self.kind is not None:
            out["kind_cluster"] = self.kind.name
        for store, item in self._stores.items():
            out[f"{store}_image"] = item.spec.image
        return out

    def versions(self) -> dict[str, str]:
        """Server versions, the cluster's and each store's image."""
        out = super().versions()
        out["kubernetes"] = self.cluster_version
        for store, item in self._stores.items():
            out[f"{store} image"] = item.spec.image
        return out

    def logs(self, store: str) -> str:
        """The tail of a store pod's log."""
        if self.kube is None:
            return ""
        pods = self.kube.pods(self.namespace, f"{manifests.STORE_LABEL}={store},{RUN_LABEL}="
                              f"{self.run.run_id}")
        return "\n".join(self.kube.logs(self.namespace, p["metadata"]["name"], lines=_LOG_LINES)
                         for p in pods)

    # -- point-in-time recovery --------------------------------------------------------------------
    def recover_postgres(self, base: Path, wal: Path, target: dt.datetime
                         ) -> tuple[PostgresEndpoint, PitrResult]:
        """Recover in a pod of the base backup's major version: base backup and staged WAL
        copied in (``kubectl cp``), recovery settings on the command line, promoted."""
        kube = self._k()
        major = base_backup_major(base)
        image = self.image_for("postgres", major)
        name = f"postgres-pitr-{len(self._pitr_pods) + 1}"
        settings = recovery_settings("/pitr/wal", target, "/pitr/data/pg_hba.conf")
        settings["listen_addresses"] = "*"
        command = ["postgres"] + [a for k, v in settings.items() for a in ("-c", f"{k}={v}")]
        kube.apply(yaml.safe_dump(manifests.pitr_pod(
            name, image, self.namespace, self.run.run_id, command, *POSTGRES_IDS,
            _pull_policy(image))))
        self._pitr_pods.append(name)
        with tempfile.TemporaryDirectory(dir=self.run.directory) as tmp:
            work = Path(tmp)
            stage_wal(wal, work / "wal")
            prepare_datadir(base, work / "data", None)
            deadline = time.monotonic() + max(120.0, self.config.scratch.ready_timeout)

            def receiving() -> bool:
                pod = kube.json("get", "pod", name, "-n", self.namespace)
                for cs in pod.get("status", {}).get("initContainerStatuses") or []:
                    if (cs.get("state") or {}).get("running"):
                        return True
                problem = _pod_problem(pod)
                if problem:
                    raise ScratchError(f"the recovery pod {name} ({image}) cannot start: "
                                       f"{problem}", detail=self._pod_detail(name))
                return False

            wait_until(receiving, timeout=deadline - time.monotonic(), interval=0.5)
            with self._phase("postgres", "pitr copy", f"{name}"):
                for part in ("data", "wal"):
                    kube.run("cp", str(work / part), f"{self.namespace}/{name}:/pitr/{part}",
                             "-c", "receive", timeout=1800)
                kube.run("exec", "-n", self.namespace, name, "-c", "receive", "--", "touch",
                         "/pitr/copied")
        password = store_spec("postgres", image, self.config).password

        def psql(sql: str) -> tuple[int, str]:
            # Trust on the pod's own socket: the base backup carries the source's passwords.
            proc = kube.run("exec", "-n", self.namespace, name, "-c", "postgres", "--", "psql",
                            "-U", "postgres", "-Atc", sql, check=False, timeout=60)
            return proc.returncode, proc.stdout.strip()

        def promoted() -> bool:
            pod = kube.json("get", "pod", name, "-n", self.namespace)
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                raise _PodStuck(name, "the recovery server exited")
            code, out = psql("SELECT pg_is_in_recovery()")
            if code != 0 or out != "f":
                return False
            return psql(f"ALTER USER postgres PASSWORD '{password}'")[0] == 0

        try:
            wait_until(promoted, timeout=max(300.0, self.config.scratch.ready_timeout),
                       interval=1.0)
        except (_PodStuck, WaitTimeout) as exc:
            log = kube.logs(self.namespace, name, container="postgres", lines=120)
            raise recovery_failed(log, target, str(wal), str(base)) from exc
        # The API may still call the container "initializing" a few seconds after it serves
        # (the kubelet syncs pod status every ~10 s): wait until its log can be read and
        # holds the end of recovery.
        logs = [""]

        def recovered_log() -> bool:
            logs[0] = kube.logs(self.namespace, name, container="postgres", lines=100000)
            return "recovery stopping" in logs[0] or "ready to accept connections" in logs[0]

        try:
            wait_until(recovered_log, timeout=60, interval=1.0)
        except WaitTimeout:
            pass  # judged on what the log holds
        proof = recovery_proof(logs[0], target, str(wal))
        forward = self._forward(f"pod/{name}", 5432, name)
        spec = dataclasses.replace(store_spec("postgres", image, self.config),
                                   password=password)
        return postgres_endpoint(spec, "127.0.0.1", forward.local, major=major), proof

    # -- leftovers ---------------------------------------------------------------------------------
    @classmethod
    def sweep(cls, dead_runs: Mapping[str, Path], report: SweepReport) -> None:
        """For each dead run that recorded Kubernetes state: its release uninstalled, its
        labelled objects (and its namespace, if it created it) deleted, its kind cluster
        deleted. Port-forward processes carry the run's mark: the process sweep ends them."""
        for run_id, folder in dead_runs.items():
            try:
                state = json.loads((folder / STATE_FILE).read_text())
            except (OSError, ValueError):
                continue
            if state.get("kind_cluster") and state.get("kind"):
                name = str(state["kind_cluster"])
                if cluster_name(run_id) != name:
                    continue  # a name the run did not derive: never delete it
                cmd = KindCommands(str(state["kind"]), name, folder / "kind.kubeconfig")
                try:
                    run_kind(cmd.delete(), "delete cluster")
                    report.removed.append(f"kind cluster {name}")
                except (ScratchError, OSError) as exc:
                    report.errors.append(f"kind cluster {name}: {exc}")
                continue
            namespace = str(state.get("namespace") or "")
            if not namespace:
                continue
            kc = KubernetesConfig(kubeconfig=str(state.get("kubeconfig") or ""),
                                  context=str(state.get("context") or ""))
            try:
                kube = Kube(kc)
                if state.get("release") and not state.get("created_namespace"):
                    try:
                        kube.helm_run("uninstall", str(state["release"]), "-n", namespace,
                                      "--wait", "--timeout", "120s")
                    except ScratchError:
                        pass  # not installed after all, or the namespace is gone
                ns = kube.run("get", "namespace", namespace, "-o", "json", check=False)
                if ns.returncode != 0:
                    continue
                labels = json.loads(ns.stdout).get("metadata", {}).get("labels") or {}
                own_ns = bool(state.get("created_namespace")) and cls.owns(labels, {run_id})
                errors = _delete_run_objects(kube, namespace, run_id, namespace_too=own_ns)
                report.errors.extend(errors)
                report.removed.append(f"namespace {namespace}" if own_ns else
                                      f"objects of run {run_id} in namespace {namespace}")
            except (ScratchError, OSError, subprocess.SubprocessError) as exc:
                report.errors.append(f"kubernetes (run {run_id}): {exc}")


class _PodStuck(Exception):
    def __init__(self, pod: str, problem: str) -> None:
        super().__init__(f"{pod}: {problem}")
        self.pod = pod
        self.problem = problem


def _delete_run_objects(kube: Kube, namespace: str, run_id: str, *,
                        namespace_too: bool) -> list[str]:
    """Delete what the run created in ``namespace``: its workloads first, waiting until their
    pods are gone (foreground), then its other objects — and the namespace itself when the
    run created it. Deleting a namespace whose pods are still terminating makes the namespace
    controller back off (measured here: 17 s to over 2 min); emptied first, it goes in ~5 s.
    In a namespace the run did not create only objects carrying its label are touched."""
    scope = ["--all"] if namespace_too else ["-l", f"{RUN_LABEL}={run_id}"]
    errors: list[str] = []
    for kinds, cascade in (("deployment,statefulset,daemonset,job", "foreground"),
                           ("pod", "background"),
                           ("service,secret,persistentvolumeclaim", "background")):
        if namespace_too and kinds.startswith("service"):
            continue  # the namespace takes them with it
        proc = kube.run("delete", kinds, "-n", namespace, *scope, "--wait=true",
                        f"--cascade={cascade}", "--timeout=120s", "--ignore-not-found",
                        check=False, timeout=180)
        if proc.returncode != 0 and "NotFound" not in proc.stderr:
            errors.append(proc.stderr.strip()[-300:])
    if namespace_too:
        proc = kube.run("delete", "namespace", namespace, "--wait=true", "--timeout=240s",
                        "--ignore-not-found", check=False, timeout=300)
        if proc.returncode != 0:
            errors.append(proc.stderr.strip()[-300:])
    return errors
