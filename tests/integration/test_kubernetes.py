"""The runbook's full DR on a real Kubernetes cluster: stores, master key, chart, sign-in.

Needs a running cluster reachable through ``KUBECONFIG`` with ``kubectl`` and ``helm`` on
PATH, whose nodes run images of the local Docker engine (``scripts/test.sh`` builds and
starts the project's single-node cluster, scripts/k8s/). Without one these tests are
skipped, except in CI, where a missing cluster fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fixtures.faults as catalogue
from fixtures.platform import CHART, kubernetes_settings
from fixtures.selftest import DrillRunner, run_matrix
from harness.config import resolve
from harness.scratch.base import RUN_LABEL
from harness.scratch.run import Run
from tests.conftest import private_run_root, python

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=120,
                          check=check)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The cluster's version, with the store and platform images built (cached)."""
    version = ""
    if shutil.which("kubectl") and shutil.which("helm"):
        proc = kubectl("version", "-o", "json", check=False)
        if proc.returncode == 0:
            version = json.loads(proc.stdout).get("serverVersion", {}).get("gitVersion", "")
    if not version:
        if os.environ.get("CI"):
            pytest.fail("CI has no Kubernetes cluster (scripts/test.sh starts one)")
        pytest.skip("no Kubernetes cluster reachable (KUBECONFIG, kubectl and helm)")
    from fixtures.platform.image import build_platform_image
    from harness.images import build_images
    from harness.images.engine import connect

    build_images(progress=lambda line: None)
    engine = connect(None)
    try:
        build_platform_image(engine.client, progress=lambda line: None)
    finally:
        engine.close()
    yield version


def settings(version: str) -> dict[str, str]:
    return kubernetes_settings(version)


def drill_namespaces() -> set[str]:
    out = kubectl("get", "namespaces", "-l", RUN_LABEL, "-o", "name").stdout
    return {line.split("/", 1)[1] for line in out.split()}


def drill(reference: Any, root: Path, reports: Path, sets: dict[str, str]) -> dict[str, Any]:
    argv = [python(), "-m", "harness.cli", "drill", "--config", str(reference.drill_config),
            "--root", str(root), "--set", f"report.dir={reports}"]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1200, check=False)
    found = sorted(reports.glob("*/evidence.json"))
    evidence = json.loads(found[-1].read_text()) if found else {}
    return {"returncode": proc.returncode, "seconds": time.monotonic() - t0,
            "output": proc.stdout[-4000:] + proc.stderr[-2000:], "evidence": evidence,
            "checks": {c["id"]: c for c in evidence.get("checks", [])}}


def phase(evidence: dict[str, Any], store: str, name: str) -> dict[str, Any]:
    found = [p for p in evidence["phases"] if p["store"] == store and p["name"] == name]
    assert found, f"no phase {store}/{name}: {[(p['store'], p['name']) for p in evidence['phases']]}"
    return found[-1]


def test_the_runbooks_full_dr_and_pitr_pass_on_the_cluster(cluster: str, reference: Any,
                                                            tmp_path: Path, measure: Any) -> None:
    target = reference.meta["backup_runs"][1]["server_time"]
    before = drill_namespaces()
    with private_run_root("sdk8-") as root:
        run = drill(reference, root, tmp_path / "r",
                    {**settings(cluster), "drill.pitr_target": target})
    verdicts = {k: c["verdict"] for k, c in run["checks"].items()}
    assert verdicts and set(verdicts.values()) == {"pass"}, (verdicts, run["output"])
    assert run["returncode"] == 0, run["output"]
    for cid in ("k8s.versions", "k8s.master-key", "k8s.rollout", "signin.deployed",
                "restore.pitr", "secrets.decrypt"):
        assert verdicts.get(cid) == "pass", cid
    assert "deployed Scrydon at http://127.0.0.1:" in run["checks"]["signin.deployed"]["message"]
    ev = run["evidence"]
    # The runbook's order, as recorded: stores, restores, the Secret, then the chart.
    secret = phase(ev, "master-key", "secret applied")
    install = phase(ev, "platform", "helm install")
    rollout = phase(ev, "platform", "rollout")
    stores = phase(ev, "scratch", "stores ready")
    restores = [p for p in ev["phases"] if p["store"] == "postgres"
                and p["name"].startswith("restore ")]
    assert stores["started_at"] < min(p["started_at"] for p in restores)
    assert max(p["started_at"] for p in restores) < secret["started_at"] < install["started_at"]
    assert install["started_at"] < rollout["started_at"]
    assert ev["environment"]["provider"] == "kubernetes"
    assert ev["versions"]["kubernetes"] == cluster
    assert drill_namespaces() == before, "the run left its namespace behind"
    teardown = phase(ev, "scratch", "teardown")
    restore_wall = (max(_end(p) for p in restores) - min(_start(p) for p in restores))
    measure(f"full DR on the cluster ({cluster}): {len(verdicts)} checks passed in "
            f"{run['seconds']:.1f} s; stores provisioned in {stores['seconds']:.1f} s, "
            f"PostgreSQL restored in {restore_wall:.1f} s, Secret {secret['seconds']:.2f} s, "
            f"helm install {install['seconds']:.1f} s, rollout {rollout['seconds']:.1f} s, "
            f"teardown (both namespaces, PITR's included) {teardown['seconds']:.1f} s")


def _start(p: dict[str, Any]) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(p["started_at"]).timestamp()


def _end(p: dict[str, Any]) -> float:
    return _start(p) + float(p["seconds"])


def test_the_cluster_faults_are_caught(cluster: str, reference: Any, measure: Any) -> None:
    """Chart before Secret, another Scrydon version, a store that never becomes ready; and
    a broken key backup, which must fail on the cluster as it does elsewhere."""
    faults = (*catalogue.CLUSTER_NAMES, "masterkey-different")
    with private_run_root("sdkf-") as root:
        # A platform that cannot decrypt its secrets stays unready: 45 s of that is proof.
        runner = DrillRunner(reference.drill_config, root,
                             sets=[f"{k}={v}" for k, v in settings(cluster).items()]
                             + ["kubernetes.rollout_timeout=45"])
        matrix = run_matrix(reference.backups, root / "m", runner, faults=faults, clean=False,
                            pitr=False, meta=reference.meta, progress=lambda line: None)
    caught, total = matrix.detection()
    measure(f"cluster fault matrix: {matrix.summary()}")
    assert total == len(faults) and caught == total, matrix.render_text()
    assert matrix.source_unchanged is True


def test_sigkill_mid_provisioning_then_the_sweep_removes_exactly_that_namespace(
        cluster: str, measure: Any) -> None:
    decoys = {"sd-decoy-other-run": {RUN_LABEL: "19990101T000000Z-decoy1"},
              "sd-decoy-unlabelled": {}}
    for name, labels in decoys.items():
        kubectl("create", "namespace", name)
        for key, value in labels.items():
            kubectl("label", "namespace", name, f"{key}={value}")
    try:
        with private_run_root("sdks-") as root:
            proc = subprocess.Popen([python(), "-m", "harness.cli", "up", "--root", str(root),
                                     "--scratch", "kubernetes", "--set", "kubernetes.images=local"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            mine: set[str] = set()
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not mine:
                    runs = {p.name.lower() for p in root.iterdir() if p.is_dir()}
                    mine = {n for n in drill_namespaces() if n.removeprefix("drill-") in runs}
                    time.sleep(0.2)
                assert mine, "no namespace was created"
                time.sleep(2)  # mid-provisioning: the stores are being created
            finally:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            assert mine <= drill_namespaces(), "the killed run left nothing to sweep"
            t0 = time.monotonic()
            swept = subprocess.run([python(), "-m", "harness.cli", "sweep", "--root", str(root)],
                                   capture_output=True, text=True, timeout=400, check=False)
            seconds = time.monotonic() - t0
            assert swept.returncode == 0, swept.stdout + swept.stderr
            assert not mine & drill_namespaces()
            assert f"removed namespace {next(iter(mine))}" in swept.stdout, swept.stdout
            forwards = subprocess.run(["pgrep", "-f", f"port-forward -n {next(iter(mine))}"],
                                      capture_output=True, text=True, check=False).stdout
            assert forwards.strip() == "", "a port-forward of the killed run survived"
        for name in decoys:
            assert kubectl("get", "namespace", name, check=False).returncode == 0, name
        measure(f"SIGKILL mid-provisioning: sweep removed namespace {sorted(mine)} in "
                f"{seconds:.1f} s; decoy namespaces {sorted(decoys)} untouched")
    finally:
        for name in decoys:
            kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_in_a_namespace_the_drill_did_not_create_only_its_objects_go(cluster: str) -> None:
    from harness.scratch.kubernetes import KubernetesProvider

    ns = "sd-shared-namespace"
    kubectl("create", "namespace", ns)
    try:
        kubectl("create", "configmap", "someone-elses", "-n", ns, "--from-literal=a=b")
        with private_run_root("sdkn-") as root:
            cfg = resolve(environ={}, arguments={
                "scratch": {"root": str(root), "provider": "kubernetes"},
                "kubernetes": {"images": "local", "namespace": ns}})
            provider = KubernetesProvider(cfg, Run.create(root), stores=("postgres",))
            with provider:
                pods = kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split()
                assert len(pods) == 1
            assert kubectl("get", "namespace", ns, check=False).returncode == 0
            assert kubectl("get", "configmap", "someone-elses", "-n", ns,
                           check=False).returncode == 0
            left = kubectl("get", "deployment,service,secret,pod", "-n", ns, "-l",
                           RUN_LABEL, "-o", "name").stdout.split()
            assert left == [], left
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_the_kind_path_creates_loads_and_deletes_its_own_cluster(cluster: str,
                                                                  tmp_path: Path) -> None:
    """kind cannot run here; a stand-in ``kind`` binary records the command lines and hands
    out this cluster's kubeconfig under the kind context name, so the whole kind lifecycle
    runs through the provider against a real cluster."""
    from harness.scratch.kubernetes import KubernetesProvider

    calls = tmp_path / "calls.txt"
    real = os.environ["KUBECONFIG"]
    fake = tmp_path / "kind"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
case "$1 $2" in
  "create cluster")
    name=""; out=""
    while [ $# -gt 0 ]; do
      case "$1" in --name) name=$2;; --kubeconfig) out=$2;; esac; shift
    done
    cp {real} "$out"
    kubectl --kubeconfig "$out" config rename-context "$(kubectl --kubeconfig "$out" config current-context)" "kind-$name" >/dev/null
    ;;
esac
""")
    fake.chmod(0o755)
    with private_run_root("sdkk-") as root:
        cfg = resolve(environ={}, arguments={
            "scratch": {"root": str(root), "provider": "kubernetes"},
            "kubernetes": {"images": "local", "cluster": "kind", "kind": str(fake),
                           "kind_node_image": "kindest/node:v1.20.2"}})
        run = Run.create(root)
        provider = KubernetesProvider(cfg, run, stores=("postgres",))
        with provider:
            assert provider.endpoints.postgres is not None
            assert provider.describe()["kind_cluster"] == f"scrydon-drill-{run.run_id.lower()}"
    lines = calls.read_text().splitlines()
    name = f"scrydon-drill-{run.run_id.lower()}"
    assert lines[0].startswith(f"create cluster --name {name} --kubeconfig ")
    assert lines[0].endswith("--wait 180s --image kindest/node:v1.20.2")
    assert lines[1].startswith(f"load docker-image --name {name} scrydon-drill/")
    assert lines[2].startswith(f"delete cluster --name {name}")
    assert len(lines) == 3
    # The kind path deletes the cluster, not the namespace: delete what the stand-in left.
    for ns in drill_namespaces():
        if ns == f"drill-{run.run_id.lower()}":
            kubectl("delete", "namespace", ns, "--wait=false")


def test_an_unreachable_cluster_is_a_start_failure_naming_the_kubeconfig(tmp_path: Path
                                                                          ) -> None:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed")
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                      "    server: https://127.0.0.1:1\ncontexts:\n- name: x\n  context:\n"
                      "    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n"
                      "  user: {token: t}\n")
    with private_run_root("sdku-") as root:
        proc = subprocess.run([python(), "-m", "harness.cli", "up", "--root", str(root),
                               "--scratch", "kubernetes", "--set",
                               f"kubernetes.kubeconfig={broken}"],
                              capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "the Kubernetes cluster does not answer" in proc.stderr
    assert str(broken) in proc.stderr


def test_the_stand_in_chart_generates_a_key_only_without_one(cluster: str) -> None:
    """The chart's lookup: the pre-existing Secret is kept; none means a generated key."""
    for existing in (True, False):
        ns = f"sd-chart-{'kept' if existing else 'generated'}"
        kubectl("create", "namespace", ns)
        try:
            if existing:
                kubectl("create", "secret", "generic", "master-key", "-n", ns,
                        "--from-literal=key=ZHJpbGwtZHJpbGwtZHJpbGwtZHJpbGwtZHJpbGwhIQ")
            subprocess.run(["helm", "install", "probe", str(CHART), "-n", ns, "--set",
                            "replicas=0"], capture_output=True, text=True, timeout=120,
                           check=True)
            data = json.loads(kubectl("get", "secret", "master-key", "-n", ns, "-o",
                                      "json").stdout)
            import base64

            value = base64.b64decode(data["data"]["key"]).decode()
            if existing:
                assert value == "ZHJpbGwtZHJpbGwtZHJpbGwtZHJpbGwtZHJpbGwhIQ"
            else:
                assert value != "ZHJpbGwtZHJpbGwtZHJpbGwtZHJpbGwtZHJpbGwhIQ"
                assert len(base64.b64decode(value)) == 32
        finally:
            kubectl("delete", "namespace", ns, "--wait=false", check=False)
