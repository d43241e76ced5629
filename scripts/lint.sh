#!/usr/bin/env bash
# The checks of `tox -e lint`, run in the project's virtualenv: the import layers contract
# (pyproject.toml, [tool.importlinter]), ruff, and mypy strict on harness/.
set -euo pipefail
cd "$(dirname "$0")/.."
rc=0
.venv/bin/lint-imports || rc=1
.venv/bin/ruff check harness fixtures drills || rc=1
.venv/bin/mypy || rc=1
exit "$rc"
