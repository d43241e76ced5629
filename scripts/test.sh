#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit tests and integration tests on real
# servers. Extra arguments go to pytest. JUnit XML lands in reports/tests/junit.xml.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p reports/tests
exec .venv/bin/python -m pytest --junitxml=reports/tests/junit.xml "$@"
