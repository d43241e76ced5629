#!/usr/bin/env bash
# A private Docker engine for scrydon-drill's tests (Debian's docker.io, run as root).
#
# Usage: scripts/dockerd.sh start|stop|status|env
#   start   install docker.io when missing; when nothing answers on the socket, start a
#           dockerd of our own and wait until `docker info` answers (deadline)
#   stop    stop the dockerd that this script started (pid file) and wait until it and its
#           containerd are gone; an engine started by anyone else is left alone
#   status  say whether an engine answers on the socket and whether it is ours
#   env     print `export DOCKER_HOST=unix://...` (use: eval "$(scripts/dockerd.sh env)")
#
# Environment:
#   SCRYDON_DRILL_CACHE        cache root (default /var/cache/scrydon-drill); the engine keeps its
#                              image store in <cache>/docker/data, so images built once (base
#                              images, the pause image) are reused by later runs
#   SCRYDON_DRILL_DOCKER_SOCK  socket (default /run/scrydon-drill/docker.sock); the pid file,
#                              log and daemon.json sit next to it
#   SCRYDON_DRILL_DOCKER_TIMEOUT  seconds to wait for readiness (default 60)
#
# No system service is enabled or started: docker.service/containerd.service that the package
# install enables are disabled again. The engine publishes ports on 127.0.0.1 by default.
set -euo pipefail
# shellcheck disable=SC2034 # read by sd_log
SD_TAG=dockerd
# shellcheck source=scripts/lib/common.sh
. "$(cd "$(dirname "$0")" && pwd)/lib/common.sh"

SOCK=${SCRYDON_DRILL_DOCKER_SOCK:-/run/scrydon-drill/docker.sock}
STATE=$(dirname "$SOCK")
PIDFILE=$STATE/dockerd.pid
LOGFILE=$STATE/dockerd.log
CONF=$STATE/dockerd.json
DATA_ROOT=$SD_CACHE/docker/data
EXEC_ROOT=$SD_CACHE/docker/exec
TIMEOUT=${SCRYDON_DRILL_DOCKER_TIMEOUT:-60}

answers() { [ -x "$SD_DOCKER" ] && "$SD_DOCKER" -H "unix://$SOCK" info >/dev/null 2>&1; }
ours() { sd_pid_matches "$PIDFILE" "unix://$SOCK"; }
our_pid() { tr -dc '0-9' <"$PIDFILE"; }

cmd_start() {
  local t0 pid
  t0=$(sd_ms)
  sd_apt_ensure docker.io
  if answers; then
    if ours; then sd_log "already running (pid $(our_pid)), socket $SOCK"
    else sd_log "an engine not started by this script answers on $SOCK: using it"; fi
    return 0
  fi
  mkdir -p "$STATE" "$DATA_ROOT" "$EXEC_ROOT"
  if ours; then
    pid=$(our_pid)
    sd_log "our dockerd (pid $pid) is up but not answering yet"
  else
    [ -S "$SOCK" ] && rm -f "$SOCK"   # nothing answers on it: a stale socket
    rm -f "$PIDFILE"
    # keep one previous log once it passes 10 MB
    if [ -f "$LOGFILE" ] && [ "$(stat -c %s "$LOGFILE")" -gt 10485760 ]; then
      mv -f "$LOGFILE" "$LOGFILE.1"
    fi
    # Our own daemon.json: /etc/docker/daemon.json (if any) does not apply, and the engine's
    # identity key goes to the cache instead of /etc/docker/key.json.
    printf '{"deprecated-key-path": "%s"}\n' "$SD_CACHE/docker/key.json" >"$CONF"
    sd_log "starting dockerd: data-root $DATA_ROOT, socket $SOCK, log $LOGFILE"
    # Own session: the engine must not die with the caller's terminal or process group.
    sd_spawn "$LOGFILE" dockerd \
      --host "unix://$SOCK" \
      --data-root "$DATA_ROOT" \
      --exec-root "$EXEC_ROOT" \
      --pidfile "$PIDFILE" \
      --config-file "$CONF" \
      --ip 127.0.0.1
    pid=$SD_SPAWNED_PID
  fi
  if ! sd_wait_until "$TIMEOUT" "dockerd on $SOCK" answers; then
    sd_log "dockerd did not become ready; last log lines:"
    tail -n 20 "$LOGFILE" >&2 || true
    sd_stop_pid "$pid" dockerd 30 || true
    rm -f "$PIDFILE"
    return 1
  fi
  sd_log "dockerd ready (pid $(our_pid)) after $(sd_since "$t0")"
}

# Processes of our engine: dockerd, containerd and the shims, recognised by their binary and by
# our exec-root in their arguments.
engine_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case ${exe##*/} in dockerd | containerd | containerd-shim* | runc) ;; *) continue ;; esac
    sd_cmdline "${p#/proc/}" | grep -qF -- "$EXEC_ROOT" && echo "${p#/proc/}"
  done
  return 0
}

cmd_stop() {
  local t0 pid p
  t0=$(sd_ms)
  if ! ours; then
    rm -f "$PIDFILE"
    if answers; then
      sd_log "the engine on $SOCK was not started by this script: left running"
      return 0
    fi
    # Nothing answers: processes with our exec-root are orphans of an engine that died.
    for p in $(engine_pids); do
      sd_stop_pid "$p" "orphan $(sd_cmdline "$p" | cut -c1-60)" 10 || true
    done
    rm -f "$CONF"
    sd_log "not running"
    return 0
  fi
  pid=$(our_pid)
  # dockerd stops the containers it runs (shutdown-timeout 15 s), then its containerd.
  sd_stop_pid "$pid" dockerd 60 || true
  for p in $(engine_pids); do
    sd_stop_pid "$p" "leftover $(sd_cmdline "$p" | cut -c1-60)" 10 || true
  done
  rm -f "$PIDFILE" "$CONF"
  if [ -S "$SOCK" ] && ! answers; then rm -f "$SOCK"; fi
  if [ -n "$(engine_pids)" ] || kill -0 "$pid" 2>/dev/null; then
    sd_die "engine processes are still running: $(engine_pids)"
  fi
  sd_log "stopped after $(sd_since "$t0")"
}

cmd_status() {
  if answers; then
    if ours; then echo "dockerd: running (pid $(our_pid), started by this script), socket $SOCK"
    else echo "dockerd: an engine not started by this script answers on $SOCK"; fi
    return 0
  fi
  if ours; then echo "dockerd: pid $(our_pid) exists but does not answer on $SOCK"
  else echo "dockerd: not running ($SOCK)"; fi
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export DOCKER_HOST=unix://$SOCK" ;;
  *) sd_usage; exit 2 ;;
esac
