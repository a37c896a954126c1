"""A team's boxes behind a real gateway: LiteLLM's proxy (scripts/gateway.sh, examples/litellm.yaml)
in front of two real llama.cpp servers, with the proxy's master key as LOCAL_LLM_API_KEY, driven
through the official Python SDK and the CLI like the rest of the suite. Plus a scripted upstream
behind the same proxy for the faults a real server cannot be made to produce (a 500, a 429).

The module fixture starts its own two boxes and proxy (half a minute) and stops them after the
last test of this file. The killed-box test runs last: it leaves one box dead."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
import yaml

from scripted_upstream import BOOM, BOOM_MESSAGE, BUSY, ScriptedUpstream
from support import (
    FAILED_RE,
    HANG_BOUND,
    LONG_TASK,
    ADD_WORKS,
    PYTHON_TASK,
    REPO,
    assert_clean_python,
    assert_python_works,
    full_env,
    mcp_session,
    result_text,
    run,
    split_footer,
    usage_lines,
)

CLIENT = "e2e-gateway"
TOKENS_RE = re.compile(r"\b(\d+) tokens\b")
# llama-cpp-python's line for a generation it dropped because its client (here: the gateway) went
# away; a generation that runs to its end prints nothing of the kind.
DISCONNECT_RE = re.compile(r"Disconnected from client .*port=(\d+)\)")
POST_RE = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" 200')


@dataclass
class Box:
    url: str
    log: Path
    pid: int
    fast: str  # the model ids it serves, as the gateway forwards them
    quality: str

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Gateway:
    url: str
    key: str
    quality: str
    fast: str
    log: Path
    boxes: dict[str, Box]
    upstream: ScriptedUpstream


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Gateway:
    if not os.access(REPO / ".venv-gateway" / "bin" / "litellm", os.X_OK) and not os.environ.get("LEX_GATEWAY_VENV"):
        pytest.exit("the gateway venv is missing: tests/e2e/run.sh sets it up (scripts/gateway.sh setup)", returncode=4)
    with ScriptedUpstream() as upstream:
        faults = tmp_path_factory.mktemp("gateway") / "faults.json"
        # A model on one box only has nowhere to fail over to: cooldown_time 0 keeps one failure from
        # turning the next calls into "no deployments available" 429s for the router's 30 s.
        faults.write_text(json.dumps({"model_list": [
            {"model_name": f"team-{BOOM}", "litellm_params": {
                "model": f"openai/{BOOM}", "api_base": upstream.url, "api_key": "none", "cooldown_time": 0}},
            {"model_name": f"team-{BUSY}", "litellm_params": {
                "model": f"openai/{BUSY}", "api_base": upstream.url, "api_key": "none"}},
        ]}))
        env = full_env({
            "LEX_GATEWAY_STATE": os.environ.get("LEX_GATEWAY_STATE", str(REPO / ".cache" / "gateway-e2e")),
            "LEX_GATEWAY_EXTRA": str(faults),
            "LEX_GATEWAY_BOXES": "2",
            # Two boxes on one machine: a core each, as two GPU boxes have their own compute.
            "LEX_N_THREADS": "1",
        })
        script = str(REPO / "scripts" / "gateway.sh")
        try:
            p = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=HANG_BOUND)
            assert p.returncode == 0, f"scripts/gateway.sh start failed:\n{p.stderr[-3000:]}"
            exports = dict(re.findall(r"^export ([A-Z0-9_]+)=(.*)$", p.stdout, re.M))
            # The ids the gateway forwards for each of its model names (every box serves them all).
            config = yaml.safe_load((Path(env["LEX_GATEWAY_STATE"]) / "litellm.yaml").read_text())
            forwards = {e["model_name"]: e["litellm_params"]["model"].removeprefix("openai/")
                        for e in config["model_list"]}
            boxes = {}
            for name in ("box1", "box2"):
                up = name.upper()
                boxes[name] = Box(url=exports[f"LEX_{up}_URL"], log=Path(exports[f"LEX_{up}_LOG"]),
                                  pid=int(exports[f"LEX_{up}_PID"]),
                                  quality=forwards[exports["LOCAL_LLM_MODEL_QUALITY"]],
                                  fast=forwards[exports["LOCAL_LLM_MODEL_FAST"]])
            yield Gateway(url=exports["LOCAL_LLM_BASE_URL"], key=exports["LOCAL_LLM_API_KEY"],
                          quality=exports["LOCAL_LLM_MODEL_QUALITY"], fast=exports["LOCAL_LLM_MODEL_FAST"],
                          log=Path(exports["LEX_GATEWAY_LOG"]), boxes=boxes, upstream=upstream)
        finally:
            subprocess.run(["bash", script, "stop"], env=env, capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=HANG_BOUND)


@pytest.fixture(scope="module")
def gw_home(tmp_path_factory) -> Path:
    """This module's own LOCAL_EXECUTOR_HOME: its calls stay out of the suite's usage ledger."""
    return tmp_path_factory.mktemp("lex-home-gateway")


@pytest.fixture(scope="module")
def gw_env(gateway: Gateway, gw_home: Path, tmp_path_factory) -> dict[str, str]:
    """The README's team setup: the gateway's URL, its master key, its model names."""
    return {
        "LOCAL_LLM_BASE_URL": gateway.url,
        "LOCAL_LLM_API_KEY": gateway.key,
        "LOCAL_LLM_MODEL_QUALITY": gateway.quality,
        "LOCAL_LLM_MODEL_FAST": gateway.fast,
        "LOCAL_LLM_TEMPERATURE": os.environ.get("LOCAL_LLM_TEMPERATURE", "0"),
        "LOCAL_EXECUTOR_HOME": str(gw_home),
        "LOCAL_EXECUTOR_WORKSPACE": str(tmp_path_factory.mktemp("workspace-gateway")),
    }


@pytest.fixture
def errlog(tmp_path):
    with open(tmp_path / "server.stderr", "w+", encoding="utf-8") as f:
        yield f


def call(binary, env, errlog, name, args=None):
    async def main():
        async with mcp_session(binary, env, CLIENT, errlog) as s:
            return await s.call_tool(name, args or {})

    return anyio.run(main)


def last_usage(gw_home: Path) -> dict:
    lines = usage_lines(gw_home / "usage.jsonl")
    assert lines, "no usage line"
    return lines[-1]


def raw_post(base_url: str, body: dict, key: str | None = None) -> tuple[int, dict[str, str], bytes, int]:
    """One request straight to a server; the status, headers, body and the local port it used
    (which names it in a llama.cpp server's access log)."""
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=HANG_BOUND)
    conn.connect()
    port = conn.sock.getsockname()[1]
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn.request("POST", f"{u.path}/chat/completions", json.dumps(body), headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, port


def sse_payloads(data: bytes) -> list[dict]:
    return [json.loads(line[5:]) for line in data.decode().splitlines()
            if line.startswith("data:") and line.strip() != "data: [DONE]"]


def doctor(binary, env, tmp_path, **overrides) -> tuple[int, str]:
    p = run([str(binary), "doctor"], full_env({**env, "LOCAL_EXECUTOR_HOME": str(tmp_path / "home"), **overrides}))
    return p.returncode, p.stdout + p.stderr


# --- the basics ----------------------------------------------------------------------------------


def test_gateway_lists_its_model_names_with_tiers(binary, gw_env, gateway, errlog):
    result = call(binary, gw_env, errlog, "list_local_models")
    text = result_text(result)
    assert not result.is_error, text
    for model, tier in ((gateway.quality, "quality"), (gateway.fast, "fast")):
        assert any(line.startswith(f"{model} ") and f"tier={tier}" in line for line in text.splitlines()), text


def test_delegation_through_the_gateway_counts_the_tokens_it_reports(binary, gw_env, gateway, gw_home, errlog):
    # The gateway ends a stream with a usage chunk, asked for or not (always_include_stream_usage),
    # although the boxes behind it send none.
    for extra in ({"stream_options": {"include_usage": True}}, {}):
        status, _, data, _ = raw_post(gateway.url, {
            "model": gateway.quality, "stream": True, "max_tokens": 4,
            "messages": [{"role": "user", "content": "Say hi."}], **extra}, gateway.key)
        assert status == 200, data[:500]
        usage = [p["usage"] for p in sse_payloads(data) if p.get("usage")]
        assert usage and usage[-1]["completion_tokens"] > 0, data[-800:]

    result = call(binary, gw_env, errlog, "delegate_code", {"task": PYTHON_TASK, "language": "python"})
    text = result_text(result)
    assert not result.is_error, text
    artifact, footer = split_footer(text)
    assert footer["estimated"] == "", f"the footer shows an estimate although the gateway sent usage: {text}"
    assert_clean_python(artifact)
    assert_python_works(artifact, ADD_WORKS)
    line = last_usage(gw_home)
    assert line["ok"] and line["model"] == gateway.quality, line
    assert line["usage_estimated"] is False, line
    assert line["completion_tokens"] == int(footer["tokens"]) and line["prompt_tokens"] > 0, line


def test_doctor_passes_against_the_gateway(binary, gw_env, gateway, tmp_path):
    code, out = doctor(binary, gw_env, tmp_path)
    assert code == 0, out
    assert "✘" not in out, out
    assert f"✔ quality model {gateway.quality} is served" in out, out
    assert "✔ test generation on quality" in out and "✔ test generation on fast" in out, out
    assert gateway.key not in out, "doctor printed the key"


# --- Esc through the gateway ---------------------------------------------------------------------


def test_cancelled_call_stops_the_box_behind_the_gateway(binary, gw_env, gateway, gw_home, errlog):
    """No clock: the box runs one generation at a time and queues the next request
    (interrupt_requests false), so a request sent straight to it is answered only once the
    cancelled generation has ended. The rambling model is asked for 2,000 tokens and the call is
    cancelled at its first progress with tokens. Then the box that ran it logged that its client
    (the gateway) went away — a generation that runs to its end logs no such line — before it
    answered the next request; and the call's usage line says `cancelled`."""
    max_tokens = 2000
    starts = {name: len(b.log_text()) for name, b in gateway.boxes.items()}

    async def main():
        async with mcp_session(binary, gw_env, CLIENT, errlog) as s:
            with anyio.CancelScope() as scope:

                async def on_progress(progress, total, message):
                    m = TOKENS_RE.search(message or "")
                    if m and int(m[1]) > 0 and not scope.cancel_called:
                        scope.cancel()  # the SDK sends notifications/cancelled

                result = await s.call_tool(
                    "delegate_code", {"task": LONG_TASK, "tier": "fast", "max_tokens": max_tokens},
                    progress_callback=on_progress)
                pytest.fail(f"the call ended before it was cancelled: {result_text(result)[:300]}")
            assert scope.cancel_called

    anyio.run(main)
    ran = [name for name, b in gateway.boxes.items() if POST_RE.search(b.log_text()[starts[name]:])]
    assert len(ran) == 1, f"the cancelled call should have run on one box: {ran}"
    box = gateway.boxes[ran[0]]
    status, _, data, port = raw_post(box.url, {"model": box.fast, "max_tokens": 4,
                                               "messages": [{"role": "user", "content": "Say hi."}]})
    assert status == 200, data[:300]
    log = box.log_text()[starts[ran[0]]:]
    dropped = list(DISCONNECT_RE.finditer(log))
    assert len(dropped) == 1, f"the box did not drop the cancelled generation:\n{log[-3000:]}"
    answered = re.search(rf'127\.0\.0\.1:{port} - "POST /v1/chat/completions HTTP/1\.1" 200', log)
    assert answered and dropped[0].start() < answered.start(), log[-3000:]
    cancelled = [u for u in usage_lines(gw_home / "usage.jsonl") if u.get("reason") == "cancelled"]
    assert cancelled and cancelled[-1]["completion_tokens"] < max_tokens, cancelled


# --- several calls at once -----------------------------------------------------------------------


async def _two_at_once(binary, env, errlog, max_tokens, on_both_running=None, cancel_survivor=False):
    """Call A; once A reports generated tokens, call B (least-busy routing sends it to the idle
    box); once both report tokens, `on_both_running()`. Returns the two results (None for a call
    cancelled on purpose)."""
    results: dict[str, object] = {}
    running = {"A": anyio.Event(), "B": anyio.Event()}
    scopes: dict[str, anyio.CancelScope] = {}

    async with mcp_session(binary, env, CLIENT, errlog) as s:

        async def one(name):
            async def on_progress(progress, total, message):
                m = TOKENS_RE.search(message or "")
                if m and int(m[1]) > 0:
                    running[name].set()

            with anyio.CancelScope() as scopes[name]:
                results[name] = await s.call_tool(
                    "delegate_code", {"task": LONG_TASK, "tier": "fast", "max_tokens": max_tokens},
                    progress_callback=on_progress)
            running[name].set()
            results.setdefault(name, None)
            if cancel_survivor:
                for other, sc in scopes.items():
                    if other != name and other not in results:
                        sc.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "A")
            await running["A"].wait()
            tg.start_soon(one, "B")
            await running["B"].wait()
            if on_both_running:
                on_both_running()
    return results


def test_calls_at_once_spread_over_both_boxes(binary, gw_env, gateway, errlog):
    starts = {name: len(b.log_text()) for name, b in gateway.boxes.items()}
    results = anyio.run(_two_at_once, binary, gw_env, errlog, 150)
    for name, r in results.items():
        text = result_text(r)
        m = FAILED_RE.match(text)
        # The rambling model writes until max_tokens: a whole generation ends `truncated`.
        assert not r.is_error or (m and m["reason"] == "truncated"), f"{name}: {text[:300]}"
    for name, b in gateway.boxes.items():
        assert POST_RE.search(b.log_text()[starts[name]:]), f"{name} got no request:\n{b.log_text()[-2000:]}"


# --- bad input -----------------------------------------------------------------------------------


def test_wrong_key_fails_and_doctor_names_the_key(binary, gw_env, gateway, gw_home, errlog, tmp_path):
    wrong = "sk-not-the-master-key"
    env = {**gw_env, "LOCAL_LLM_API_KEY": wrong}
    result = call(binary, env, errlog, "delegate_code", {"task": PYTHON_TASK})
    text = result_text(result)
    m = FAILED_RE.match(text)
    assert result.is_error and m and m["reason"] == "http_error", text
    # LiteLLM without a database answers a key it does not know with a 400, not a 401.
    assert "HTTP 400" in text and "No connected db" in text, text
    assert wrong not in text
    assert last_usage(gw_home)["reason"] == "http_error"
    code, out = doctor(binary, env, tmp_path)
    assert code == 1, out
    assert "answered HTTP 400: No connected db." in out, out
    assert "fix: the backend refuses LOCAL_LLM_API_KEY: check its value" in out, out
    assert wrong not in out, "doctor printed the key"


def test_model_the_gateway_does_not_route_is_model_missing(binary, gw_env, gateway, gw_home, errlog, tmp_path):
    typo = gateway.quality + "r"
    env = {**gw_env, "LOCAL_LLM_MODEL_QUALITY": typo}
    result = call(binary, env, errlog, "delegate_code", {"task": PYTHON_TASK})
    text = result_text(result)
    m = FAILED_RE.match(text)
    assert result.is_error and m and m["reason"] == "model_missing", text
    assert gateway.quality in text, "the failure names the models the gateway routes"
    assert last_usage(gw_home)["reason"] == "model_missing"
    code, out = doctor(binary, env, tmp_path)
    assert code == 1, out
    assert f"fix: set LOCAL_LLM_MODEL_QUALITY={gateway.quality}" in out, out


def test_rate_limited_model_is_retried_then_fails_with_the_429(binary, gw_env, gateway, gw_home, errlog, tmp_path):
    """The scripted box answers 429 with Retry-After: 1. LiteLLM passes the 429 on (the box's
    header only as llm_provider-retry-after), cools the box down for that second, and meanwhile
    answers 429 with its own Retry-After."""
    model = f"team-{BUSY}"
    seen = []
    for _ in range(5):
        status, headers, data, _ = raw_post(gateway.url, {"model": model, "stream": True, "max_tokens": 4,
                                                          "messages": [{"role": "user", "content": "hi"}]}, gateway.key)
        seen.append((status, headers.get("retry-after")))
        if headers.get("retry-after"):
            break
    assert all(s == 429 for s, _ in seen) and seen[-1][1], f"no 429 with Retry-After from the gateway: {seen}"

    env = {**gw_env, "LOCAL_LLM_MODEL_QUALITY": model}
    result = call(binary, env, errlog, "delegate_code", {"task": PYTHON_TASK})
    text = result_text(result)
    m = FAILED_RE.match(text)
    assert result.is_error and m and m["reason"] == "http_error", text
    assert "HTTP 429" in text, text
    line = last_usage(gw_home)
    assert line["reason"] == "http_error" and line["attempts"] > 1, f"a 429 is worth retrying: {line}"
    code, out = doctor(binary, env, tmp_path)
    assert code == 1, out
    assert "HTTP 429" in out and "fix: the backend, or a gateway in front of it, is rate-limiting" in out, out


def test_upstream_500_is_passed_through(binary, gw_env, gateway, gw_home, errlog, tmp_path):
    env = {**gw_env, "LOCAL_LLM_MODEL_QUALITY": f"team-{BOOM}"}
    before = gateway.upstream.answered[BOOM]
    result = call(binary, env, errlog, "delegate_code", {"task": PYTHON_TASK})
    text = result_text(result)
    m = FAILED_RE.match(text)
    assert result.is_error and m and m["reason"] == "http_error", text
    assert "HTTP 500" in text and BOOM_MESSAGE in text, text
    assert gateway.upstream.answered[BOOM] > before
    assert last_usage(gw_home)["reason"] == "http_error"
    code, out = doctor(binary, env, tmp_path)
    assert code == 1, out
    assert BOOM_MESSAGE in out and "fix: check the backend's log for this request" in out, out


# --- a box dies (last: it leaves box2 dead) ------------------------------------------------------


def test_zz_killed_box_fails_its_call_and_the_next_calls_succeed(binary, gw_env, gateway, gw_home, errlog):
    """Two long generations, one per box; box2 is killed while both run. The call on box2 ends
    with the gateway's error (http_error) and its usage line; the other is then cancelled to save
    time; the following calls all succeed through box1."""
    killed = gateway.boxes["box2"]
    starts = {name: len(b.log_text()) for name, b in gateway.boxes.items()}
    before = len(usage_lines(gw_home / "usage.jsonl"))

    def kill():
        os.killpg(killed.pid, signal.SIGKILL)

    results = anyio.run(lambda: _two_at_once(binary, gw_env, errlog, 1500, kill, cancel_survivor=True))
    assert POST_RE.search(killed.log_text()[starts["box2"]:]), "no call ran on the killed box"
    failed = [r for r in results.values() if r is not None and r.is_error]
    assert len(failed) == 1, {k: r and result_text(r)[:200] for k, r in results.items()}
    text = result_text(failed[0])
    m = FAILED_RE.match(text)
    assert m and m["reason"] == "http_error", text
    lines = usage_lines(gw_home / "usage.jsonl")[before:]
    reasons = sorted(u.get("reason") or "ok" for u in lines)
    assert "http_error" in reasons and len(lines) == 2, lines
    broken = next(u for u in lines if u.get("reason") == "http_error")
    assert broken["completion_tokens"] > 0, f"the tokens received before the box died: {broken}"

    for _ in range(3):
        result = call(binary, gw_env, errlog, "delegate_code", {"task": PYTHON_TASK, "language": "python"})
        text = result_text(result)
        assert not result.is_error, text
        assert_clean_python(split_footer(text)[0])
        assert_python_works(split_footer(text)[0], ADD_WORKS)
