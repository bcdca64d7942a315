#!/usr/bin/env bash
# Run rnnshape's test suite against one torch release, in a fresh virtual environment.
#
# usage: scripts/test-torch-version.sh VERSION [PYTEST_ARGS...]
#        e.g. scripts/test-torch-version.sh 2.13.0
#
# Creates a venv in a temporary folder (removed at exit; KEEP_VENV=1 keeps it), installs
# torch==VERSION through scripts/install-cpu-torch.sh (PyTorch's CPU wheel index, falling
# back to pip's own configuration), then the project with its test extras, and runs the
# README's test command: pytest and lint-imports. PYTHON picks the interpreter (python3).
# The last line says what ran: torch version, pytest's summary, wall time.
set -euo pipefail
version=${1:?usage: scripts/test-torch-version.sh VERSION [PYTEST_ARGS...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(mktemp -d "${TMPDIR:-/tmp}/rnnshape-torch-$version.XXXXXX")
if [ "${KEEP_VENV:-0}" = 1 ]; then
    echo "test-torch-version: venv kept in $venv" >&2
else
    trap 'rm -rf "$venv"' EXIT
fi
"${PYTHON:-python3}" -m venv "$venv"
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
unset PYTHONPATH  # the suite must import the project from this venv's install

start=$(date +%s)
"$root/scripts/install-cpu-torch.sh" "torch==$version"
python -m pip install -e "$root[test]"
installed=$(python -c 'import torch; print(torch.__version__)')
du_venv=$(du -sh "$venv" | cut -f1)
cd "$root"
test_start=$(date +%s)
log="$venv/pytest.log"
set +e
python -m pytest -p no:cacheprovider "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
test_end=$(date +%s)
if [ "$status" = 0 ]; then
    lint-imports || status=$?
fi
summary=$( (grep -E '[0-9]+ (passed|failed|errors?)\b.* in [0-9.]+s' "$log" || true) | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')
echo "torch $installed (venv $du_venv): ${summary:-no pytest summary}; suite $((test_end - test_start)) s, install + suite $((test_end - start)) s; exit $status"
exit "$status"
