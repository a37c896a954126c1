"""`local-executor-mcp delegate` from the shell: artifact on stdout, footer on stderr, exit 3 on
DELEGATION_FAILED."""

from __future__ import annotations

from support import (
    ADD_WORKS,
    FAILED_RE,
    FOOTER_RE,
    LONG_TASK,
    PYTHON_TASK,
    assert_clean_python,
    assert_python_works,
    full_env,
    run,
)


def _expect(ledger, p) -> None:
    """The usage line the run must leave: tool `delegate`, client `cli`."""
    m = next((FAILED_RE.match(line) for line in p.stderr.splitlines() if FAILED_RE.match(line)), None)
    ledger.expect("delegate", p.returncode == 0, m["reason"] if m else (None if p.returncode == 0 else "?"), "cli")


def test_cli_delegate_prints_artifact_and_footer(binary, server_env, backend, ledger):
    p = run([str(binary), "delegate", "--language", "python", PYTHON_TASK], full_env(server_env))
    _expect(ledger, p)
    assert p.returncode == 0, p.stderr
    footers = [m for m in map(FOOTER_RE.match, p.stderr.splitlines()) if m]
    assert len(footers) == 1, f"one footer on stderr expected:\n{p.stderr}"
    assert footers[0]["tier"] == "quality" and footers[0]["checks"].startswith("checked: python syntax")
    assert "[local-executor" not in p.stdout, "the footer belongs on stderr"
    assert_clean_python(p.stdout)
    assert_python_works(p.stdout, ADD_WORKS)


def test_cli_delegate_failure_exits_3(binary, server_env, ledger):
    p = run(
        [str(binary), "delegate", "--tier", "fast", "--max-tokens", "32", LONG_TASK], full_env(server_env)
    )
    _expect(ledger, p)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert p.stdout == ""
    assert any(
        (m := FAILED_RE.match(line)) and m["reason"] == "truncated" for line in p.stderr.splitlines()
    ), p.stderr
