"""The official Python SDK (`mcp`: ClientSession over stdio_client) against the release binary and
the real backend: listing, a real delegation, a truncated one, progress and cancellation."""

from __future__ import annotations

import http.client
import json
import re
from urllib.parse import urlsplit

import anyio
import pytest

from support import (
    FAILED_RE,
    LONG_TASK,
    ADD_WORKS,
    PYTHON_TASK,
    assert_clean_python,
    assert_python_works,
    mcp_session,
    result_text,
    split_footer,
    usage_lines,
)

CLIENT = "e2e-python-sdk"
TOKENS_RE = re.compile(r"\b(\d+) tokens\b")
# What llama-cpp-python's server prints when it drops a generation because the client went away
# (llama_cpp/server/app.py, get_event_publisher). A generation that runs to its end prints nothing.
DISCONNECT_MARK = "Disconnected from client"


@pytest.fixture
def errlog(tmp_path):
    with open(tmp_path / "server.stderr", "w+", encoding="utf-8") as f:
        yield f


def call(binary, server_env, errlog, name, args=None, progress=None):
    async def main():
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:
            return await s.call_tool(name, args or {}, progress_callback=progress)

    return anyio.run(main)


def test_tools_list_has_both_tools(binary, server_env, errlog):
    async def main():
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:
            return await s.list_tools()

    tools = {t.name: t for t in anyio.run(main).tools}
    # The README's set-up turns writing on, which serves delegate_files too.
    assert set(tools) == {"delegate_code", "delegate_files", "list_local_models"}
    assert "task" in tools["delegate_code"].input_schema.get("required", [])


def test_list_local_models_lists_both_aliases_with_tiers(binary, server_env, backend, errlog, ledger):
    result = call(binary, server_env, errlog, "list_local_models")
    ledger.expect_result("list_local_models", result, CLIENT)
    text = result_text(result)
    assert not result.is_error, text
    lines = text.splitlines()
    for alias, tier in ((backend.quality, "quality"), (backend.fast, "fast")):
        mine = [line for line in lines if alias in line]
        assert mine, f"{alias} is not listed:\n{text}"
        assert any(re.search(rf"\b{tier}\b", line) for line in mine), f"{alias} is not shown as {tier}:\n{text}"


def test_delegate_code_returns_clean_python_that_works(binary, server_env, backend, errlog, ledger):
    result = call(
        binary, server_env, errlog, "delegate_code", {"task": PYTHON_TASK, "language": "python"}
    )
    text = result_text(result)
    ledger.expect_result("delegate_code", result, CLIENT)
    assert not result.is_error, text
    artifact, footer = split_footer(text)
    assert footer["tier"] == "quality" and footer["checks"].startswith("checked: python syntax"), text
    assert int(footer["tokens"]) > 0
    assert_clean_python(artifact)
    assert_python_works(artifact, ADD_WORKS)


def test_rambling_model_is_truncated_under_small_max_tokens(binary, server_env, errlog, ledger):
    result = call(
        binary, server_env, errlog, "delegate_code", {"task": LONG_TASK, "tier": "fast", "max_tokens": 48}
    )
    text = result_text(result)
    m = FAILED_RE.match(text)
    ledger.expect_result("delegate_code", result, CLIENT)
    assert result.is_error, text
    assert m and m["reason"] == "truncated", text
    assert "Do this task yourself." in text
    assert len(text) < 600, "a failure stays a few hundred characters"


def test_progress_notifications_reach_the_sdk_client(binary, server_env, errlog, ledger):
    """A real generation of a few hundred tokens: the SDK sends a progressToken with the call and
    gets notifications/progress while the model writes, before the result."""
    seen: list[tuple[float, str | None]] = []
    before_result: list[int] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async def main():
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:
            result = await s.call_tool(
                "delegate_code",
                {"task": LONG_TASK, "tier": "fast", "max_tokens": 200},
                progress_callback=on_progress,
            )
            before_result.append(len(seen))
            return result

    result = anyio.run(main)
    text = result_text(result)
    ledger.expect_result("delegate_code", result, CLIENT)
    assert before_result[0] >= 1, f"no progress notification before the result ({text[:200]!r})"
    values = [p for p, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values), f"progress must increase: {values}"
    messages = [msg or "" for _, msg in seen]
    assert any(TOKENS_RE.search(msg) or "waiting for" in msg for msg in messages), messages


def _raw_completion(base_url: str, model: str) -> tuple[int, dict]:
    """One non-streaming request straight to the backend. Returns the local port it used, which
    names it in the server's access log, and the answer. The server logs a non-streaming request
    only after it has generated the answer, i.e. after it got the model lock."""
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4})
    conn.connect()
    port = conn.sock.getsockname()[1]
    conn.request("POST", f"{u.path}/chat/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    assert resp.status == 200, answer
    return port, answer


def test_cancelled_call_stops_the_model_server(binary, server_env, backend, errlog, ledger, usage_file):
    """Structural, no clock. The backend runs one generation at a time and, as configured by
    scripts/backend.sh (interrupt_requests false), never cuts a running generation short for a new
    request: a request is answered only after the generation before it has ended. The cancelled
    call asks the rambling model for 2,000 tokens (it writes until max_tokens, see the truncated
    test) and is cancelled as soon as progress reports generated tokens. Then:
    - the server log says it dropped a generation because its client went away (a generation
      that runs to its end logs no such line), and names the connection: the cancelled call's
      stream, logged as started before the drop;
    - a request sent straight to the backend afterwards is answered, and logged after the drop;
    - the cancelled call's usage line says `cancelled`, with fewer than 2,000 tokens."""
    max_tokens = 2000
    log_start = len(backend.log_text())
    progress_at_cancel: list[str] = []

    async def main():
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:
            with anyio.CancelScope() as scope:

                async def on_progress(progress, total, message):
                    m = TOKENS_RE.search(message or "")
                    if m and int(m[1]) > 0 and not scope.cancel_called:
                        progress_at_cancel.append(message)
                        scope.cancel()  # the SDK sends notifications/cancelled for the call

                result = await s.call_tool(
                    "delegate_code",
                    {"task": LONG_TASK, "tier": "fast", "max_tokens": max_tokens},
                    progress_callback=on_progress,
                )
                pytest.fail(f"the call ended before it was cancelled: {result_text(result)[:300]}")
            assert scope.cancel_called
            ledger.expect("delegate_code", False, "cancelled", CLIENT)
            # The next request: straight to the backend, on the same model.
            port, answer = await anyio.to_thread.run_sync(_raw_completion, backend.base_url, backend.fast)
            assert answer["choices"][0]["message"]["content"] is not None
            # And the MCP session is still fine for the next call.
            result = await s.call_tool("list_local_models", {})
            ledger.expect_result("list_local_models", result, CLIENT)
            assert not result.is_error, result_text(result)
            return port

    port = anyio.run(main)
    assert progress_at_cancel, "no progress with generated tokens arrived"
    log = backend.log_text()[log_start:]
    dropped = list(re.finditer(rf"{DISCONNECT_MARK} .*port=(\d+)\)", log))
    assert len(dropped) == 1, f"the server did not drop the cancelled generation:\n{log[-3000:]}"
    # The dropped one is the cancelled call's stream: its request was logged (a stream is logged
    # when its response starts) before the drop, from a port that is not the next request's.
    cancelled_port = int(dropped[0][1])
    assert cancelled_port != port
    started = re.search(rf"127\.0\.0\.1:{cancelled_port} - \"POST /v1/chat/completions HTTP/1\.1\" 200", log)
    assert started and started.start() < dropped[0].start(), log[-3000:]
    # The next request (not streamed: logged once answered) was answered after the drop.
    answered = re.search(rf"127\.0\.0\.1:{port} - \"POST /v1/chat/completions HTTP/1\.1\" 200", log)
    assert answered, f"the next request (port {port}) is not in the server log:\n{log[-3000:]}"
    assert dropped[0].start() < answered.start()
    # The session is closed and its server process gone: its usage lines are all written.
    cancelled = [u for u in usage_lines(usage_file) if u.get("reason") == "cancelled"]
    assert cancelled, "the cancelled call left no usage line"
    assert cancelled[-1]["ok"] is False and cancelled[-1]["completion_tokens"] < max_tokens, cancelled[-1]


def test_concurrent_servers_share_usage_file(binary, server_env, errlog, ledger):
    """Several server processes (one per open editor) append to one usage.jsonl at once."""
    sessions, calls = 6, 4

    async def one(i: int):
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:
            for _ in range(calls):
                r = await s.call_tool("list_local_models", {})
                assert not r.is_error, result_text(r)

    async def main():
        async with anyio.create_task_group() as tg:
            for i in range(sessions):
                tg.start_soon(one, i)

    anyio.run(main)
    for _ in range(sessions * calls):
        ledger.expect("list_local_models", True, None, CLIENT)
