#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit tests and integration tests on real
# servers. Extra arguments go to pytest. JUnit XML lands in reports/tests/junit.xml; the
# numbers the tests measured are printed at the end (reports/tests/measurements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p reports/tests
rm -f reports/tests/measurements.txt
rc=0
# The checks of `tox -e lint`: the import layers contract, ruff, mypy strict on harness/.
t0=$(date +%s)
bash scripts/lint.sh || rc=1
echo "[test] lint: $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
.venv/bin/python -m pytest --junitxml=reports/tests/junit.xml "$@" || rc=$?
echo "[test] pytest: $(( $(date +%s) - t0 )) s"
if [ -s reports/tests/measurements.txt ]; then
  echo "---- measured ----"
  cat reports/tests/measurements.txt
fi
exit "$rc"
