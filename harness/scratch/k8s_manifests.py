"""The Kubernetes objects the drill creates for its stores, as plain manifests.

Every object carries the run label (``io.scrydon-drill.run``), the store label and
``app.kubernetes.io/managed-by: scrydon-drill``; credentials travel in a Secret per store
(``envFrom``), never in a pod spec. Readiness probes are TCP: they work for every image; the
harness then proves each store really serves (a query, an object written) through its own
port-forward.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from harness.config import KubernetesConfig
from harness.scratch.base import RUN_LABEL
from harness.scratch.storespec import StoreSpec

STORE_LABEL = "io.scrydon-drill.store"
OWNER_ANNOTATION = "io.scrydon-drill.owner"  # host:pid is no valid label value
MANAGED_BY = {"app.kubernetes.io/managed-by": "scrydon-drill"}


def labels(run_id: str, store: str | None = None) -> dict[str, str]:
    """The labels of an object this run creates."""
    out = {RUN_LABEL: run_id, **MANAGED_BY}
    if store:
        out[STORE_LABEL] = store
    return out


def namespace(name: str, run_id: str, owner: str) -> dict[str, Any]:
    """A namespace created for (and named after) the run."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels(run_id),
                         "annotations": {OWNER_ANNOTATION: owner}}}


def _meta(name: str, ns: str, run_id: str, store: str) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "labels": labels(run_id, store)}


def store_secret(spec: StoreSpec, ns: str, run_id: str) -> dict[str, Any]:
    """The Secret holding a store container's environment."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in spec.env.items()}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(f"drill-{spec.store}", ns, run_id, spec.store), "data": data}


def _resources(kc: KubernetesConfig) -> dict[str, Any]:
    limits = {k: v for k, v in (("memory", kc.memory), ("cpu", kc.cpu)) if v}
    return {"requests": dict(limits), "limits": dict(limits)} if limits else {}


def store_volume_claim(spec: StoreSpec, ns: str, run_id: str,
                       kc: KubernetesConfig) -> dict[str, Any]:
    """The store's volume when ``kubernetes.storage_class`` is set."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(f"drill-{spec.store}", ns, run_id, spec.store),
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": kc.storage_class,
                     "resources": {"requests": {"storage": kc.storage_size}}}}


# Where each store keeps its data inside its container.
DATA_PATHS = {"postgres": "/var/lib/postgresql/data", "objects": "/data",
              "warehouse": "/var/lib/mysql"}


def store_deployment(spec: StoreSpec, ns: str, run_id: str, kc: KubernetesConfig,
                     pull_policy: str) -> dict[str, Any]:
    """A one-replica Deployment running the store's container."""
    store = spec.store
    container: dict[str, Any] = {
        "name": store, "image": spec.image, "imagePullPolicy": pull_policy,
        "ports": [{"containerPort": spec.port}],
        "envFrom": [{"secretRef": {"name": f"drill-{store}"}}],
        "readinessProbe": {"tcpSocket": {"port": spec.port}, "periodSeconds": 1,
                           "failureThreshold": 3},
        "resources": _resources(kc),
    }
    if spec.command:
        container["args"] = list(spec.command)
    volume: dict[str, Any] = {"name": "data"}
    if kc.storage_class:
        volume["persistentVolumeClaim"] = {"claimName": f"drill-{store}"}
    else:
        volume["emptyDir"] = {}
    if store in DATA_PATHS and not (store == "warehouse" and spec.kind == "starrocks"):
        container["volumeMounts"] = [{"name": "data", "mountPath": DATA_PATHS[store]}]
    selector = {RUN_LABEL: run_id, STORE_LABEL: store}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta(store, ns, run_id, store),
            "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                     # Recreate: two PostgreSQL pods must never share one volume.
                     "strategy": {"type": "Recreate"},
                     "template": {"metadata": {"labels": labels(run_id, store)},
                                  "spec": {"containers": [container], "volumes": [volume],
                                           "terminationGracePeriodSeconds": 2}}}}


def store_service(spec: StoreSpec, ns: str, run_id: str) -> dict[str, Any]:
    """A ClusterIP Service in front of the store (the chart reaches the stores through it)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": _meta(spec.store, ns, run_id, spec.store),
            "spec": {"selector": {RUN_LABEL: run_id, STORE_LABEL: spec.store},
                     "ports": [{"port": spec.port, "targetPort": spec.port}]}}


def pitr_pod(name: str, image: str, ns: str, run_id: str, command: list[str],
             uid: int, gid: int, pull_policy: str) -> dict[str, Any]:
    """A PostgreSQL pod recovering from data copied into it.

    The init container waits until the harness has copied the base backup and WAL into the
    shared volume (``kubectl cp``) and touched ``/pitr/copied``, then gives them to the
    PostgreSQL user; the server then starts on them.
    """
    wait = ("until [ -f /pitr/copied ]; do sleep 0.5; done; "
            f"chown -R {uid}:{gid} /pitr && chmod 700 /pitr/data")
    mount = [{"name": "pitr", "mountPath": "/pitr"}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": _meta(name, ns, run_id, "postgres-pitr"),
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                     "initContainers": [{"name": "receive", "image": image,
                                         "imagePullPolicy": pull_policy,
                                         "command": ["sh", "-c", wait],
                                         "volumeMounts": mount}],
                     "containers": [{"name": "postgres", "image": image,
                                     "imagePullPolicy": pull_policy, "args": command,
                                     "env": [{"name": "PGDATA", "value": "/pitr/data"}],
                                     "ports": [{"containerPort": 5432}],
                                     "volumeMounts": mount}],
                     "volumes": [{"name": "pitr", "emptyDir": {}}]}}


def master_key_secret(document: Mapping[str, Any], ns: str, run_id: str) -> dict[str, Any]:
    """The backed-up master-key Secret made fit to create in ``ns``: its namespace rewritten,
    the server's own fields dropped (as the runbook's capture does, and whatever else a
    capture may have kept), the run label added so the drill can find what it restored."""
    doc = dict(document)
    meta = dict(doc.get("metadata") or {})
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "selfLink",
                "generation", "ownerReferences", "deletionTimestamp",
                "deletionGracePeriodSeconds"):
        meta.pop(key, None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    meta["namespace"] = ns
    meta["labels"] = {**(meta.get("labels") or {}), RUN_LABEL: run_id}
    doc["metadata"] = meta
    doc.pop("status", None)
    return doc
