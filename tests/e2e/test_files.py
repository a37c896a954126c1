"""Files first on the real model: a multi-file `delegate_files` call and several `delegate_code`
calls at once, against llama-cpp-python's server with `interrupt_requests` off (requests queue
instead of cutting each other off), and an edit of an existing file."""

from __future__ import annotations

import os
import re

import anyio
import pytest

from support import assert_python_works, mcp_session, result_text, usage_lines

CLIENT = "e2e-files"
FAILED_LINE = re.compile(r"^DELEGATION_FAILED \((?P<reason>\w+)\): (?P<path>[^:]+): ", re.M)
WROTE_LINE = re.compile(r"^wrote (?P<path>\S+) · (?P<lines>\d+) lines", re.M)


@pytest.fixture
def errlog(tmp_path):
    with open(tmp_path / "server.stderr", "w+", encoding="utf-8") as f:
        yield f


def expect_files(ledger, text: str) -> None:
    """The usage line a delegate_files call leaves: ok only when every file landed."""
    failed = FAILED_LINE.findall(text)
    ledger.expect("delegate_files", not failed, failed[0][0] if failed else None, CLIENT)


def test_a_multi_file_call_writes_each_file_that_passed_and_names_each_that_failed(
    binary, server_env, errlog, ledger, usage_file
):
    ws = server_env["LOCAL_EXECUTOR_WORKSPACE"]
    files = [
        {"path": "gen/add.py", "task": "Write a Python function add(a, b) that returns a + b."},
        {"path": "gen/sub.py", "task": "Write a Python function subtract(a, b) that returns the difference a - b."},
        {"path": "gen/mul.py", "task": "Write a Python function multiply(a, b) that returns the product a * b."},
    ]
    # What each file must do. The coder model writes these right at temperature 0, but not every
    # wording: "sub(a, b) that returns a - b" came back as `return -b`.
    works = {
        "gen/add.py": "assert add(2, 3) == 5",
        "gen/sub.py": "assert subtract(5, 3) == 2",
        "gen/mul.py": "assert multiply(4, 3) == 12",
    }

    async def main():
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:
            return await s.call_tool("delegate_files", {"files": files})

    result = anyio.run(main)
    text = result_text(result)
    expect_files(ledger, text)
    wrote = {m["path"] for m in WROTE_LINE.finditer(text)}
    failed = {m["path"] for m in FAILED_LINE.finditer(text)}
    assert wrote | failed == {f["path"] for f in files}, text
    assert not wrote & failed, text
    # With interrupt_requests off the three requests queue; none cuts another off.
    assert "cut off" not in text and "http_error" not in text, text
    for f in files:
        assert os.path.exists(f"{ws}/{f['path']}") == (f["path"] in wrote), f["path"]
    # Each of these tasks is within the coder model's reach: every file lands, and works.
    assert wrote == {f["path"] for f in files}, text
    for path in wrote:
        with open(f"{ws}/{path}", encoding="utf-8") as fh:
            assert_python_works(fh.read(), works[path])
    line = usage_lines(usage_file)[-1]
    assert line["tool"] == "delegate_files" and line["files"] == 3, line
    assert line["files_failed"] == len(failed), line
    assert line["disk_chars"] > 0 or not wrote, line


def test_several_calls_at_once_all_end_without_interrupting_each_other(
    binary, server_env, errlog, ledger
):
    tasks = [f"Write a Python function f{i}(x) that returns x + {i}." for i in range(3)]
    results: dict[int, object] = {}

    async def main():
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:

            async def one(i: int) -> None:
                results[i] = await s.call_tool(
                    "delegate_code", {"task": tasks[i], "language": "python"}
                )

            async with anyio.create_task_group() as tg:
                for i in range(len(tasks)):
                    tg.start_soon(one, i)

    anyio.run(main)
    for i, r in sorted(results.items()):
        ledger.expect_result("delegate_code", r, CLIENT)
        text = result_text(r)
        assert "http_error" not in text, text
        assert not r.is_error, text
        artifact = text.rstrip("\n").rpartition("\n")[0]
        assert_python_works(artifact, f"assert f{i}(10) == {10 + i}")


def test_an_edit_of_an_existing_file_lands_checked_or_leaves_it_alone(
    binary, server_env, errlog, ledger
):
    ws = server_env["LOCAL_EXECUTOR_WORKSPACE"]
    original = "def add(a, b):\n    return a + b\n"
    with open(f"{ws}/calc.py", "w", encoding="utf-8") as f:
        f.write(original)

    async def main():
        async with mcp_session(binary, server_env, CLIENT, errlog) as s:
            return await s.call_tool(
                "delegate_files",
                {"files": [{"path": "calc.py", "task": "Add a function sub(a, b) that returns a - b after add."}]},
            )

    text = result_text(anyio.run(main))
    expect_files(ledger, text)
    with open(f"{ws}/calc.py", encoding="utf-8") as fh:
        now = fh.read()
    if text.startswith("edited calc.py"):
        assert "checked: python syntax" in text, text
        assert now.startswith(original.rstrip("\n")), f"the edit changed add:\n{now}"
        assert_python_works(now, "assert add(2, 3) == 5 and sub(5, 3) == 2")
    else:
        assert text.startswith("DELEGATION_FAILED ("), text
        assert now == original, "a failed edit changed the file"
