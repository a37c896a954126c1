#!/usr/bin/env bash
# A team's GPU boxes behind a real gateway, on one machine: the demo's llama.cpp backend
# (scripts/backend.sh) started once per box on its own free port, and LiteLLM's proxy in front of
# them with examples/litellm.yaml (one model name per tier balanced over every box, a master key).
# Everything listens on 127.0.0.1 only.
#
#   scripts/gateway.sh setup    create/refresh the gateway venv (.venv-gateway; seconds when done)
#   scripts/gateway.sh start    setup, start the boxes and the proxy, wait until the proxy routes
#                               to them, print the env to point local-executor-mcp at it
#   scripts/gateway.sh env      print that env again (export lines)
#   scripts/gateway.sh stop     stop the proxy and the boxes
#
# Or source it and call gateway_setup / gateway_start / gateway_stop; a script that starts it
# should `trap gateway_stop EXIT` (tests/e2e/run.sh and the suite's gateway fixture do).
#
# Settings (environment), besides those of scripts/backend.sh (LEX_VENV, the boxes' venv):
#   LEX_GATEWAY_VENV     the proxy's venv                           (default: <repo>/.venv-gateway)
#   LEX_GATEWAY_STATE    pids, ports, logs, config, key             (default: <repo>/.cache/gateway)
#   LEX_GATEWAY_BOXES    1 or 2 boxes; with 1, both entries of a tier point at the same box
#                        (default: 2)
#   LEX_GATEWAY_CONFIG   the LiteLLM config                         (default: examples/litellm.yaml)
#   LEX_GATEWAY_EXTRA    a JSON file: {"model_list": [...], "router_settings": {...}} merged into
#                        the config (the suite adds scripted faulty upstreams this way)
#   LEX_GATEWAY_KEY      the master key                             (default: a random one)
#   LEX_GATEWAY_TIMEOUT  seconds to wait for the proxy              (default: 120)
#   LEX_GATEWAY_WHEELS   the wheels of the proxy's venv, kept per requirements for every checkout
#                        (default: ~/.cache/local-executor-mcp/gateway-wheels)

LEX_REPO="${LEX_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
# shellcheck source=scripts/backend.sh
. "$LEX_REPO/scripts/backend.sh"

LEX_GATEWAY_VENV="${LEX_GATEWAY_VENV:-$LEX_REPO/.venv-gateway}"
LEX_GATEWAY_STATE="${LEX_GATEWAY_STATE:-$LEX_REPO/.cache/gateway}"
LEX_GATEWAY_BOXES="${LEX_GATEWAY_BOXES:-2}"
LEX_GATEWAY_CONFIG="${LEX_GATEWAY_CONFIG:-$LEX_REPO/examples/litellm.yaml}"
LEX_GATEWAY_TIMEOUT="${LEX_GATEWAY_TIMEOUT:-120}"
LEX_GATEWAY_WHEELS="${LEX_GATEWAY_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/local-executor-mcp/gateway-wheels}"
LEX_GATEWAY_REQS="$LEX_REPO/scripts/requirements-gateway.txt"
LEX_GATEWAY_QUALITY="team-coder"
LEX_GATEWAY_FAST="team-coder-fast"

_lex_gw_stamp_value() {
    cat "$LEX_GATEWAY_REQS" "$LEX_REPO/scripts/constraints-gateway.txt" | cksum | cut -d' ' -f1
}

# Creates the venv from the kept wheels, downloading them once (a fresh venv from the kept wheels
# takes about half a minute; a current venv, nothing).
gateway_setup() {
    local stamp="$LEX_GATEWAY_VENV/.lex-gateway-stamp" want
    want=$(_lex_gw_stamp_value)
    if [ -x "$LEX_GATEWAY_VENV/bin/litellm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        _lex_say "gateway venv ready ($LEX_GATEWAY_VENV)"
        return 0
    fi
    local t0=$SECONDS wheels="$LEX_GATEWAY_WHEELS/$want"
    if [ ! -x "$LEX_GATEWAY_VENV/bin/python" ]; then
        command -v "$LEX_PYTHON" >/dev/null || { _lex_err "$LEX_PYTHON not found: install Python 3.9+"; return 1; }
        _lex_say "creating the venv $LEX_GATEWAY_VENV"
        "$LEX_PYTHON" -m venv "$LEX_GATEWAY_VENV" || return 1
    fi
    local log="$LEX_GATEWAY_VENV/pip-install.log"
    if [ ! -f "$wheels/.complete" ]; then
        _lex_say "downloading LiteLLM's proxy and its dependencies into $wheels (once per machine)"
        mkdir -p "$wheels"
        (cd "$LEX_REPO/scripts" && "$LEX_GATEWAY_VENV/bin/python" -m pip download -q --disable-pip-version-check \
            -d "$wheels" -r "$LEX_GATEWAY_REQS") >"$log" 2>&1 \
            || { _lex_err "pip download failed; the end of $log:"; tail -n 20 "$log" >&2; return 1; }
        touch "$wheels/.complete"
    fi
    _lex_say "installing LiteLLM's proxy into $LEX_GATEWAY_VENV from $wheels"
    (cd "$LEX_REPO/scripts" && "$LEX_GATEWAY_VENV/bin/python" -m pip install -q --disable-pip-version-check \
        --no-index --find-links "$wheels" -r "$LEX_GATEWAY_REQS") >>"$log" 2>&1 \
        || { _lex_err "pip install failed; the end of $log:"; tail -n 20 "$log" >&2; return 1; }
    echo "$want" >"$stamp"
    _lex_say "gateway venv ready in $((SECONDS - t0)) s"
}

_lex_gw_pid() {
    local pid
    pid=$(cat "$LEX_GATEWAY_STATE/proxy.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*) return 1 ;; esac
    echo "$pid"
}

# Writes the proxy's config: LEX_GATEWAY_CONFIG plus LEX_GATEWAY_EXTRA.
_lex_gw_write_config() {
    "$LEX_GATEWAY_VENV/bin/python" - "$LEX_GATEWAY_CONFIG" "${LEX_GATEWAY_EXTRA:-}" \
        >"$LEX_GATEWAY_STATE/litellm.yaml" <<'PY'
import json, sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
if sys.argv[2]:
    extra = json.load(open(sys.argv[2]))
    config["model_list"] += extra.get("model_list", [])
    config.setdefault("router_settings", {}).update(extra.get("router_settings", {}))
yaml.safe_dump(config, sys.stdout, sort_keys=False)
PY
}

_lex_gw_box_state() { echo "$LEX_GATEWAY_STATE/box$1"; }

gateway_start() {
    if _lex_gw_pid >/dev/null; then
        _lex_say "stopping the gateway left running before"
    fi
    gateway_stop
    gateway_setup || return 1
    mkdir -p "$LEX_GATEWAY_STATE"
    local i
    for i in $(seq 1 "$LEX_GATEWAY_BOXES"); do
        # Any free port for each box: the fixed default (LEX_PORT) is the demo's.
        LEX_PORT=0 LEX_BACKEND_STATE=$(_lex_gw_box_state "$i") backend_start || { gateway_stop; return 1; }
    done
    local box1 box2
    box1="http://127.0.0.1:$(cat "$(_lex_gw_box_state 1)/server.port")/v1"
    box2=$box1
    [ "$LEX_GATEWAY_BOXES" -ge 2 ] && box2="http://127.0.0.1:$(cat "$(_lex_gw_box_state 2)/server.port")/v1"
    local key="${LEX_GATEWAY_KEY:-sk-lex-$("$LEX_GATEWAY_VENV/bin/python" -c 'import secrets; print(secrets.token_hex(12))')}"
    echo "$key" >"$LEX_GATEWAY_STATE/key"
    _lex_gw_write_config || { gateway_stop; return 1; }
    local log="$LEX_GATEWAY_STATE/proxy.log" port pid
    for _ in 1 2 3; do
        port=$(_lex_free_port) || return 1
        _lex_say "starting LiteLLM's proxy on 127.0.0.1:$port over $LEX_GATEWAY_BOXES box(es)"
        # LITELLM_LOCAL_MODEL_COST_MAP: use the cost map inside the package instead of fetching it
        # from the internet at start (which retries for seconds where there is no internet).
        BOX1_API_BASE=$box1 BOX2_API_BASE=$box2 LITELLM_MASTER_KEY=$key LITELLM_LOCAL_MODEL_COST_MAP=True \
        PYTHONUNBUFFERED=1 "$LEX_GATEWAY_VENV/bin/python" -c '
import os, sys
try:
    os.setsid()
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
' "$LEX_GATEWAY_VENV/bin/litellm" --config "$LEX_GATEWAY_STATE/litellm.yaml" \
            --host 127.0.0.1 --port "$port" --num_workers 1 >"$log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$LEX_GATEWAY_STATE/proxy.pid"
        echo "$port" >"$LEX_GATEWAY_STATE/proxy.port"
        local deadline=$((SECONDS + LEX_GATEWAY_TIMEOUT))
        while [ $SECONDS -lt $deadline ] && _lex_gw_pid >/dev/null; do
            if curl -fsS -o /dev/null --max-time 5 -H "Authorization: Bearer $key" \
                "http://127.0.0.1:$port/v1/models" 2>/dev/null; then
                _lex_say "gateway ready: http://127.0.0.1:$port/v1 (log: $log)"
                return 0
            fi
            sleep 0.5
        done
        if _lex_gw_pid >/dev/null; then
            _lex_err "the proxy did not answer within ${LEX_GATEWAY_TIMEOUT} s; the end of $log:"
            tail -n 30 "$log" >&2
            gateway_stop
            return 1
        fi
        wait "$pid" 2>/dev/null || true
        if grep -qi 'address already in use' "$log"; then
            _lex_say "port $port was taken meanwhile; trying another"
            continue
        fi
        _lex_err "the proxy exited during start; the end of $log:"
        tail -n 30 "$log" >&2
        gateway_stop
        return 1
    done
    _lex_err "no free port found"
    gateway_stop
    return 1
}

# Stops the proxy (SIGTERM, SIGKILL after 10 s, its whole process group), then every box.
gateway_stop() {
    local pid
    pid=$(cat "$LEX_GATEWAY_STATE/proxy.pid" 2>/dev/null) || pid=""
    if [ -n "$pid" ] && _lex_gw_pid >/dev/null; then
        _lex_say "stopping the gateway (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            _lex_gw_pid >/dev/null || break
            sleep 0.1
        done
        _lex_gw_pid >/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    fi
    [ -n "$pid" ] && { wait "$pid" 2>/dev/null || true; }
    rm -f "$LEX_GATEWAY_STATE/proxy.pid"
    local box
    for box in "$LEX_GATEWAY_STATE"/box*; do
        [ -d "$box" ] && LEX_BACKEND_STATE=$box backend_stop
    done
    return 0
}

gateway_env() {
    _lex_gw_pid >/dev/null || { _lex_err "the gateway is not running"; return 1; }
    echo "export LOCAL_LLM_BASE_URL=http://127.0.0.1:$(cat "$LEX_GATEWAY_STATE/proxy.port")/v1"
    echo "export LOCAL_LLM_API_KEY=$(cat "$LEX_GATEWAY_STATE/key")"
    echo "export LOCAL_LLM_MODEL_QUALITY=$LEX_GATEWAY_QUALITY"
    echo "export LOCAL_LLM_MODEL_FAST=$LEX_GATEWAY_FAST"
    echo "export LEX_GATEWAY_LOG=$LEX_GATEWAY_STATE/proxy.log"
    local box
    for box in "$LEX_GATEWAY_STATE"/box*; do
        [ -f "$box/server.pid" ] || continue
        echo "export LEX_$(basename "$box" | tr a-z A-Z)_URL=http://127.0.0.1:$(cat "$box/server.port")/v1"
        echo "export LEX_$(basename "$box" | tr a-z A-Z)_LOG=$box/server.log"
        echo "export LEX_$(basename "$box" | tr a-z A-Z)_PID=$(cat "$box/server.pid")"
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        setup) gateway_setup ;;
        start) gateway_start && gateway_env ;;
        stop) gateway_stop ;;
        env) gateway_env ;;
        *)
            sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
fi
