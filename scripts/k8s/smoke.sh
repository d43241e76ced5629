#!/usr/bin/env bash
# End-to-end proof that the local cluster runs real workloads.
#
# Usage: scripts/k8s/smoke.sh
#
# Uses the running cluster (scripts/k8s/cluster.sh); when none runs, starts one and stops it
# again at the end. Steps, each timed:
#   1. base image scrydon-drill/debian-base:bookworm: `debootstrap --variant=minbase` from the
#      mirror of the machine's apt sources + `docker import`; only when the engine lacks it
#   2. image scrydon-drill/k8s-smoke:1 FROM it (testdata/smoke-image: a perl HTTP responder)
#   3. a namespace, a Secret, the Deployment (imagePullPolicy: Never, readiness probe) and
#      Service of testdata/smoke-app.yaml; wait until the rollout is Ready
#   4. `kubectl port-forward` of the Service on 127.0.0.1; the reply must carry the Secret
#   5. the Service's ClusterIP from the host (kube-proxy rules)
#   6. `helm install --wait` of testdata/smoke-chart, reply checked through port-forward
#   7. teardown: helm uninstall, the workloads and their pods, then the namespace (also when a
#      step fails)
set -euo pipefail
# shellcheck disable=SC2034 # read by sd_log
SD_TAG=k8s-smoke
# shellcheck source=scripts/k8s/common.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
TESTDATA=$HERE/testdata
[ $# -eq 0 ] || { sd_usage; exit 2; }

BASE_IMAGE=scrydon-drill/debian-base:$(sd_codename)
APP_IMAGE=scrydon-drill/k8s-smoke:1
NS=scrydon-drill-smoke
RELEASE=smoke-chart
T_ALL=$(sd_ms)
TIMINGS=()
step_t=0
step() { step_t=$(sd_ms); sd_log "== $*"; }
step_done() { TIMINGS+=("$(printf '%-44s %s' "$1" "$(sd_since "$step_t")")"); sd_log "   $1: $(sd_since "$step_t")"; }

started_cluster=0
pf_pid=""
tmp=$(mktemp -d)
cleanup() {
  local rc=$?
  trap - EXIT
  [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null && wait "$pf_pid" 2>/dev/null
  if [ "$rc" -ne 0 ] && [ -n "${KUBECONFIG:-}" ]; then
    sd_log "failed (exit $rc); state of $NS:"
    kubectl -n "$NS" get all,events 2>&1 | tail -n 30 >&2 || true
    helm -n "$NS" uninstall "$RELEASE" >/dev/null 2>&1 || true
    kubectl delete namespace "$NS" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  if [ "$started_cluster" = 1 ]; then "$HERE/cluster.sh" stop || rc=1; fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# --- cluster -------------------------------------------------------------------------------------
if ! "$HERE/cluster.sh" status >/dev/null 2>&1; then
  step "no cluster running: starting one (stopped again at the end)"
  started_cluster=1
  "$HERE/cluster.sh" start
  step_done "cluster start (build cached or not)"
fi
eval "$("$HERE/cluster.sh" env)"
# keep kubectl's discovery cache and helm's state out of $HOME
export HELM_CACHE_HOME=$tmp/helm/cache HELM_CONFIG_HOME=$tmp/helm/config HELM_DATA_HOME=$tmp/helm/data
docker_() { "$SD_DOCKER" "$@"; }

# --- 1. base image -------------------------------------------------------------------------------
step "base image $BASE_IMAGE"
if docker_ image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  sd_log "   present in the engine"
else
  sd_apt_ensure debootstrap
  mirror=$(sd_debian_mirror)
  rootfs=$SD_CACHE/tmp/rootfs.$$
  mkdir -p "$rootfs"
  sd_log "   debootstrap --variant=minbase $(sd_codename) from $mirror"
  if ! nice -n 10 debootstrap --variant=minbase "$(sd_codename)" "$rootfs" "$mirror" \
       >"$tmp/debootstrap.log" 2>&1; then
    tail -n 20 "$tmp/debootstrap.log" >&2
    sd_unmount_below "$rootfs" || sd_die "mounts left below $rootfs: $(sd_mounts_below "$rootfs")"
    rm -rf "$rootfs"
    rmdir --ignore-fail-on-non-empty "$SD_CACHE/tmp"
    sd_die "debootstrap failed"
  fi
  # debootstrap unmounts what it mounted; never tar or delete through a leftover mount
  sd_unmount_below "$rootfs" || sd_die "mounts left below $rootfs: $(sd_mounts_below "$rootfs")"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*_Packages
  tar -C "$rootfs" --numeric-owner -c . \
    | docker_ import -c 'CMD ["/bin/bash"]' -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  rmdir --ignore-fail-on-non-empty "$SD_CACHE/tmp"
fi
step_done "base image (debootstrap + import when absent)"

# --- 2. application image ------------------------------------------------------------------------
step "image $APP_IMAGE"
DOCKER_BUILDKIT=0 docker_ build -q --build-arg "BASE=$BASE_IMAGE" -t "$APP_IMAGE" \
  "$TESTDATA/smoke-image" >/dev/null
step_done "app image build"

# --- 3. namespace, Secret, Deployment, Service ---------------------------------------------------
step "namespace $NS, Secret, Deployment, Service"
kubectl delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
kubectl create namespace "$NS" >/dev/null
token=$(openssl rand -hex 12)
kubectl -n "$NS" create secret generic smoke-token --from-literal=token="$token" >/dev/null
kubectl -n "$NS" apply -f "$TESTDATA/smoke-app.yaml" >/dev/null
kubectl -n "$NS" rollout status deployment/smoke-web --timeout=120s >/dev/null
kubectl -n "$NS" get pods -o wide >&2
step_done "apply -> Deployment Ready"

# --- 4. port-forward -----------------------------------------------------------------------------
# fetch_via_port_forward SERVICE: start `kubectl port-forward` on a free 127.0.0.1 port and
# print the reply of GET /.
fetch_via_port_forward() {
  local svc=$1 port="" body i
  kubectl -n "$NS" port-forward --address 127.0.0.1 "service/$svc" :80 >"$tmp/pf.out" 2>&1 &
  pf_pid=$!
  for (( i = 0; i < 100; i++ )); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/pf.out" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$pf_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$tmp/pf.out" >&2; sd_die "port-forward did not start"; }
  body=$(curl -fsS --max-time 10 --retry 5 --retry-connrefused --retry-delay 1 "http://127.0.0.1:$port/")
  kill "$pf_pid" 2>/dev/null || true
  wait "$pf_pid" 2>/dev/null || true
  pf_pid=""
  echo "$body"
}
step "kubectl port-forward service/smoke-web on 127.0.0.1"
reply=$(fetch_via_port_forward smoke-web)
sd_log "   reply: $reply"
case $reply in *"token=$token"*) ;; *) sd_die "the reply does not carry the Secret's value" ;; esac
step_done "port-forward -> reply with the Secret"

# --- 5. ClusterIP --------------------------------------------------------------------------------
step "Service ClusterIP from the host"
cip=$(kubectl -n "$NS" get service smoke-web -o jsonpath='{.spec.clusterIP}')
# kube-proxy programs the rules about a second after the endpoints appear: retry briefly.
ok=0
for (( i = 0; i < 30; i++ )); do
  if reply=$(curl -fsS --max-time 3 "http://$cip/" 2>/dev/null) && [[ $reply == *"token=$token"* ]]; then ok=1; break; fi
  sleep 0.5
done
[ "$ok" = 1 ] || sd_die "no reply from ClusterIP $cip"
sd_log "   $cip: $reply"
step_done "ClusterIP via kube-proxy"

# --- 6. helm -------------------------------------------------------------------------------------
step "helm install --wait testdata/smoke-chart"
helm -n "$NS" install "$RELEASE" "$TESTDATA/smoke-chart" --wait --timeout 120s >/dev/null
helm -n "$NS" list >&2
step_done "helm install --wait"
reply=$(fetch_via_port_forward "$RELEASE-web")
sd_log "   reply: $reply"
case $reply in *"message=from-helm"*) ;; *) sd_die "the chart's pod did not answer as configured" ;; esac

# --- 7. teardown ---------------------------------------------------------------------------------
step "teardown: helm uninstall --wait"
helm -n "$NS" uninstall "$RELEASE" --wait --timeout 120s >/dev/null
step_done "helm uninstall --wait"
# Deleting the namespace while pods still terminate makes the namespace controller back off
# (up to ~90 s); remove the workloads and wait for their pods first (the 1.20 kubelet takes
# about 10 s to release a deleted pod).
step "teardown: workloads, then namespace $NS"
kubectl -n "$NS" delete deployments,services,secrets --all --wait=true --timeout=120s >/dev/null
kubectl -n "$NS" wait --for=delete pod --all --timeout=120s >/dev/null 2>&1 \
  || [ -z "$(kubectl -n "$NS" get pods -o name)" ]
step_done "workloads deleted, pods gone"
step "teardown: delete namespace $NS"
kubectl delete namespace "$NS" --wait=true --timeout=120s >/dev/null
step_done "namespace deleted"

sd_log "smoke test passed in $(sd_since "$T_ALL"):"
printf '    %s\n' "${TIMINGS[@]}" >&2
