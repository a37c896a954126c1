#!/usr/bin/env bash
# The delegation benchmark in one command: builds the release binary, then runs tests/eval/run.py
# (which starts the demo's backend itself unless LOCAL_LLM_BASE_URL is set, and stops it on exit).
#
#   tests/eval/run.sh --repairs 0 --markdown
#   tests/eval/run.sh --repairs 2 --tier fast --only 'py_*'
#
# LEX_BIN=/path/to/local-executor-mcp skips the build; LEX_VENV picks the backend's venv, whose
# Python (it has PyYAML) runs the benchmark when it exists.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
if [ -z "${LEX_BIN:-}" ]; then
    cargo build --release >&2
    export LEX_BIN="$REPO/target/release/local-executor-mcp"
fi
export LEX_BACKEND_STATE="${LEX_BACKEND_STATE:-$REPO/.cache/backend-eval}"
py="${LEX_VENV:-$REPO/.venv}/bin/python"
[ -x "$py" ] || py=python3
exec "$py" "$REPO/tests/eval/run.py" "$@"
