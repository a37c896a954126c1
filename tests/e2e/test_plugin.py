"""The Claude Code plugin in this repository, through Claude Code's own CLI with HOME in a temp dir:
the repository adds as a marketplace, the plugin installs from it, `claude plugin details` lists
its skill and its MCP server, and a session started against a scripted Anthropic API on loopback
carries the skill, the server's instructions and its tools in its first request."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support import REPO, full_env, npm_tool, run

MARKETPLACE = "local-executor-mcp"
PLUGIN = "local-executor"
PLUGIN_ID = f"{PLUGIN}@{MARKETPLACE}"
SKILL = "delegate-to-local-model"
# Claude Code names a plugin's MCP server `plugin:<plugin>:<server>` and its tools
# `mcp__plugin_<plugin>_<server>__<tool>`.
TOOL = f"mcp__plugin_{PLUGIN}_{PLUGIN}__delegate_code"


def claude_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = full_env(extra or {})
    for key in [k for k in env if k.startswith(("CLAUDE", "ANTHROPIC"))]:
        del env[key]  # this run's own Claude Code settings, if any, must not leak in
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    return env


@pytest.fixture(scope="module")
def claude() -> str:
    return str(npm_tool("claude"))


@pytest.fixture(scope="module")
def installed(claude, tmp_path_factory) -> dict:
    """A HOME where the repository was added as a marketplace and the plugin installed from it;
    the outputs of both commands, for the tests to check."""
    home = tmp_path_factory.mktemp("plugin-home")
    project = tmp_path_factory.mktemp("plugin-project")
    env = claude_env(home)
    added = run([claude, "plugin", "marketplace", "add", str(REPO)], env, cwd=project)
    install = run([claude, "plugin", "install", PLUGIN_ID], env, cwd=project)
    return {"home": home, "project": project, "added": added, "install": install}


def test_marketplace_adds_and_the_plugin_installs(claude, installed):
    added, install = installed["added"], installed["install"]
    assert added.returncode == 0, added.stdout + added.stderr
    assert f"Successfully added marketplace: {MARKETPLACE}" in added.stdout + added.stderr
    assert install.returncode == 0, install.stdout + install.stderr
    assert f"Successfully installed plugin: {PLUGIN_ID}" in install.stdout + install.stderr
    p = run([claude, "plugin", "list"], claude_env(installed["home"]), cwd=installed["project"])
    out = p.stdout + p.stderr
    assert PLUGIN_ID in out and "enabled" in out, out


def test_plugin_details_lists_the_skill_and_the_server(claude, installed):
    p = run([claude, "plugin", "details", PLUGIN_ID], claude_env(installed["home"]), cwd=installed["project"])
    out = p.stdout + p.stderr
    print(out)  # shown with -s; the README quotes it
    assert p.returncode == 0, out
    lines = [line.split() for line in out.splitlines()]
    assert ["Skills", "(1)", SKILL] in lines, out
    assert any(words[:4] == ["MCP", "servers", "(1)", PLUGIN] for words in lines), out


def test_the_manifests_pass_claude_codes_strict_validation(claude, tmp_path):
    p = run([claude, "plugin", "validate", "--strict", str(REPO)], claude_env(tmp_path), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Validation passed" in p.stdout + p.stderr


class ScriptedApi:
    """An Anthropic Messages API on 127.0.0.1 that answers every message with a short text (streamed
    when asked) and records each request body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict | None]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                api.requests.append((self.path, body))
                if not self.path.startswith("/v1/messages"):
                    self.send_response(404)
                    self.end_headers()
                    return
                if "count_tokens" in self.path:
                    return self._json({"input_tokens": 10})
                msg = {
                    "id": "msg_scripted",
                    "type": "message",
                    "role": "assistant",
                    "model": (body or {}).get("model", "scripted"),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                }
                if not (body or {}).get("stream"):
                    msg.update(content=[{"type": "text", "text": "hello back"}], stop_reason="end_turn")
                    return self._json(msg)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for event, data in [
                    ("message_start", {"type": "message_start", "message": msg}),
                    ("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": "hello back"}}),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                       "usage": {"output_tokens": 2}}),
                    ("message_stop", {"type": "message_stop"}),
                ]:
                    self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def do_GET(self) -> None:
                api.requests.append((self.path, None))
                self.send_response(404)
                self.end_headers()

            def _json(self, value: dict) -> None:
                out = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def messages(self) -> list[dict]:
        return [b for p, b in self.requests if p.startswith("/v1/messages") and "count_tokens" not in p and b]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted_api():
    api = ScriptedApi()
    yield api
    api.close()


@pytest.mark.parametrize("tool_search", ["default", "off"])
def test_a_session_carries_the_skill_and_the_servers_tools_in_its_first_request(
    claude, installed, binary, server_env, scripted_api, tool_search
):
    """By default Claude Code lists MCP tools by name and loads their schemas on demand (tool
    search); with ENABLE_TOOL_SEARCH=false it sends every tool's schema up front. Either way the
    plugin's server must be there from the first request: it answers in milliseconds."""
    # The plugin runs `local-executor-mcp` from PATH and takes the backend from ${VAR:-default}
    # expansions of this environment.
    env = claude_env(installed["home"], {**server_env, "PATH": f"{binary.parent}{os.pathsep}{os.environ['PATH']}"})
    env.update(ANTHROPIC_BASE_URL=scripted_api.url, ANTHROPIC_API_KEY="sk-ant-scripted")
    if tool_search == "off":
        env["ENABLE_TOOL_SEARCH"] = "false"
    p = run([claude, "-p", "hello"], env, cwd=installed["project"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "hello back" in p.stdout, p.stdout + p.stderr

    messages = scripted_api.messages()
    assert messages, f"no request reached the scripted API: {scripted_api.requests}"
    first = messages[0]
    text = json.dumps(first)
    # The skill, by its namespaced name and its description.
    assert f"{PLUGIN}:{SKILL}" in text, text[:3000]
    assert "delegate_files" in text
    # The server's instructions, under the plugin's server name.
    assert f"## plugin:{PLUGIN}:{PLUGIN}" in text
    assert "DELEGATION_FAILED" in text
    # The server's tools.
    tools = {t.get("name"): t for t in first.get("tools", [])}
    if tool_search == "off":
        assert TOOL in tools, sorted(tools)
        assert "context_files" in json.dumps(tools[TOOL]["input_schema"])
    else:
        assert TOOL in text, sorted(tools)
