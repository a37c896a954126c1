"""A check that knows the project, on the real model: `tsc --noEmit -p tsconfig.json` (the
TypeScript that tests/e2e/run.sh installs) as the project's own checker of a fixture project whose
`tsconfig.json` and sibling `globals.d.ts` (a global `User` interface) the new file needs: on a
detached copy tsc would not know `User`. The check runs in the staged project with no file
argument (with one, tsc refuses `-p`: TS5042), and what lands passes the same tsc in the real
project. (The scripted misuse and its repair with the compiler's message are in tests/checks.rs,
`tsc_checks_the_candidate_against_the_projects_types`: a real model cannot be made to err.)"""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from support import mcp_session, npm_tool, result_text, run, full_env

CLIENT = "e2e-checks"
WROTE_LINE = re.compile(r"^wrote (?P<path>\S+) · ", re.M)


@pytest.fixture
def errlog(tmp_path):
    with open(tmp_path / "server.stderr", "w+", encoding="utf-8") as f:
        yield f


def test_a_typescript_file_is_checked_by_tsc_against_the_projects_types(
    binary, server_env, errlog, ledger, tmp_path
):
    tsc = npm_tool("tsc")
    ws = tmp_path / "project"
    (ws / "src").mkdir(parents=True)
    (ws / "tsconfig.json").write_text(
        '{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2020", '
        '"module": "commonjs"}, "include": ["src"]}\n'
    )
    (ws / "src" / "globals.d.ts").write_text("interface User {\n  id: number;\n  name: string;\n}\n")
    env = dict(server_env)
    env["LOCAL_EXECUTOR_WORKSPACE"] = str(ws)
    env["LOCAL_EXECUTOR_CHECK_TYPESCRIPT"] = f"{tsc} --noEmit -p tsconfig.json"
    args = {
        "files": [
            {
                "path": "src/greet.ts",
                "task": "Export a function greet(u: User): string that returns 'hi ' followed by "
                "u.name. User is a global interface (src/globals.d.ts): do not import it.",
            }
        ],
        "context_files": ["src/globals.d.ts"],
        "tier": "quality",
    }

    async def main():
        async with mcp_session(binary, env, CLIENT, errlog) as s:
            return await s.call_tool("delegate_files", args)

    text = result_text(anyio.run(main))
    landed = bool(WROTE_LINE.search(text))
    ledger.expect("delegate_files", landed, None if landed else "invalid_output", CLIENT)
    assert "TS5042" not in text, text
    assert landed, text
    assert "checked: typescript syntax, tsc" in text, text
    greet = (ws / "src" / "greet.ts").read_text()
    assert "greet" in greet and "import" not in greet, greet
    # What the staged check passed passes in the real project too.
    p = run([str(tsc), "--noEmit", "-p", "tsconfig.json"], full_env({}), cwd=ws)
    assert p.returncode == 0, p.stdout + p.stderr
    # Nothing but the new file was added to the project.
    assert sorted(str(f.relative_to(ws)) for f in ws.rglob("*") if f.is_file()) == [
        "src/globals.d.ts",
        "src/greet.ts",
        "tsconfig.json",
    ]
