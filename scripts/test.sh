#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, unit tests and integration tests on
# real servers, on containers (a private Docker engine, local images) and on Kubernetes.
# Extra arguments go to pytest. JUnit XML lands in reports/tests/junit.xml; the numbers the
# tests measured are printed at the end (reports/tests/measurements.txt).
#
# SCRYDON_DRILL_TEST_DOCKER=0 skips the Docker engine, SCRYDON_DRILL_TEST_K8S=0 the cluster
# (their tests then skip, or fail in CI). An engine or cluster this script starts is stopped
# when it ends; one already running is left be. The Kubernetes binaries are built once per
# machine (~6 min, cached in /var/cache/scrydon-drill/k8s; scripts/k8s/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
stage() { echo "[test] $1: $(( $(date +%s) - $2 )) s"; }
t0=$(date +%s)
bash scripts/setup.sh
stage setup "$t0"
mkdir -p reports/tests
rm -f reports/tests/measurements.txt
rc=0
started_docker=0
started_cluster=0
cleanup() {
  t0=$(date +%s)
  if [ "$started_cluster" = 1 ]; then bash scripts/k8s/cluster.sh stop || true; fi
  if [ "$started_docker" = 1 ]; then bash scripts/dockerd.sh stop || true; fi
  stage teardown "$t0"
}
trap cleanup EXIT

if [ "${SCRYDON_DRILL_TEST_DOCKER:-1}" = "1" ]; then
  t0=$(date +%s)
  if ! bash scripts/dockerd.sh status >/dev/null 2>&1; then
    bash scripts/dockerd.sh start && started_docker=1
  fi
  eval "$(bash scripts/dockerd.sh env)"
  export DOCKER_HOST
  stage "docker engine" "$t0"
  t0=$(date +%s)
  # Cached by recipe hash: instant when nothing they are made from changed.
  .venv/bin/scrydon-drill images build --quiet || rc=1
  stage "images" "$t0"
  if [ "${SCRYDON_DRILL_TEST_K8S:-1}" = "1" ]; then
    t0=$(date +%s)
    bash scripts/k8s/build.sh || rc=1
    stage "kubernetes build" "$t0"
    t0=$(date +%s)
    if ! bash scripts/k8s/cluster.sh status >/dev/null 2>&1; then
      bash scripts/k8s/cluster.sh start && started_cluster=1
    fi
    eval "$(bash scripts/k8s/cluster.sh env)"
    export KUBECONFIG KUBECACHEDIR DOCKER_HOST PATH
    stage "kubernetes cluster" "$t0"
  fi
fi

# The checks of `tox -e lint`: the import layers contract, ruff, mypy strict on harness/.
t0=$(date +%s)
bash scripts/lint.sh || rc=1
stage lint "$t0"
t0=$(date +%s)
.venv/bin/python -m pytest --junitxml=reports/tests/junit.xml "$@" || rc=$?
stage pytest "$t0"
if [ -s reports/tests/measurements.txt ]; then
  echo "---- measured ----"
  cat reports/tests/measurements.txt
fi
exit "$rc"
