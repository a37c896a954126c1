"""The MCP Inspector CLI (npm @modelcontextprotocol/inspector) as the client: it lists the tools,
calls delegate_code (exit 0) and exits 5 on a DELEGATION_FAILED result."""

from __future__ import annotations

import json
import os

import pytest

from support import (
    ADD_WORKS,
    FAILED_RE,
    LONG_TASK,
    PYTHON_TASK,
    assert_clean_python,
    assert_python_works,
    npm_tool,
    run,
    split_footer,
)

CLIENT = "inspector-cli"  # the clientInfo name the Inspector CLI sends


@pytest.fixture(scope="module")
def inspector(binary, server_env, tmp_path_factory):
    tool = npm_tool("mcp-inspector")
    home = tmp_path_factory.mktemp("inspector-home")  # its catalog file goes there, not into ~

    def invoke(*args: str):
        env_args = [a for k, v in server_env.items() for a in ("-e", f"{k}={v}")]
        cmd = [str(tool), "--cli", *env_args, str(binary), *args]
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "MCP_CATALOG_PATH": str(home / "mcp.json")}
        return run(cmd, env)

    return invoke


def _json(stdout: str):
    """The JSON document the Inspector prints on stdout (its error summary goes to stderr)."""
    start = stdout.find("{")
    assert start >= 0, stdout
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


def test_inspector_lists_the_tools(inspector):
    p = inspector("--method", "tools/list")
    assert p.returncode == 0, p.stdout + p.stderr
    tools = {t["name"]: t for t in _json(p.stdout)["tools"]}
    # The README's set-up turns writing on, which serves delegate_files.
    assert set(tools) == {"delegate_code", "delegate_files", "list_local_models"}
    assert tools["delegate_code"]["annotations"]["readOnlyHint"] is True
    assert tools["delegate_files"]["annotations"]["readOnlyHint"] is False


def test_inspector_calls_delegate_code(inspector, ledger):
    p = inspector(
        "--method", "tools/call", "--tool-name", "delegate_code",
        "--tool-arg", f"task={PYTHON_TASK}", "--tool-arg", "language=python",
    )
    result = _json(p.stdout)
    text = "".join(c.get("text", "") for c in result.get("content", []))
    m = FAILED_RE.match(text)
    ledger.expect("delegate_code", not result.get("isError", False), m["reason"] if m else None, CLIENT)
    assert p.returncode == 0, p.stdout + p.stderr
    artifact, _ = split_footer(text)
    assert_clean_python(artifact)
    assert_python_works(artifact, ADD_WORKS)


def test_inspector_exits_5_on_delegation_failed(inspector, ledger):
    p = inspector(
        "--method", "tools/call", "--tool-name", "delegate_code",
        "--tool-arg", f"task={LONG_TASK}", "--tool-arg", "tier=fast", "--tool-arg", "max_tokens=32",
    )
    result = _json(p.stdout)
    text = "".join(c.get("text", "") for c in result.get("content", []))
    m = FAILED_RE.match(text)
    ledger.expect("delegate_code", not result.get("isError", False), m["reason"] if m else "?", CLIENT)
    assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)
    assert result.get("isError") is True
    assert m and m["reason"] == "truncated", text
