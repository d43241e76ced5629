#!/usr/bin/env bash
# Set up (if needed) and run the full demo drill on the embedded default environment.
# Arguments go to `scrydon-drill demo`; with `--scratch containers` a private Docker engine is
# started (and stopped afterwards) when none answers, and the local images are built (cached).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRYDON_DRILL_SETUP_BROWSER=0 bash scripts/setup.sh
provider=local
prev=""
for arg in "$@"; do
  case "$arg" in --scratch=*) provider=${arg#--scratch=} ;; esac
  if [ "$prev" = "--scratch" ]; then provider=$arg; fi
  prev=$arg
done
started_docker=0
cleanup() {
  if [ "$started_docker" = 1 ]; then bash scripts/dockerd.sh stop || true; fi
}
trap cleanup EXIT
if [ "$provider" = containers ] && [ -z "${DOCKER_HOST:-}" ]; then
  if ! bash scripts/dockerd.sh status >/dev/null 2>&1; then
    bash scripts/dockerd.sh start && started_docker=1
  fi
  eval "$(bash scripts/dockerd.sh env)"
  export DOCKER_HOST
fi
if [ "$provider" = containers ]; then
  .venv/bin/scrydon-drill images build --quiet
fi
.venv/bin/scrydon-drill demo "$@"
