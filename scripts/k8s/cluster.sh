#!/usr/bin/env bash
# A real single-node Kubernetes (v1.20.2, built by build.sh) for scrydon-drill's tests.
#
# Usage: scripts/k8s/cluster.sh start|stop|status|env
#   start   build (instant when cached), make sure the private engine runs (scripts/dockerd.sh)
#           and holds the pause image, then start etcd, kube-apiserver, kube-controller-manager,
#           kube-scheduler, kubelet (dockershim on that engine) and kube-proxy (iptables) with a
#           fresh local PKI and token file; waits for the apiserver, the node to be Ready and
#           the default service account. Leftovers of an earlier, partial run are stopped first.
#   stop    undo start, whatever state it reached: stop exactly the processes it started (pid
#           files), remove the pod containers the kubelet left in the engine, delete the KUBE-*
#           iptables chains that were not there before, restore net.ipv4.conf.all.route_localnet,
#           unmount what the kubelet mounted, remove the host folders the kubelet created
#           (/var/lib/kubelet, /var/log/pods, /var/log/containers, only those that did not exist
#           before), stop the engine if start had to start it, delete the run directory, and
#           check that no process of the cluster is left. Safe to run any number of times.
#   status  components and node
#   env     shell exports for the admin kubeconfig, the engine and kubectl/helm:
#           eval "$(scripts/k8s/cluster.sh env)"
#
# Environment:
#   SCRYDON_DRILL_K8S_RUN       run directory: PKI, kubeconfigs, etcd data, logs, pid files
#                               (default /run/scrydon-drill/k8s); removed by stop
#   SCRYDON_DRILL_K8S_NODE_IP   address of the node, the apiserver and the kubelet (default: the
#                               engine's bridge gateway, 172.17.0.1 usually: reachable from the
#                               host and from pods, not from other machines)
#   SCRYDON_DRILL_K8S_API_PORT  apiserver port (default 26443); etcd uses 127.0.0.1:22379/22380
#   SCRYDON_DRILL_K8S_LOG_DIR   when set, stop copies the component logs there first
#   SCRYDON_DRILL_K8S_TIMEOUT   seconds to wait for the node to be Ready (default 180)
#   plus SCRYDON_DRILL_CACHE and SCRYDON_DRILL_DOCKER_SOCK (see scripts/dockerd.sh)
#
# Other ports, all on 127.0.0.1 except the kubelet API (node IP): kubelet healthz 10248,
# kubelet 10250, kube-proxy 10249/10256, controller-manager 10257, scheduler 10259.
# No cluster DNS and no CNI: pods use the engine's default bridge network.
set -euo pipefail
# shellcheck disable=SC2034 # read by sd_log
SD_TAG=k8s-cluster
# shellcheck source=scripts/k8s/common.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
DOCKERD=$HERE/../dockerd.sh

RUN=${SCRYDON_DRILL_K8S_RUN:-/run/scrydon-drill/k8s}
PKI=$RUN/pki
LOGS=$RUN/logs
KUBECONFIG_ADMIN=$RUN/admin.kubeconfig
SOCK=${SCRYDON_DRILL_DOCKER_SOCK:-/run/scrydon-drill/docker.sock}
API_PORT=${SCRYDON_DRILL_K8S_API_PORT:-26443}
ETCD_PORT=22379
ETCD_PEER_PORT=22380
NODE_NAME=scrydon-drill-node
SERVICE_CIDR=10.96.0.0/24
API_SERVICE_IP=10.96.0.1
READY_TIMEOUT=${SCRYDON_DRILL_K8S_TIMEOUT:-180}
# Start order; stop goes the other way.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
# Host paths the kubelet uses whatever its --root-dir says.
KUBELET_HOST_DIRS=(/var/lib/kubelet /var/log/pods /var/log/containers)
ROUTE_LOCALNET=/proc/sys/net/ipv4/conf/all/route_localnet

docker_() { "$SD_DOCKER" -H "unix://$SOCK" "$@"; }
kubectl_() {
  KUBECACHEDIR=$RUN/kubectl-cache "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" --request-timeout 5s "$@"
}

binary_of() { if [ "$1" = etcd ]; then echo /usr/bin/etcd; else echo "$K8S_BIN/$1"; fi; }
# A component runs when its pid file names a live process started from its binary with our
# run directory in its arguments.
running() { sd_pid_matches "$RUN/$1.pid" "$(binary_of "$1")" && sd_pid_matches "$RUN/$1.pid" "$RUN/"; }

launch() { # NAME ARG...
  local name=$1; shift
  sd_spawn "$LOGS/$name.log" "$(binary_of "$name")" "$@"
  echo "$SD_SPAWNED_PID" >"$RUN/$name.pid"
  sd_log "started $name (pid $SD_SPAWNED_PID)"
}

# --- start ---------------------------------------------------------------------------------------

node_ip() {
  if [ -n "${SCRYDON_DRILL_K8S_NODE_IP:-}" ]; then echo "$SCRYDON_DRILL_K8S_NODE_IP"; return; fi
  # the address of the engine's default bridge interface (docker0)
  local dev
  dev=$(docker_ network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}')
  ip -4 -o addr show dev "${dev:-docker0}" | awk '{sub(/\/.*/, "", $4); print $4; exit}'
}
bridge_subnet() { docker_ network inspect bridge --format '{{(index .IPAM.Config 0).Subnet}}'; }

# What stop has to put back: recorded once, before anything is changed.
record_host_state() {
  local d t ipt
  : >"$RUN/host-dirs.created"
  for d in "${KUBELET_HOST_DIRS[@]}"; do
    [ -e "$d" ] || echo "$d" >>"$RUN/host-dirs.created"
  done
  cat "$ROUTE_LOCALNET" >"$RUN/route_localnet.before"
  : >"$RUN/kube-chains.before"
  for ipt in iptables ip6tables; do
    for t in filter nat mangle raw; do
      "$ipt-save" -t "$t" 2>/dev/null | awk -v p="$ipt $t" '/^:KUBE-/ {print p, substr($1, 2)}' \
        >>"$RUN/kube-chains.before" || true
    done
  done
}

make_pki() {
  local ip=$1 u
  mkdir -p "$PKI"
  (
    cd "$PKI"
    umask 077
    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    key ca.key
    openssl req -x509 -new -key ca.key -days 30 -subj "/CN=scrydon-drill-k8s-ca" -out ca.crt
    # signed CN O EXT: a key and a certificate signed by the CA
    signed() {
      key "$1.key"
      openssl req -new -key "$1.key" -subj "/CN=$2${3:+/O=$3}" -out "$1.csr"
      printf '%s\n' "$4" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    signed apiserver kube-apiserver "" "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$ip,IP:$API_SERVICE_IP"
    signed apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    key service-account.key
    openssl pkey -in service-account.key -pubout -out service-account.pub
  )
  # One bearer token per client; RBAC's bootstrap roles cover each user/group.
  : >"$PKI/tokens.csv"
  chmod 600 "$PKI/tokens.csv"
  for u in "admin admin system:masters" \
           "kubelet system:node:$NODE_NAME system:nodes" \
           "controller-manager system:kube-controller-manager -" \
           "scheduler system:kube-scheduler -" \
           "proxy system:kube-proxy -"; do
    local client user group token
    read -r client user group <<<"$u"
    token=$(openssl rand -hex 24)
    if [ "$group" = - ]; then echo "$token,$user,$client" >>"$PKI/tokens.csv"
    else echo "$token,$user,$client,\"$group\"" >>"$PKI/tokens.csv"; fi
    (umask 077; cat >"$RUN/$client.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: scrydon-drill
  cluster:
    server: https://$ip:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $client
  user:
    token: $token
contexts:
- name: scrydon-drill
  context: {cluster: scrydon-drill, user: $client}
current-context: scrydon-drill
EOF
    )
  done
}

write_kubelet_config() {
  local ip=$1
  cat >"$RUN/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
# a test VM: swap may be on, cgroups are v1 and shared with the host
failSwapOn: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
protectKernelDefaults: false
makeIPTablesUtilChains: false
staticPodPath: ""
# images are built locally and cannot be pulled again: never collect them
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
serializeImagePulls: false
nodeStatusUpdateFrequency: 5s
nodeStatusReportFrequency: 10s
EOF
}

start_etcd() {
  launch etcd \
    --name scrydon-drill --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "scrydon-drill=http://127.0.0.1:$ETCD_PEER_PORT" \
    --logger zap --log-outputs stderr
}

start_apiserver() {
  local ip=$1
  launch kube-apiserver \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$ip" --advertise-address "$ip" --secure-port "$API_PORT" --insecure-port 0 \
    --cert-dir "$RUN/certs/apiserver" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$PKI/service-account.pub" \
    --service-account-signing-key-file "$PKI/service-account.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --allow-privileged=true --profiling=false
}

start_controllers() {
  launch kube-controller-manager \
    --kubeconfig "$RUN/controller-manager.kubeconfig" \
    --leader-elect=false --port 0 --bind-address 127.0.0.1 --secure-port 10257 \
    --cert-dir "$RUN/certs/controller-manager" \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/service-account.key" \
    --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --flex-volume-plugin-dir "$RUN/volume-plugins" --profiling=false
  launch kube-scheduler \
    --kubeconfig "$RUN/scheduler.kubeconfig" \
    --leader-elect=false --port 0 --bind-address 127.0.0.1 --secure-port 10259 \
    --cert-dir "$RUN/certs/scheduler" --profiling=false
}

start_kubelet() {
  local ip=$1
  launch kubelet \
    --config "$RUN/kubelet-config.yaml" --kubeconfig "$RUN/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$ip" \
    --root-dir "$RUN/kubelet" --cert-dir "$RUN/certs/kubelet" \
    --volume-plugin-dir "$RUN/volume-plugins" \
    --experimental-dockershim-root-directory "$RUN/dockershim" \
    --container-runtime docker --docker-endpoint "unix://$SOCK" \
    --container-runtime-endpoint "unix://$RUN/dockershim.sock" \
    --network-plugin= --pod-infra-container-image "$K8S_PAUSE_IMAGE" \
    --oom-score-adj 0 --v 1
}

start_proxy() {
  local cidr=$1
  # conntrack values 0: leave the host's nf_conntrack sysctls as they are.
  launch kube-proxy \
    --kubeconfig "$RUN/proxy.kubeconfig" --hostname-override "$NODE_NAME" \
    --proxy-mode iptables --cluster-cidr "$cidr" --oom-score-adj 0 \
    --conntrack-max-per-core 0 --conntrack-min 0 \
    --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
    --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256
}

# await SECONDS WHAT CMD...: like sd_wait_until, but give up at once when a component that was
# started has exited.
await() {
  local limit=$1 what=$2 c; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    for c in "${COMPONENTS[@]}"; do
      if [ -f "$RUN/$c.pid" ] && ! running "$c"; then
        sd_log "$c exited while waiting for $what"
        return 1
      fi
    done
    if [ "$(date +%s)" -ge "$deadline" ]; then
      sd_log "gave up waiting for $what after ${limit}s"
      return 1
    fi
    sleep 0.5
  done
}

node_ready() {
  [ "$(kubectl_ get node "$NODE_NAME" \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do running "$c" || return 1; done
}

# EXIT trap while start runs: on any failure show the logs and undo the partial start.
start_ok=0
after_start() {
  local c
  [ "$start_ok" = 1 ] && return 0
  trap - EXIT
  sd_log "start failed; last lines of each component log:"
  for c in "${COMPONENTS[@]}"; do
    [ -s "$LOGS/$c.log" ] || continue
    echo "---- $c" >&2
    tail -n 10 "$LOGS/$c.log" >&2
  done
  sd_log "undoing the partial start"
  cmd_stop || true
  exit 1
}

cmd_start() {
  local t0 ip cidr
  t0=$(sd_ms)
  if [ -d "$RUN" ]; then
    if all_running && node_ready; then
      sd_log "already running; $(cmd_env | head -n1)"
      return 0
    fi
    sd_log "$RUN holds an incomplete or stopped cluster: cleaning it up first"
    cmd_stop
  fi

  "$HERE/build.sh"
  k8s_build_complete || sd_die "no complete build in $K8S_OUT"
  t0=$(sd_ms)   # from here on: the cluster itself

  mkdir -p "$RUN" "$LOGS" "$RUN/volume-plugins"
  chmod 700 "$RUN"
  trap after_start EXIT
  record_host_state

  if ! "$DOCKERD" status >/dev/null 2>&1; then
    touch "$RUN/started-dockerd"
    "$DOCKERD" start
  fi
  if ! docker_ image inspect "$K8S_PAUSE_IMAGE" >/dev/null 2>&1; then
    sd_log "loading $K8S_PAUSE_IMAGE from $K8S_PAUSE_TAR"
    docker_ load -q -i "$K8S_PAUSE_TAR" >/dev/null
  fi
  ip=$(node_ip)
  cidr=$(bridge_subnet)
  if [ -z "$ip" ] || [ -z "$cidr" ]; then
    sd_die "cannot tell the node address ($ip) or the pod subnet ($cidr)"
  fi
  sd_log "node $NODE_NAME at $ip, pods on the engine's bridge $cidr, services $SERVICE_CIDR"

  make_pki "$ip"
  write_kubelet_config "$ip"
  sd_log "PKI and configuration ready after $(sd_since "$t0")"

  start_etcd
  await 60 etcd env ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_PORT" \
    --dial-timeout 2s endpoint health
  start_apiserver "$ip"
  await 90 "kube-apiserver /readyz" kubectl_ get --raw /readyz
  sd_log "apiserver ready after $(sd_since "$t0")"

  start_controllers
  start_kubelet "$ip"
  start_proxy "$cidr"
  await "$READY_TIMEOUT" "node $NODE_NAME Ready" node_ready
  sd_log "node Ready after $(sd_since "$t0")"
  await 60 "service account default/default" kubectl_ -n default get serviceaccount default
  all_running || sd_die "a component exited during start"
  date +%s >"$RUN/started"
  start_ok=1
  trap - EXIT
  sd_log "cluster up after $(sd_since "$t0"); use: eval \"\$($0 env)\""
}

# --- stop ----------------------------------------------------------------------------------------

# Delete the KUBE-* chains that did not exist before start, and the rules that jump to them,
# one iptables-restore transaction per table.
delete_kube_chains() {
  local ipt t chains c script rule owner
  for ipt in iptables ip6tables; do
    command -v "$ipt-save" >/dev/null || continue
    for t in filter nat mangle raw; do
      chains=$("$ipt-save" -t "$t" 2>/dev/null | awk '/^:KUBE-/ {print substr($1, 2)}' || true)
      [ -n "$chains" ] || continue
      if [ -f "$RUN/kube-chains.before" ]; then
        chains=$(for c in $chains; do
          grep -qx "$ipt $t $c" "$RUN/kube-chains.before" || echo "$c"; done)
      fi
      [ -n "$chains" ] || continue
      script=$(
        echo "*$t"
        # rules in other chains that jump to one of ours: delete them by their exact text
        "$ipt-save" -t "$t" | grep '^-A ' | while read -r rule; do
          owner=${rule#-A }; owner=${owner%% *}
          for c in $chains; do
            [ "$owner" = "$c" ] && continue 2
            case " $rule " in *" -j $c "* | *" -g $c "*) echo "-D${rule#-A}"; continue 2 ;; esac
          done
        done
        for c in $chains; do echo "-F $c"; done
        for c in $chains; do echo "-X $c"; done
        echo COMMIT
      )
      if printf '%s\n' "$script" | "$ipt-restore" --noflush; then
        sd_log "removed $ipt $t chains: $(echo "$chains" | paste -sd" ")"
      else
        sd_log "WARNING: could not remove all $ipt $t KUBE-* chains"
      fi
    done
  done
}

remove_pod_containers() {
  docker_ info >/dev/null 2>&1 || return 0
  local ids
  ids=$(docker_ ps -aq --filter label=io.kubernetes.docker.type)
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086
  docker_ rm -f $ids >/dev/null
  sd_log "removed $(echo "$ids" | wc -l) pod container(s) from the engine"
}

# Processes of the cluster still running: started from one of our binaries, with the run
# directory in their arguments.
leftover_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case $exe in /usr/bin/etcd | "$K8S_BIN"/*) ;; *) continue ;; esac
    sd_cmdline "${p#/proc/}" | grep -qF -- "$RUN/" && echo "${p#/proc/}"
  done
  return 0
}

cmd_stop() {
  local t0 i c pid d
  t0=$(sd_ms)
  if [ ! -d "$RUN" ]; then
    sd_log "not running (no $RUN)"
    return 0
  fi
  # SIGTERM to all components at once, etcd last (the apiserver writes to it until it exits).
  for c in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver; do
    if running "$c"; then kill -TERM "$(tr -dc '0-9' <"$RUN/$c.pid")" 2>/dev/null || true; fi
  done
  for (( i = ${#COMPONENTS[@]} - 1; i >= 0; i-- )); do
    c=${COMPONENTS[$i]}
    if running "$c"; then
      pid=$(tr -dc '0-9' <"$RUN/$c.pid")
      sd_stop_pid "$pid" "$c" 20 || true
    fi
    rm -f "$RUN/$c.pid"
  done
  for pid in $(leftover_pids); do
    sd_stop_pid "$pid" "leftover $(sd_cmdline "$pid" | cut -c1-60)" 10 || true
  done

  remove_pod_containers || sd_log "WARNING: could not remove pod containers"
  delete_kube_chains
  if [ -s "$RUN/route_localnet.before" ]; then
    cat "$RUN/route_localnet.before" >"$ROUTE_LOCALNET"
    sd_log "net.ipv4.conf.all.route_localnet back to $(cat "$ROUTE_LOCALNET")"
  fi

  sd_unmount_below "$RUN" || sd_log "WARNING: mounts left below $RUN: $(sd_mounts_below "$RUN" | tr '\n' ' ')"
  if [ -f "$RUN/host-dirs.created" ]; then
    while read -r d; do
      if [ -z "$d" ] || [ ! -e "$d" ]; then continue; fi
      sd_unmount_below "$d" || { sd_log "WARNING: $d still has mounts: kept"; continue; }
      rm -rf "$d"
      sd_log "removed $d (created by the kubelet)"
    done <"$RUN/host-dirs.created"
  fi

  if [ -f "$RUN/started-dockerd" ]; then
    "$DOCKERD" stop
  fi

  if [ -n "${SCRYDON_DRILL_K8S_LOG_DIR:-}" ] && [ -d "$LOGS" ]; then
    mkdir -p "$SCRYDON_DRILL_K8S_LOG_DIR"
    cp -a "$LOGS/." "$SCRYDON_DRILL_K8S_LOG_DIR/"
    sd_log "logs copied to $SCRYDON_DRILL_K8S_LOG_DIR"
  fi
  if [ -n "$(sd_mounts_below "$RUN")" ]; then
    sd_die "$RUN still has mounts; not deleting it"
  fi
  rm -rf "$RUN"

  if [ -n "$(leftover_pids)" ]; then
    ps -o pid,cmd -p "$(leftover_pids | paste -sd,)" >&2 || true
    sd_die "processes of the cluster are still running"
  fi
  sd_log "stopped after $(sd_since "$t0")"
}

# --- status / env --------------------------------------------------------------------------------

cmd_status() {
  local c rc=0
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "$c: running (pid $(tr -dc '0-9' <"$RUN/$c.pid"))"
    else echo "$c: stopped"; rc=3; fi
  done
  if running kube-apiserver; then kubectl_ get nodes -o wide || rc=3; fi
  return $rc
}

cmd_env() {
  echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
  echo "export KUBECACHEDIR=$RUN/kubectl-cache"
  echo "export DOCKER_HOST=unix://$SOCK"
  echo "export PATH=\"$K8S_BIN:\$PATH\""
}

case "${1:-}" in
  start | stop)
    # One start/stop at a time: lock the parent directory of the run directory (no lock file
    # to leave behind).
    mkdir -p "$(dirname "$RUN")"
    exec 8<"$(dirname "$RUN")"
    flock -w 300 8 || sd_die "another start/stop still holds the lock on $(dirname "$RUN")"
    "cmd_$1" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sd_usage; exit 2 ;;
esac
