#!/usr/bin/env bash
# Set up (if needed) and run the full demo drill on the embedded default environment.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRYDON_DRILL_SETUP_BROWSER=0 bash scripts/setup.sh
exec .venv/bin/scrydon-drill demo "$@"
