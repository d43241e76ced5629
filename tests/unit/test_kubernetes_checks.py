"""The Kubernetes pieces that need no cluster: manifests, values, kind commands, the k8s checks."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from harness.checks.kubernetes import (
    check_master_key,
    check_rollout,
    check_versions,
    on_the_cluster,
    same_kubernetes,
)
from harness.checks.base import Outcome
from harness.config import KubernetesConfig, resolve
from harness.crypto.masterkey import load_master_key_backup
from harness.errors import CouldNotVerify, ScratchError
from harness.scratch import k8s_manifests as manifests
from harness.scratch.deployment import PlatformDeployment, SecretState
from harness.scratch.kind import KindCommands, cluster_name, run_id_of
from harness.scratch.kubernetes import _fill, _pod_problem, _workload_ready
from harness.scratch.storespec import store_spec

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER = base64.b64encode(bytes(range(1, 33))).decode()


def secret_yaml(value: str, **meta: str) -> str:
    doc = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": "master-key", "namespace": "scrydon-platform", **meta},
           "data": {"key": base64.b64encode(value.encode()).decode()}}
    return yaml.safe_dump(doc)


def deployment(**kw: object) -> PlatformDeployment:
    before = SecretState("uid-1", "2026-11-29T10:00:00Z", False, True)
    values: dict[str, object] = dict(
        namespace="drill-x", release="scrydon", chart="/charts/scrydon", order="runbook",
        cluster_version="v1.29.4", chart_version="scrydon-1.0.0", app_version="2026.11.1",
        installed=True, secret_before_chart=before, secret_after_chart=before,
        key_matches_backup=True, workloads={"deployment/api-platform": "ready"},
        rollout_seconds=3.0, rollout_timeout=300.0, url="http://127.0.0.1:1")
    values.update(kw)
    return PlatformDeployment(**values)  # type: ignore[arg-type]


BACKUP_KEY = load_master_key_backup(secret_yaml(KEY))


def test_kubernetes_versions_match_by_their_given_parts() -> None:
    assert same_kubernetes("v1.29.4", "1.29.4") and same_kubernetes("v1.29.4", "v1.29")
    assert same_kubernetes("v1.20.2", "1.20.2+k3s1") is True
    assert not same_kubernetes("v1.29.4", "1.28") and not same_kubernetes("v1.29.4", "")


def test_versions_pass_when_cluster_and_chart_match_the_source() -> None:
    out = check_versions(deployment(), "", expected_kubernetes="1.29.4", expected_platform="",
                         restored={"auth": "2026.11.1", "agentic": "2026.11.1"})
    assert out.ok and "Scrydon 2026.11.1" in out.message


@pytest.mark.parametrize("kw, expected, fragments", [
    ({}, "1.28.0", ("Kubernetes v1.29.4", "1.28.0")),
    ({"app_version": "2026.12.1"}, "1.29.4", ("2026.12.1", "2026.11.1", "forward-only")),
])
def test_versions_fail_naming_both_values(kw: dict[str, object], expected: str,
                                          fragments: tuple[str, ...]) -> None:
    out = check_versions(deployment(**kw), "", expected_kubernetes=expected,
                         expected_platform="", restored={"auth": "2026.11.1"})
    assert not out.ok
    for fragment in fragments:
        assert fragment in out.message


def test_versions_disagreeing_databases_and_a_configured_version_fail() -> None:
    out = check_versions(deployment(), "", expected_kubernetes="1.29", expected_platform="",
                         restored={"auth": "2026.11.1", "agentic": "2026.10.1"})
    assert not out.ok and "agentic 2026.10.1" in out.message
    out = check_versions(deployment(), "", expected_kubernetes="1.29",
                         expected_platform="2026.10.1", restored={"auth": "2026.11.1"})
    assert not out.ok and "platform_version is 2026.10.1" in out.message


def test_versions_without_the_source_version_cannot_be_verified() -> None:
    with pytest.raises(CouldNotVerify):
        check_versions(deployment(), "", expected_kubernetes="", expected_platform="",
                       restored={"auth": "2026.11.1"})


def test_master_key_passes_only_in_the_runbooks_order() -> None:
    assert check_master_key(deployment(), "", BACKUP_KEY, None).ok
    chart_first = deployment(order="chart-first", secret_before_chart=None,
                             key_matches_backup=False,
                             secret_after_chart=SecretState("uid-2", "t", True, False))
    out = check_master_key(chart_first, "", BACKUP_KEY, None)
    assert not out.ok and "generated a new key" in out.message
    assert out.remedy and "BEFORE helm install" in out.remedy
    replaced = deployment(secret_after_chart=SecretState("uid-9", "t", True, False))
    assert "replaced" in check_master_key(replaced, "", BACKUP_KEY, None).message
    other_key = deployment(key_matches_backup=False)
    assert "another key" in check_master_key(other_key, "", BACKUP_KEY, None).message
    assert not check_master_key(deployment(), "", None, "no key").ok


def test_platform_checks_without_a_deployment() -> None:
    out = check_rollout(None, "the platform was not deployed: the stores did not restore")
    assert not out.ok and "did not restore" in out.message
    with pytest.raises(CouldNotVerify):
        check_rollout(deployment(installed=False, chart=""), "")
    failed = check_rollout(deployment(installed=False, install_error="helm: boom"), "")
    assert not failed.ok and "boom" in failed.message


def test_rollout_names_what_is_not_ready() -> None:
    assert check_rollout(deployment(), "").ok
    out = check_rollout(deployment(workloads={"deployment/api-platform": "not ready after "
                                              "300 s: pod x: readiness probe failing"}), "")
    assert not out.ok and "deployment/api-platform" in out.message
    assert not check_rollout(deployment(workloads={}), "").ok


def test_decryption_on_the_cluster_says_why_the_key_differs() -> None:
    failed = Outcome.failed("4 of 4 encrypted secrets do not decrypt")
    chart_first = deployment(order="chart-first", secret_before_chart=None,
                             key_matches_backup=False)
    out = on_the_cluster(failed, chart_first)
    assert not out.ok and "not the backup's" in out.message and "4 of 4" in out.message
    assert on_the_cluster(Outcome.passed("fine"), chart_first).ok


def test_the_backed_up_secret_is_made_fit_for_the_drills_namespace() -> None:
    doc = yaml.safe_load(secret_yaml(KEY, resourceVersion="42", uid="u", creationTimestamp="t"))
    doc["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                      "team": "platform"}
    doc["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    out = manifests.master_key_secret(doc, "drill-abc", "run-1")
    meta = out["metadata"]
    assert meta["namespace"] == "drill-abc" and meta["labels"]["io.scrydon-drill.run"] == "run-1"
    assert not {"resourceVersion", "uid", "creationTimestamp", "managedFields"} & set(meta)
    assert meta["annotations"] == {"team": "platform"}
    assert out["data"] == doc["data"]
    assert doc["metadata"]["namespace"] == "scrydon-platform"  # the input is not changed


def test_store_manifests_carry_labels_and_keep_credentials_in_a_secret() -> None:
    cfg = resolve(environ={}, arguments={})
    spec = store_spec("postgres", "scrydon-drill/postgres:local", cfg)
    kc = KubernetesConfig(memory="1Gi", storage_class="fast")
    dep = manifests.store_deployment(spec, "ns", "run-1", kc, "Never")
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert spec.password not in yaml.safe_dump(dep)
    assert container["envFrom"] == [{"secretRef": {"name": "drill-postgres"}}]
    assert container["resources"]["limits"] == {"memory": "1Gi"}
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "drill-postgres"
    assert dep["metadata"]["labels"]["io.scrydon-drill.run"] == "run-1"
    secret = manifests.store_secret(spec, "ns", "run-1")
    assert base64.b64decode(secret["data"]["POSTGRES_PASSWORD"]).decode() == spec.password
    claim = manifests.store_volume_claim(spec, "ns", "run-1", kc)
    assert claim["spec"]["storageClassName"] == "fast"


def test_store_values_fill_nested_chart_values() -> None:
    values = {"postgres_host": "10.0.0.5", "postgres_port": "5432", "postgres_password": "pw"}
    out = _fill("database.host={postgres_host},database.port={postgres_port},"
                "global.db.password={postgres_password},flag=yes", values)
    assert out == {"database": {"host": "10.0.0.5", "port": 5432},
                   "global": {"db": {"password": "pw"}}, "flag": "yes"}
    with pytest.raises(ScratchError) as info:
        _fill("database.host={pg_host}", values)
    assert "unknown placeholder" in info.value.render()
    with pytest.raises(ScratchError):
        _fill("database.host", values)


def test_kind_commands_and_names(tmp_path: Path) -> None:
    name = cluster_name("20261129T101652Z-DB8D15")
    assert name == "scrydon-drill-20261129t101652z-db8d15"
    assert run_id_of(name) == "20261129t101652z-db8d15" and run_id_of("prod") is None
    cmds = KindCommands("/usr/bin/kind", name, tmp_path / "k.yaml", "kindest/node:v1.29.4")
    assert cmds.create() == ["/usr/bin/kind", "create", "cluster", "--name", name,
                             "--kubeconfig", str(tmp_path / "k.yaml"), "--wait", "180s",
                             "--image", "kindest/node:v1.29.4"]
    assert cmds.load(["a:1", "b:2"])[-2:] == ["a:1", "b:2"]
    assert cmds.delete()[:5] == ["/usr/bin/kind", "delete", "cluster", "--name", name]
    assert "--image" not in KindCommands("kind", name, tmp_path / "k").create()


def test_pod_and_workload_states() -> None:
    crash = {"status": {"phase": "Running", "containerStatuses": [
        {"name": "api", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "m"}},
         "restartCount": 3}]}}
    assert "CrashLoopBackOff" in (_pod_problem(crash) or "")
    starting = {"status": {"phase": "Pending", "containerStatuses": [
        {"name": "api", "state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    assert _pod_problem(starting) is None
    ready = {"kind": "Deployment", "metadata": {"generation": 2},
             "spec": {"replicas": 2},
             "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 2}}
    assert _workload_ready(ready)
    assert not _workload_ready({**ready, "status": {**ready["status"], "readyReplicas": 1}})
    assert not _workload_ready({**ready, "status": {**ready["status"], "observedGeneration": 1}})


def test_the_readmes_kubernetes_example_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("A complete configuration for an existing cluster:", 1)[1]
    block = section.split("```toml", 1)[1].split("```", 1)[0]
    path = tmp_path / "drill.toml"
    path.write_text(block)
    cfg = resolve(environ={}, config_file=str(path))
    assert cfg.scratch.provider == "kubernetes" and cfg.kubernetes.context == "dr-scratch"
    assert "{postgres_password}" in cfg.kubernetes.store_values
    assert cfg.containers.warehouse_image.endswith("allin1-ubuntu:3.5.19")
