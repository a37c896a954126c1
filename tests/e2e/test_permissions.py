"""Claude Code's permission for the server's tools, as `init` grants it: Claude Code's own CLI,
headless (`claude -p`), in a project that `local-executor-mcp init` set up, with HOME in a temp dir
that marks the project trusted (`hasTrustDialogAccepted` in `$HOME/.claude.json`), against two
scripted APIs on loopback: an Anthropic Messages API that asks for one `delegate_files` call, and
an OpenAI-compatible backend that answers it with a fixed function. No `--allowedTools`: the rule
`init` wrote in `.claude/settings.json` is what lets the call run and the file land. With
`init --no-write-permission` the rule is left out, and Claude Code refuses the call with its
permission message; in a folder not yet trusted it ignores the rule and refuses the same way. The backend is scripted rather than the suite's model so that what lands is
known byte for byte; the real model is tested in test_files.py."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support import full_env, npm_tool, run

TOOL = "mcp__local-executor__delegate_files"
MODEL = "scripted-coder"
CODE = "def add(a, b):\n    return a + b\n"
DENIED = f"Claude requested permissions to use {TOOL}, but you haven't granted it yet."
CALL = {"files": [{"path": "add.py", "task": "A function add(a, b) that returns a + b."}]}


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _sse(handler: BaseHTTPRequestHandler, events: list[tuple[str | None, dict | str]]) -> None:
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.end_headers()
    for event, data in events:
        body = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {event}\n" if event else ""
        handler.wfile.write(f"{head}data: {body}\n\n".encode())
    handler.wfile.flush()


def _json(handler: BaseHTTPRequestHandler, value: dict, status: int = 200) -> None:
    out = json.dumps(value).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(out)))
    handler.end_headers()
    handler.wfile.write(out)


class ScriptedClaude(_Server):
    """The Messages API: a request that offers the tool gets one `tool_use` of it; the request that
    carries its `tool_result` gets a closing text. Every request body is kept."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                _json(self, {"error": "no such route"}, 404)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw or b"{}")
                if not self.path.startswith("/v1/messages"):
                    return _json(self, {"error": "no such route"}, 404)
                if "count_tokens" in self.path:
                    return _json(self, {"input_tokens": 10})
                api.requests.append(body)
                offers_tool = any(t.get("name") == TOOL for t in body.get("tools") or [])
                answered = api.tool_result(body) is not None
                if offers_tool and not answered:
                    block = {"type": "tool_use", "id": "toolu_scripted_1", "name": TOOL, "input": {}}
                    delta = {"type": "input_json_delta", "partial_json": json.dumps(CALL)}
                    stop = "tool_use"
                else:
                    block = {"type": "text", "text": ""}
                    delta = {"type": "text_delta", "text": "done"}
                    stop = "end_turn"
                msg = {
                    "id": "msg_scripted", "type": "message", "role": "assistant",
                    "model": body.get("model", "scripted"), "content": [], "stop_reason": None,
                    "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1},
                }
                if not body.get("stream"):
                    if stop == "tool_use":
                        msg["content"] = [{**block, "input": CALL}]
                    else:
                        msg["content"] = [{"type": "text", "text": "done"}]
                    msg["stop_reason"] = stop
                    return _json(self, msg)
                _sse(self, [
                    ("message_start", {"type": "message_start", "message": msg}),
                    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
                    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": stop, "stop_sequence": None},
                                       "usage": {"output_tokens": 5}}),
                    ("message_stop", {"type": "message_stop"}),
                ])

        super().__init__(Handler)

    @staticmethod
    def tool_result(body: dict) -> dict | None:
        for message in body.get("messages") or []:
            content = message.get("content")
            if isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        return block
        return None

    def results(self) -> list[dict]:
        return [r for r in map(self.tool_result, self.requests) if r is not None]


class ScriptedBackend(_Server):
    """An OpenAI-compatible backend serving one model that always writes CODE."""

    def __init__(self) -> None:
        self.chats = 0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    return _json(self, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
                _json(self, {"error": {"message": "no such route"}}, 404)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                # The server also asks other kinds of backend for the model's window (Ollama's
                # POST /api/show); only chat requests are generations.
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return _json(self, {"error": {"message": "no such route"}}, 404)
                backend.chats += 1
                chunk = lambda delta, finish=None: {  # noqa: E731 - one line per event below
                    "id": "c", "object": "chat.completion.chunk", "model": MODEL,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                _sse(self, [
                    (None, chunk({"role": "assistant"})),
                    (None, chunk({"content": CODE})),
                    (None, chunk({}, "stop")),
                    (None, "[DONE]"),
                ])

        super().__init__(Handler)


@pytest.fixture(scope="module")
def claude() -> str:
    return str(npm_tool("claude"))


@pytest.fixture
def apis():
    claude_api, backend = ScriptedClaude(), ScriptedBackend()
    yield claude_api, backend
    claude_api.close()
    backend.close()


def _trusted_home(home: Path, project: Path) -> None:
    """A HOME where Claude Code has accepted the project's trust dialog, as it records it."""
    (home / ".claude").mkdir(parents=True)
    (home / ".claude.json").write_text(
        json.dumps({"projects": {str(project.resolve()): {"hasTrustDialogAccepted": True}}})
    )


def _session(claude: str, binary: Path, tmp_path: Path, apis, init_args: list[str], trusted: bool = True):
    claude_api, backend = apis
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    (project / ".git").mkdir()
    if trusted:
        _trusted_home(home, project)
    else:
        (home / ".claude").mkdir(parents=True)
    lex_home = tmp_path / "lex-home"
    base = full_env({})
    for key in [k for k in base if k.startswith(("CLAUDE", "ANTHROPIC", "LOCAL_LLM", "LOCAL_EXECUTOR"))]:
        del base[key]  # this run's own settings, if any, must not leak in
    base.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PATH=f"{binary.parent}{os.pathsep}{os.environ['PATH']}",
        LOCAL_LLM_BASE_URL=f"{backend.url}/v1",
        LOCAL_EXECUTOR_HOME=str(lex_home),
    )
    p = run([str(binary), "init", *init_args, str(project)], base, cwd=project)
    assert p.returncode == 0, p.stdout + p.stderr
    env = dict(
        base,
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        # Every tool's schema in the first request, so the scripted model can call it at once.
        ENABLE_TOOL_SEARCH="false",
        ANTHROPIC_BASE_URL=claude_api.url,
        ANTHROPIC_API_KEY="sk-ant-scripted",
    )
    # No --allowedTools and no --permission-mode: only the project's settings decide.
    p = run([claude, "-p", "Write add.py with the local model."], env, cwd=project)
    return project, p


def test_after_init_delegate_files_runs_without_a_prompt_and_the_file_lands(claude, binary, tmp_path, apis):
    project, p = _session(claude, binary, tmp_path, apis, [])
    claude_api, backend = apis
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert TOOL in settings["permissions"]["allow"], settings
    results = claude_api.results()
    assert results, f"Claude Code never sent the tool's result:\n{out}\n{claude_api.requests[:1]}"
    text = json.dumps(results[0])
    assert DENIED not in text, text
    assert not results[0].get("is_error"), text
    assert "add.py" in text, text  # the server's receipt names the file
    assert (project / "add.py").read_text() == CODE
    assert backend.chats == 1


def test_without_the_rule_claude_code_refuses_delegate_files(claude, binary, tmp_path, apis):
    project, p = _session(claude, binary, tmp_path, apis, ["--no-write-permission"])
    claude_api, backend = apis
    out = p.stdout + p.stderr
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert TOOL not in settings["permissions"]["allow"], settings
    results = claude_api.results()
    assert results, f"Claude Code never sent the tool's result:\n{out}"
    assert DENIED in json.dumps(results[0]), results[0]
    assert not (project / "add.py").exists()
    assert backend.chats == 0


def test_in_an_untrusted_folder_claude_code_ignores_the_rule(claude, binary, tmp_path, apis):
    """Why `doctor` reports trust: the project's rules count only once the folder is trusted."""
    project, p = _session(claude, binary, tmp_path, apis, [], trusted=False)
    claude_api, backend = apis
    out = p.stdout + p.stderr
    results = claude_api.results()
    assert results, f"Claude Code never sent the tool's result:\n{out}"
    assert DENIED in json.dumps(results[0]), results[0]
    assert "this workspace has not been trusted" in out, out
    assert not (project / "add.py").exists()
