#!/usr/bin/env bash
# Run every check: ruff and mypy on the code, then the unit, integration and
# end-to-end tests. Installs what they need first (scripts/setup.sh).
# Extra arguments go to pytest, for example: scripts/test.sh -m "not e2e".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh
engine_bin=$(bash scripts/engine.sh 2>/dev/null | tail -n 1)
export PATH="$engine_bin:$PATH"

.venv/bin/ruff check components tests sandbox bench
.venv/bin/mypy

status=0
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
# pytest exits 5 when no test was collected, which must fail the run.
if [ "$status" -eq 5 ]; then
  echo "test: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
