"""Helpers of the end-to-end suite: paths, the real MCP clients, result checks.

Synchronisation in this suite is by events (a result, a progress notification, a process exit),
never by sleeping; the timeouts here are bounds against hangs, not speed checks.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("LEX_BIN") or REPO / "target" / "release" / "local-executor-mcp")
NPM_BIN = Path(os.environ.get("LEX_NPM_BIN") or REPO / ".cache" / "npm" / "node_modules" / ".bin")

# A bound for one subprocess (a CLI call, an Inspector or Claude Code run): far above what any of
# them needs here, so that only a hang reaches it.
HANG_BOUND = 600

# `~` marks a token count the server made itself (the backend reported no usage).
FOOTER_RE = re.compile(
    r"^\[local-executor ok · (?P<tier>quality|fast|fast→quality) · (?P<estimated>~?)(?P<tokens>\d+) tok out · "
    r"(?P<checks>checked: [^·\]]+|unchecked[^·\]]*)(?: · (?P<repairs>\d+) repairs?)?"
    r"(?: · continued (?P<continued>\d+))?\]$"
)
FAILED_RE = re.compile(r"^DELEGATION_FAILED \((?P<reason>[a-z_]+)\): ")
# Any failure text of a tool: DELEGATION_FAILED (reason): ..., LIST_FAILED (reason): ...
ANY_FAILED_RE = re.compile(r"^[A-Z_]+ \((?P<reason>[a-z_]+)\): ")

# The coder model writes this right at temperature 0, every time: the result must work.
PYTHON_TASK = (
    "Write a Python function `add(a, b)` that returns the sum of `a` and `b`. "
    "Only the function, no example usage."
)
ADD_WORKS = "assert add(2, 3) == 5 and add(-1, 1) == 0 and add(2.5, 0.5) == 3.0"
# Invites a long answer: the rambling model runs into any small max_tokens.
LONG_TASK = (
    "Write a Python module with twenty small utility functions for string handling, "
    "each with a docstring and type hints."
)


@dataclass(frozen=True)
class Backend:
    base_url: str
    quality: str
    fast: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Ledger:
    """The tool calls the tests made: (tool, ok, reason, client) of the usage line each must leave."""

    entries: list[tuple[str, bool, str | None, str | None]] = field(default_factory=list)

    def expect(self, tool: str, ok: bool, reason: str | None = None, client: str | None = None) -> None:
        self.entries.append((tool, ok, reason, client))

    def expect_result(self, tool: str, result, client: str | None = None) -> None:
        """The usage line a call must have left, read off its MCP result."""
        if not result.is_error:
            self.expect(tool, True, None, client)
        else:
            m = ANY_FAILED_RE.match(result_text(result))
            self.expect(tool, False, m["reason"] if m else "?", client)

    def counter(self) -> Counter:
        return Counter(self.entries)


def full_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", HANG_BOUND)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def npm_tool(name: str) -> Path:
    path = NPM_BIN / name
    if not os.access(path, os.X_OK):
        pytest.exit(f"{path} is missing: tests/e2e/run.sh installs the npm clients", returncode=4)
    return path


def split_footer(text: str) -> tuple[str, re.Match]:
    """The artifact and the footer's match; fails the test when the last line is no footer."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    m = FOOTER_RE.match(last)
    assert m, f"no footer on the last line of:\n{text}"
    return body + "\n", m


def assert_clean_python(artifact: str) -> None:
    assert "```" not in artifact, f"a markdown fence survived:\n{artifact}"
    assert "<think>" not in artifact
    assert artifact.endswith("\n") and not artifact.endswith("\n\n"), repr(artifact[-20:])
    tree = ast.parse(artifact)  # a SyntaxError names the position
    assert any(isinstance(n, ast.FunctionDef) for n in ast.walk(tree)), artifact


def assert_python_works(code: str, asserts: str) -> None:
    """Runs the artifact, then the asserts, in a fresh Python process: the artifact does what the
    task asked, not only parses."""
    p = subprocess.run([sys.executable, "-c", code + "\n\n" + asserts], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0, f"the artifact does not work ({p.stderr.strip().splitlines()[-1:]}):\n{code}"


@contextlib.asynccontextmanager
async def mcp_session(binary: Path, env: dict[str, str], client_name: str, errlog) -> AsyncIterator:
    """A ClientSession of the official Python SDK over stdio to the binary (closed, and the server
    process gone, when the block ends)."""
    from mcp import ClientSession, StdioServerParameters, types
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=str(binary), args=[], env=env)
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(
            read, write, client_info=types.Implementation(name=client_name, version="1.0")
        ) as session:
            await session.initialize()
            yield session


def result_text(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def usage_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
