# shellcheck shell=bash disable=SC2034 # variables for the scripts that source this file
# Helpers shared by scripts/dockerd.sh and scripts/k8s/*.sh. Source it; it defines functions
# and a few variables only and starts nothing.
#
#   SD_CACHE      build products kept between runs (SCRYDON_DRILL_CACHE, default
#                 /var/cache/scrydon-drill); never inside the clone
#   SD_DOCKER     the Debian docker CLI (matches the Debian dockerd API; a newer docker CLI
#                 elsewhere on PATH may expect BuildKit)

SD_CACHE=${SCRYDON_DRILL_CACHE:-/var/cache/scrydon-drill}
SD_DOCKER=/usr/bin/docker
SD_TAG=${SD_TAG:-$(basename "$0" .sh)}

# Print the comment block at the top of the running script (its usage) to stderr.
sd_usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0" >&2; }

sd_log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$SD_TAG" "$*" >&2; }
sd_die() { sd_log "ERROR: $*"; exit 1; }

# Monotonic-enough wall clock in milliseconds, and "X.Ys" since a value of it.
sd_ms() { date +%s%3N; }
sd_since() {
  local d=$(( $(sd_ms) - $1 ))
  printf '%d.%01ds' $(( d / 1000 )) $(( (d % 1000) / 100 ))
}

# sd_wait_until SECONDS DESCRIPTION CMD...: run CMD every 0.5 s until it succeeds; fail
# (return 1) once SECONDS have passed.
sd_wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      sd_log "gave up waiting for $what after ${limit}s"
      return 1
    fi
    sleep 0.5
  done
}

# The command line of PID, arguments separated by spaces; empty when PID is gone.
sd_cmdline() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true; }

# sd_pid_matches PIDFILE PATTERN: the pid file names a live process whose command line
# contains PATTERN (guards against stale pid files and recycled pids).
sd_pid_matches() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] || return 1
  sd_cmdline "$pid" | grep -qF -- "$2"
}

# sd_spawn LOGFILE CMD...: start CMD detached from the caller (own session, stdin from
# /dev/null, output appended to LOGFILE) with no file descriptor other than 0-2 (a daemon must
# not keep the caller's lock files or pipes open). Sets SD_SPAWNED_PID.
sd_spawn() {
  local log=$1; shift
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid "$@" </dev/null >>"$log" 2>&1
  ) &
  SD_SPAWNED_PID=$!
}

# sd_stop_pid PID NAME [GRACE_SECONDS]: SIGTERM, wait, then SIGKILL; returns once PID is gone.
sd_stop_pid() {
  local pid=$1 name=$2 grace=${3:-20} i
  kill -0 "$pid" 2>/dev/null || return 0
  sd_log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < grace * 4; i++ )); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  sd_log "$name did not exit after ${grace}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for (( i = 0; i < 40; i++ )); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  sd_log "WARNING: $name (pid $pid) is still there"
  return 1
}

# --- mounts ----------------------------------------------------------------------------------

# Mount points at or below $1, deepest first (octal escapes of mountinfo decoded).
sd_mounts_below() {
  local m
  awk '{print $5}' /proc/self/mountinfo | while read -r m; do
    m=$(printf '%b' "$m")
    case $m in "$1" | "$1"/*) echo "$m" ;; esac
  done | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-
}

sd_unmount_below() {
  local root=$1 m
  for _ in 1 2 3 4 5; do
    [ -n "$(sd_mounts_below "$root")" ] || return 0
    while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(sd_mounts_below "$root")
  done
  [ -z "$(sd_mounts_below "$root")" ]
}

# --- Debian packages -----------------------------------------------------------------------

# Enabled systemd unit files (works offline, without a running systemd).
sd_enabled_units() {
  command -v systemctl >/dev/null || return 0
  systemctl list-unit-files --state=enabled --no-legend 2>/dev/null | awk '{print $1}' | sort
}

# sd_apt_ensure PKG...: install the packages that are not installed yet (apt-get update
# first, no recommends). Package scripts may enable services (docker.io enables docker and
# containerd); these scripts run their own daemons, so units that became enabled by this
# install are disabled again. Nothing is ever started as a service.
sd_apt_ensure() {
  local missing=() p before after
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || sd_die "need root to install: ${missing[*]}"
  sd_log "apt: installing ${missing[*]}"
  before=$(sd_enabled_units)
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
  after=$(sd_enabled_units)
  local u
  for u in $(comm -13 <(echo "$before") <(echo "$after")); do
    sd_log "apt: disabling unit $u enabled by the package install"
    systemctl disable --no-reload "$u" >/dev/null 2>&1 || true
  done
}

# --- the machine's own apt sources ---------------------------------------------------------

# Print one line per "deb" entry of the system's apt sources:
#   URI SUITE SIGNED_BY COMPONENT...
# Both deb822 (*.sources) and one-line (*.list) files are read; nothing is changed.
sd_apt_entries() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush(   i, j, u, s) {
        if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/) {
          nu = split(uris, u, " "); ns = split(suites, s, " ")
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
            print u[i], s[j], (signed == "" ? "-" : signed), comps
        }
        types = uris = suites = comps = signed = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0
        else if (key == "uris") uris = $0
        else if (key == "suites") suites = $0
        else if (key == "components") comps = $0
        else if (key == "signed-by") signed = $0
        else if (key == "enabled") enabled = $0
      }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '
      $1 != "deb" { next }
      {
        signed = "-"; i = 2
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            if ($i ~ /signed-by=/) { signed = $i; sub(/.*signed-by=/, "", signed); sub(/\]$/, "", signed) }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        uri = $i; suite = $(i + 1); comps = ""
        for (k = i + 2; k <= NF; k++) comps = comps (comps == "" ? "" : " ") $k
        print uri, suite, signed, comps
      }' "$f"
  done
}

# The release codename of this machine (bookworm here).
sd_codename() { . /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"; }

# The mirror URI that serves this release's main suite, from the machine's apt sources.
sd_debian_mirror() {
  local codename uri
  codename=$(sd_codename)
  uri=$(sd_apt_entries | awk -v c="$codename" '$2 == c {print $1; exit}')
  [ -n "$uri" ] || sd_die "no apt source for suite $codename in /etc/apt/sources*"
  echo "$uri"
}

# sd_write_src_list FILE: a private sources list with a deb-src line for each deb entry of the
# machine's apt sources (same mirror, suites, components and keyring).
sd_write_src_list() {
  local out=$1 uri suite signed comps opt
  : >"$out"
  while read -r uri suite signed comps; do
    opt=""
    [ "$signed" != "-" ] && opt="[signed-by=$signed] "
    echo "deb-src ${opt}${uri} ${suite} ${comps}" >>"$out"
  done < <(sd_apt_entries)
  [ -s "$out" ] || sd_die "no deb entries found in the machine's apt sources"
}
