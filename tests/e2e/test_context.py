"""The model's window on the real backend (llama-cpp-python, n_ctx 4096, which says nothing of its
window: the default and LOCAL_LLM_CONTEXT_QUALITY are what the server knows): a context file larger
than the window is outlined or refused, never sent to fail at the backend; an answer cut by a small
max_tokens is continued."""

from __future__ import annotations

import ast
import os

import anyio

from support import FAILED_RE, PYTHON_TASK, mcp_session, result_text, split_footer

CLIENT = "e2e-context"


def call(binary, env, errlog, args):
    async def main():
        async with mcp_session(binary, env, CLIENT, errlog) as s:
            return await s.call_tool("delegate_code", args)

    return anyio.run(main)


def big_module(functions: int) -> str:
    out = ["import math", ""]
    for i in range(functions):
        out.append(f"def helper_{i}(x: float) -> float:")
        out.append(f'    """Scales x by step {i}."""')
        out.extend(f"    x = x * {j} + math.sqrt({i} + {j})" for j in range(12))
        out.append("    return x")
        out.append("")
    return "\n".join(out) + "\n"


def test_a_context_file_larger_than_the_window_is_outlined_or_refused(binary, server_env, tmp_path, ledger):
    env = {**server_env, "LOCAL_LLM_CONTEXT_QUALITY": os.environ.get("LEX_N_CTX", "4096")}
    workspace = env["LOCAL_EXECUTOR_WORKSPACE"]
    with open(os.path.join(workspace, "big_helpers.py"), "w", encoding="utf-8") as f:
        f.write(big_module(120))
    with open(tmp_path / "server.stderr", "w+", encoding="utf-8") as errlog:
        result = call(
            binary,
            env,
            errlog,
            {"task": PYTHON_TASK, "language": "python", "context_files": ["big_helpers.py"]},
        )
    ledger.expect_result("delegate_code", result, CLIENT)
    text = result_text(result)
    if result.is_error:
        m = FAILED_RE.match(text)
        assert m and m["reason"] == "context_too_large", text
    else:
        split_footer(text)


def test_a_small_max_tokens_is_continued(binary, server_env, tmp_path, ledger):
    with open(tmp_path / "server.stderr", "w+", encoding="utf-8") as errlog:
        result = call(
            binary,
            server_env,
            errlog,
            {"task": PYTHON_TASK, "language": "python", "max_tokens": 8},
        )
    ledger.expect_result("delegate_code", result, CLIENT)
    text = result_text(result)
    if result.is_error:
        # The small model may not finish even when continued; it must have been tried.
        m = FAILED_RE.match(text)
        assert m and m["reason"] in ("truncated", "invalid_output"), text
        assert m["reason"] != "truncated" or "continued" in text, text
    else:
        artifact, footer = split_footer(text)
        assert footer["continued"], text
        ast.parse(artifact)
