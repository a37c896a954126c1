"""Claude Code's own CLI (npm @anthropic-ai/claude-code) as the client, with HOME in a temp dir:
`claude mcp add` with the README's env, and the checked-in .mcp.json.example as a project's
.mcp.json, approved through ~/.claude/settings.json (`claude mcp list` does not take
--mcp-config/--strict-mcp-config: it always reads the project's .mcp.json and its approval). `claude mcp list` starts each server and prints `✔ Connected` or `✘ Failed to connect`;
its exit code is always 0, so the text is what is checked."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from support import REPO, full_env, npm_tool, run

NAME = "local-executor"
EXAMPLE = REPO / ".mcp.json.example"


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


def connected_line(output: str, name: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(f"{name}:")]
    assert lines, f"{name} is not in `claude mcp list`:\n{output}"
    return lines[0]


@pytest.fixture(scope="module")
def claude() -> str:
    return str(npm_tool("claude"))


def test_claude_mcp_add_then_list_connects(claude, binary, server_env, tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    env = claude_env(home)
    env_args = [a for k, v in server_env.items() for a in ("-e", f"{k}={v}")]
    p = run([claude, "mcp", "add", NAME, *env_args, "--", str(binary)], env, cwd=project)
    assert p.returncode == 0, p.stdout + p.stderr
    p = run([claude, "mcp", "list"], env, cwd=project)
    line = connected_line(p.stdout + p.stderr, NAME)
    assert "✔ Connected" in line, p.stdout + p.stderr


def _project_with_example(tmp_path: Path) -> tuple[Path, list[str]]:
    if not EXAMPLE.exists():
        pytest.fail(f"{EXAMPLE.name} is missing at the repository root")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(EXAMPLE, project / ".mcp.json")
    names = list(json.loads(EXAMPLE.read_text())["mcpServers"])
    assert names, "the example declares no server"
    return project, names


def _example_env(home: Path, binary: Path, server_env: dict[str, str]) -> dict[str, str]:
    # The example runs `local-executor-mcp` from PATH (as after `cargo install`) and takes the
    # backend from ${VAR:-default} expansions of this environment.
    return claude_env(home, {**server_env, "PATH": f"{binary.parent}{os.pathsep}{os.environ['PATH']}"})


def _home_with_settings(tmp_path: Path, settings: dict | None) -> Path:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    if settings is not None:
        (home / ".claude" / "settings.json").write_text(json.dumps(settings))
    return home


def test_mcp_json_example_waits_for_approval(claude, binary, server_env, tmp_path):
    """Without approval Claude Code does not start a project's servers: the approvals below are
    what makes them connect."""
    project, names = _project_with_example(tmp_path)
    home = _home_with_settings(tmp_path, None)
    p = run([claude, "mcp", "list"], _example_env(home, binary, server_env), cwd=project)
    for name in names:
        assert "Pending approval" in connected_line(p.stdout + p.stderr, name), p.stdout + p.stderr


@pytest.mark.parametrize(
    "approval",
    [{"enableAllProjectMcpServers": True}, "enabledMcpjsonServers"],
    ids=["enableAllProjectMcpServers", "enabledMcpjsonServers"],
)
def test_mcp_json_example_connects_when_approved(claude, binary, server_env, tmp_path, approval):
    project, names = _project_with_example(tmp_path)
    settings = approval if isinstance(approval, dict) else {approval: names}
    home = _home_with_settings(tmp_path, settings)
    p = run([claude, "mcp", "list"], _example_env(home, binary, server_env), cwd=project)
    for name in names:
        assert "✔ Connected" in connected_line(p.stdout + p.stderr, name), p.stdout + p.stderr
