#!/usr/bin/env bash
# The lint and type gate: ruff over the repository, mypy over tray_agent/ and the first-party
# plugins' packages (both configured in pyproject.toml). Exits 1 on any finding of either.
#
#   bash packaging/lint.sh [PYTHON]   (default: ${TRAY_AGENT_VENV:-.venv}/bin/python)
#
# `bootstrap.sh test` (the README's test command, which .ci/run calls) runs it before pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

py=${1:-${TRAY_AGENT_VENV:-.venv}/bin/python}
[[ -x $py ]] || { echo "[lint] error: no python at $py (run bash packaging/bootstrap.sh test first)" >&2; exit 2; }

rc=0
step() {
  local name=$1 t0 status=ok
  shift
  echo "[lint] $name: $*"
  t0=$EPOCHREALTIME
  "$py" -m "$@" || { status=FAILED; rc=1; }
  echo "[lint] $name: $status in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $t0 }")s"
}

echo "[lint] $("$py" -m ruff --version), $("$py" -m mypy --version)"
step ruff ruff check --no-cache .
step mypy mypy
exit "$rc"
