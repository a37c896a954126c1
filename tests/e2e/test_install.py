"""The README's install from a checkout, run as written: `cargo install --locked --path .` puts the
binary on PATH (here into a temporary CARGO_INSTALL_ROOT instead of ~/.cargo) by reusing the
target/release that tests/e2e/run.sh has just built, and `doctor` then finds it by name, as the
MCP clients and `init` run it."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib

from support import BIN, HANG_BOUND, REPO, full_env, run

PREFIX = "cargo install --locked --path ."


def readme_command(prefix: str) -> str:
    """The line of a ```sh block of the README that starts with `prefix`, its comment dropped."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"^```sh\n(.*?)^```", readme, re.M | re.S):
        for line in block.splitlines():
            if line.startswith(prefix):
                return re.sub(r"\s+#.*$", "", line)
    raise AssertionError(f"the README shows no `{prefix}` in a sh block")


def test_the_readmes_install_from_a_checkout_puts_the_binary_on_path(tmp_path):
    command = readme_command(PREFIX)
    assert command == PREFIX
    root = tmp_path / "cargo-root"
    p = subprocess.run(
        ["sh", "-c", command], cwd=REPO, env=full_env({"CARGO_INSTALL_ROOT": str(root)}),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=HANG_BOUND,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    if BIN == REPO / "target" / "release" / "local-executor-mcp":
        # "4 s after the demo: it reuses target/release"
        assert "Compiling local-executor-mcp" not in p.stderr, p.stderr
    assert (root / "bin" / "local-executor-mcp").is_file(), p.stderr

    path = f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
    v = run(["local-executor-mcp", "--version"], full_env({"PATH": path}))
    assert v.returncode == 0 and v.stdout.strip() == f"local-executor-mcp {version}", v

    # Nothing listens on port 9: doctor fails on the backend, and still finds the binary.
    d = run(
        ["local-executor-mcp", "doctor", "--no-generate"],
        full_env({"PATH": path, "HOME": str(tmp_path), "LOCAL_EXECUTOR_HOME": str(tmp_path / "lex"),
                  "LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1"}),
        cwd=tmp_path,
    )
    assert "✔ local-executor-mcp is on PATH\n" in d.stdout, d.stdout + d.stderr
