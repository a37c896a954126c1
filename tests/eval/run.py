#!/usr/bin/env python3
"""The delegation benchmark: mechanical tasks of the kinds users delegate, each sent through the
real binary to a real local model, each artifact judged by the task's own checker. It prints
figures, never a verdict: no thresholds, no exit code for a low score.

    tests/eval/run.py                       every task, the default tier, the engine's default repairs
    tests/eval/run.py --repairs 0           repairs off (LOCAL_EXECUTOR_REPAIRS=0)
    tests/eval/run.py --tier fast --only 'py_*' --json out.json --markdown --price-ratio 5

A `delegate` task runs `local-executor-mcp delegate`; a `files` task runs one MCP
`delegate_files` call (a minimal stdio client below) in a fresh workspace seeded with its files,
and the whole workspace is judged afterwards (behaviour, and for edits every other line left
byte-identical).

Without LOCAL_LLM_BASE_URL it starts the demo's backend (scripts/backend.sh: Qwen2.5-Coder-0.5B as
`quality`, SmolLM2-135M as `fast`, on any free port) and stops it on exit; with it, it uses that
backend and the LOCAL_LLM_MODEL_* already set. Sampling is greedy (LOCAL_LLM_TEMPERATURE=0) so a
run is repeatable.

Per task it records: ok (exit 0), checked (the usage line's `checked`), whether the artifact
passes the task's own test, repairs, escalation, latency, and the priced saving (see price()).
Python 3.11, standard library plus PyYAML (task files, YAML tasks).
"""

from __future__ import annotations

import argparse
import atexit
import configparser
import csv
import difflib
import fnmatch
import html.parser
import importlib.util
import io
import json
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field, asdict
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - said plainly below
    sys.exit("tests/eval/run.py needs PyYAML: pip install -r tests/eval/requirements.txt "
             "(or run it with the backend's venv: .venv/bin/python tests/eval/run.py)")

EVAL_DIR = Path(__file__).resolve().parent
REPO = EVAL_DIR.parent.parent
TASKS_DIR = EVAL_DIR / "tasks"
FIXTURES_DIR = EVAL_DIR / "fixtures"
DEFAULT_MAX_TOKENS = 200
CHECK_TIMEOUT = 30  # seconds for one checker subprocess (python, node, bash, rustc)


# --------------------------------------------------------------------------------------------
# Tasks


@dataclass
class Task:
    id: str
    language: str
    task: str
    check: dict
    context: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    kind: str = ""  # a label for grouping in the table (python function, sql ddl, ...)
    reference: object = None  # a right answer: --self-test checks that the checker takes it
    # `mode: files`: one delegate_files call over MCP in a workspace seeded with `workspace`
    # (path -> text, or "@name" for tests/eval/fixtures/name), its `files` and `context_files`.
    mode: str = "delegate"
    workspace: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    context_files: list = field(default_factory=list)


def _fixture(text: str) -> str:
    return (FIXTURES_DIR / text[1:]).read_text() if text.startswith("@") else text


def load_tasks(pattern: str | None) -> list[Task]:
    tasks = []
    for path in sorted(TASKS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        mode = data.get("mode", "delegate")
        if mode == "files":
            files = data["files"]
            t = Task(
                id=path.stem,
                language=data.get("language", "files"),
                task=" | ".join(f"{f['path']}: {f['task'].strip()}" for f in files),
                check=data["check"],
                kind=data.get("kind", "files"),
                reference=data.get("reference"),
                mode=mode,
                workspace={k: _fixture(v) for k, v in (data.get("workspace") or {}).items()},
                files=[{k: (v.strip() if isinstance(v, str) else v) for k, v in f.items()} for f in files],
                context_files=list(data.get("context_files") or []),
            )
        else:
            t = Task(
                id=path.stem,
                language=data["language"],
                task=data["task"].strip(),
                check=data["check"],
                context=(data.get("context") or None),
                max_tokens=int(data.get("max_tokens", DEFAULT_MAX_TOKENS)),
                kind=data.get("kind", data["language"]),
                reference=data.get("reference"),
            )
        if pattern and not any(fnmatch.fnmatch(t.id, p) or p in t.id for p in pattern.split(",")):
            continue
        tasks.append(t)
    return interleave(tasks)


def interleave(tasks: list[Task]) -> list[Task]:
    """Runs the kinds in turn (a Python function, a conversion, a type, ...), so a run cut short
    still samples every kind; the tables list tasks by id."""
    by_kind: dict[str, list[Task]] = {}
    for t in tasks:
        by_kind.setdefault(t.kind if t.mode == "files" else t.check["kind"], []).append(t)
    queues = [by_kind[k] for k in sorted(by_kind)]
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


# --------------------------------------------------------------------------------------------
# Checkers: each takes the artifact and the task's `check` mapping and returns (passed, detail).
# They run the artifact the way its user would (import it, execute it, parse it), in a temporary
# folder, in a subprocess with a timeout when it is code.


def _run(cmd: list[str], cwd: Path, stdin: str | None = None, timeout: int = CHECK_TIMEOUT):
    try:
        p = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    except FileNotFoundError:
        return None, f"{cmd[0]} is not installed"
    return p, ""


def _tail(text: str, n: int = 200) -> str:
    """The last line of an error output; with the line before it when the last one is a bare
    exception name (a failed `assert` says only `AssertionError`)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and set(ln.strip()) != {"^"}]
    if not lines:
        return ""
    out = lines[-1]
    if len(lines) > 1 and re.fullmatch(r"[\w.]+(Error|Exception)", out):
        out = f"{out}: {lines[-2]}"
    return out[:n]


def check_python(art: str, spec: dict, tmp: Path):
    """The artifact is a module; the task's asserts import it (`from artifact import *`)."""
    (tmp / "artifact.py").write_text(art)
    (tmp / "check_artifact.py").write_text("from artifact import *\n" + spec["asserts"])
    p, err = _run([sys.executable, "check_artifact.py"], tmp)
    if p is None:
        return False, err
    return p.returncode == 0, "" if p.returncode == 0 else _tail(p.stderr)


# When pytest is not installed: the part of its API that plain test functions use.
PYTEST_SHIM = """
import contextlib, math

@contextlib.contextmanager
def raises(exc, match=None):
    try:
        yield
    except exc:
        return
    raise AssertionError(f"DID NOT RAISE {exc}")

def approx(v, rel=1e-6, abs=1e-12):
    class A:
        def __eq__(self, o):
            return math.isclose(o, v, rel_tol=rel, abs_tol=abs)
    return A()
"""


def check_pytest_stub(art: str, spec: dict, tmp: Path):
    """The artifact is a test file for a module given in the task's context: its test functions
    are collected and run against a correct implementation; it passes when there are at least
    `min_tests` and all pass (no pytest needed: each `test_*` function is called)."""
    (tmp / f"{spec['module']}.py").write_text(spec["implementation"])
    (tmp / "test_artifact.py").write_text(art)
    if importlib.util.find_spec("pytest") is None:
        (tmp / "pytest.py").write_text(PYTEST_SHIM)
    runner = (
        "import inspect, sys, traceback\n"
        "import test_artifact as m\n"
        "tests = [f for n, f in vars(m).items() if n.startswith('test') and inspect.isfunction(f)]\n"
        "bad = 0\n"
        "for f in tests:\n"
        "    if inspect.signature(f).parameters:\n"
        "        print(f'{f.__name__} takes fixtures'); bad += 1; continue\n"
        "    try:\n"
        "        f()\n"
        "    except Exception as e:\n"
        "        bad += 1; print(f'{f.__name__}: {type(e).__name__} {e}')\n"
        f"if len(tests) < {int(spec.get('min_tests', 1))}:\n"
        "    print(f'only {len(tests)} test functions'); sys.exit(1)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    (tmp / "run_tests.py").write_text(runner)
    p, err = _run([sys.executable, "run_tests.py"], tmp)
    if p is None:
        return False, err
    if p.returncode != 0:
        return False, _tail(p.stdout + "\n" + p.stderr)
    # Tests that pass on anything test nothing: each broken implementation (`mutants`) must fail
    # at least one of them.
    for n, mutant in enumerate(spec.get("mutants", []), 1):
        (tmp / f"{spec['module']}.py").write_text(mutant)
        shutil.rmtree(tmp / "__pycache__", ignore_errors=True)
        p, err = _run([sys.executable, "run_tests.py"], tmp)
        if p is None:
            return False, err
        if p.returncode == 0:
            return False, f"the tests pass on broken implementation {n} too"
    return True, ""


def check_node(art: str, spec: dict, tmp: Path):
    """The artifact is a script; the task's asserts run after it (`assert` is node:assert).
    An artifact with `export` runs as an ES module."""
    esm = re.search(r"^\s*export\s", art, re.M) is not None
    if esm:
        src = art + "\nimport __assert from 'node:assert/strict';\nconst assert = __assert;\n"
        name = "artifact.mjs"
    else:
        src = art + "\nconst assert = require('node:assert/strict');\n"
        name = "artifact.cjs"
    (tmp / name).write_text(src + spec["asserts"])
    p, err = _run(["node", name], tmp)
    if p is None:
        return False, err
    if p.returncode == 0:
        return True, ""
    # Node prints the source line, a caret, the error, a stack and its version: keep the error.
    first = next((ln.strip() for ln in p.stderr.splitlines() if re.match(r"\s*\w*Error\b", ln)), "")
    return False, (first or _tail(p.stderr))[:200]


def _balanced(text: str) -> str | None:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    # Ignore brackets inside string literals and comments, roughly: enough for type declarations.
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|`(?:\\.|[^`\\])*`", "''", text)
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return f"unbalanced {ch}"
    return f"unclosed {stack[-1]}" if stack else None


def check_regex(art: str, spec: dict, tmp: Path):
    """Structure by rule: every `require` pattern matches (multiline, whitespace-tolerant as
    written), no `forbid` pattern does, and brackets balance when `balanced` (the default)."""
    if spec.get("balanced", True):
        bad = _balanced(art)
        if bad:
            return False, bad
    for pat in spec.get("require", []):
        if not re.search(pat, art, re.M | re.S):
            return False, f"missing /{pat}/"
    for pat in spec.get("forbid", []):
        if re.search(pat, art, re.M | re.S):
            return False, f"has /{pat}/"
    return True, ""


def check_sql(art: str, spec: dict, tmp: Path):
    """SQLite executes the DDL; then the schema is inspected: tables and their columns, and
    `accept` / `reject` statements that must succeed / fail (constraints)."""
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA foreign_keys = ON")
    try:
        db.executescript(art)
    except sqlite3.Error as e:
        return False, f"sqlite: {e}"
    for table, cols in spec.get("tables", {}).items():
        have = [r[1].lower() for r in db.execute(f"PRAGMA table_info({table})")]
        if not have:
            return False, f"no table {table}"
        missing = [c for c in cols if c.lower() not in have]
        if missing:
            return False, f"{table} lacks {', '.join(missing)}"
    for table, parents in spec.get("foreign_keys", {}).items():
        refs = {r[2].lower() for r in db.execute(f"PRAGMA foreign_key_list({table})")}
        for parent in parents:
            if parent.lower() not in refs:
                return False, f"{table} has no foreign key to {parent}"
    for table, cols in spec.get("indexes", {}).items():
        indexed = set()
        for idx in db.execute(f"PRAGMA index_list({table})"):
            indexed |= {r[2].lower() for r in db.execute(f"PRAGMA index_info('{idx[1]}')")}
        missing = [c for c in cols if c.lower() not in indexed]
        if missing:
            return False, f"no index on {table}({', '.join(missing)})"
    for stmt in spec.get("accept", []):
        try:
            db.execute(stmt)
        except sqlite3.Error as e:
            return False, f"refused {stmt[:60]}: {e}"
    for stmt in spec.get("reject", []):
        try:
            db.execute(stmt)
        except sqlite3.Error:
            continue
        return False, f"accepted {stmt[:60]}"
    return True, ""


def _parse_data(art: str, fmt: str):
    if fmt == "json":
        return json.loads(art)
    if fmt == "yaml":
        return yaml.safe_load(art)
    if fmt == "toml":
        return tomllib.loads(art)
    raise ValueError(fmt)


def _norm(v):
    """Compare data as a user would: numbers by value, keys as strings."""
    if isinstance(v, dict):
        return {str(k): _norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def check_data(art: str, spec: dict, tmp: Path):
    """Parse as `format` and compare with `expected` (the whole value, or `subset` of keys)."""
    try:
        got = _parse_data(art, spec["format"])
    except Exception as e:  # any parser error is the artifact's fault
        return False, f"{spec['format']}: {type(e).__name__}: {str(e)[:120]}"
    got, want = _norm(got), _norm(spec["expected"])
    if spec.get("subset") and isinstance(got, dict) and isinstance(want, dict):
        diff = [k for k in want if got.get(k) != want[k]]
        return (not diff), ("" if not diff else f"differs at {', '.join(diff)}")
    if got == want:
        return True, ""
    return False, f"got {json.dumps(got)[:150]}"


def _num(cell: str):
    try:
        return float(cell)
    except ValueError:
        return cell


def check_csv(art: str, spec: dict, tmp: Path):
    """Parse with the csv module; rows (header first) must equal `expected`, cells trimmed."""
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(art.strip())) if r]
    want = [[str(c) for c in r] for r in spec["expected"]]
    if spec.get("numeric"):  # 149.0 and 149 are the same price
        rows, want = [[_num(c) for c in r] for r in rows], [[_num(c) for c in r] for r in want]
    if rows == want:
        return True, ""
    return False, f"got {json.dumps(rows)[:150]}"


def check_ini(art: str, spec: dict, tmp: Path):
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(art)
    except configparser.Error as e:
        return False, f"configparser: {str(e).splitlines()[0][:120]}"
    for section, keys in spec["expected"].items():
        if not cp.has_section(section):
            return False, f"no [{section}]"
        for k, v in keys.items():
            got = cp.get(section, k, fallback=None)
            if got is None or got.strip().strip('"') != str(v):
                return False, f"[{section}] {k} = {got!r}"
    return True, ""


def check_env(art: str, spec: dict, tmp: Path):
    """A .env file: KEY=VALUE lines, comments and blanks allowed, optional quotes."""
    got = {}
    for n, line in enumerate(art.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.fullmatch(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)", s)
        if not m:
            return False, f"line {n} is not KEY=VALUE: {s[:60]}"
        v = m.group(2).strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        got[m.group(1)] = v
    want = {k: str(v) for k, v in spec["expected"].items()}
    if got == want:
        return True, ""
    return False, f"got {json.dumps(got)[:150]}"


def check_dockerfile(art: str, spec: dict, tmp: Path):
    """Every line is an instruction, a continuation, a comment or blank; the first instruction is
    FROM; the `require` patterns match whole instructions in order."""
    known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
             "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
    instrs, cont = [], False
    for n, line in enumerate(art.splitlines(), 1):
        s = line.strip()
        if cont:
            instrs[-1] += " " + s.rstrip("\\")
        elif s and not s.startswith("#"):
            word = s.split()[0].upper()
            if word not in known:
                return False, f"line {n} is not an instruction: {s[:60]}"
            instrs.append(s.rstrip("\\"))
        cont = s.endswith("\\")
    if not instrs or not instrs[0].upper().startswith(("FROM", "ARG")):
        return False, "does not start with FROM"
    pos = 0
    for pat in spec["require"]:
        for i in range(pos, len(instrs)):
            if re.search(pat, instrs[i], re.I):
                pos = i + 1
                break
        else:
            return False, f"no instruction /{pat}/ (in order)"
    return True, ""


def check_bash(art: str, spec: dict, tmp: Path):
    """`bash -n`, then each run: args and stdin in, stdout (trimmed) and exit code out."""
    script = tmp / "script.sh"
    script.write_text(art)
    p, err = _run(["bash", "-n", str(script)], tmp)
    if p is None:
        return False, err
    if p.returncode != 0:
        return False, "bash -n: " + _tail(p.stderr)
    for fname, content in spec.get("files", {}).items():
        (tmp / fname).write_text(content)
    for run in spec.get("runs", []):
        p, err = _run(["bash", str(script), *run.get("args", [])], tmp, stdin=run.get("stdin", ""))
        if p is None:
            return False, err
        if "stdout" in run and p.stdout.strip() != run["stdout"].strip():
            return False, f"args {run.get('args', [])}: printed {p.stdout.strip()[:80]!r}"
        if p.returncode != run.get("exit", 0):
            return False, f"args {run.get('args', [])}: exit {p.returncode}"
    return True, ""


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.open: list[str] = []
        self.errors: list[str] = []

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: (v or "") for k, v in attrs}))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass
        else:
            self.errors.append(f"stray </{tag}>")


def check_html(art: str, spec: dict, tmp: Path):
    """Parse with html.parser; elements closed; each `require` entry (tag, attrs, count) found."""
    p = _Tags()
    p.feed(art)
    p.close()
    if p.errors:
        return False, p.errors[0]
    unclosed = [t for t in p.open if t not in {"html", "body", "head", "p", "li", "tr", "td", "th",
                                                "option"}]
    if unclosed:
        return False, f"unclosed <{unclosed[-1]}>"
    for req in spec["require"]:
        found = [a for t, a in p.tags if t == req["tag"]
                 and all(a.get(k, "").lower() == str(v).lower() for k, v in req.get("attrs", {}).items())]
        if len(found) < req.get("count", 1):
            return False, f"{len(found)} <{req['tag']} {req.get('attrs', '')}> (want {req.get('count', 1)})"
    return True, ""


def check_rust(art: str, spec: dict, tmp: Path):
    """rustc --test on the artifact with the task's tests appended as a test module."""
    if not shutil.which("rustc"):
        return False, "rustc is not installed"
    src = art + "\n#[cfg(test)]\nmod eval_tests {\n    #[allow(unused_imports)]\n    use super::*;\n" \
        + spec["tests"] + "\n}\n"
    (tmp / "artifact.rs").write_text(src)
    p, err = _run(["rustc", "--edition", "2021", "--test", "-A", "warnings", "-o", "t", "artifact.rs"],
                  tmp, timeout=120)
    if p is None:
        return False, err
    if p.returncode != 0:
        first = next((ln for ln in p.stderr.splitlines() if ln.startswith("error")), _tail(p.stderr))
        return False, "rustc: " + first[:200]
    p, err = _run([str(tmp / "t")], tmp)
    if p is None:
        return False, err
    return p.returncode == 0, "" if p.returncode == 0 else _tail(p.stdout)


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def unchanged_except(before: str, after: str, may_change: list[str]) -> str | None:
    """None when every line of `before` is still in `after`, byte for byte and in order, except
    lines matching one of the `may_change` patterns; else the first line changed or gone. Added
    lines are the task's to judge (by behaviour)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, _, _ in sm.get_opcodes():
        if op in ("replace", "delete"):
            for n in range(i1, i2):
                if not any(re.search(pat, a[n]) for pat in may_change):
                    return f"line {n + 1} changed: {a[n].strip()[:60]!r}"
    return None


def check_workspace(after: dict, spec: dict, tmp: Path, before: dict | None = None):
    """A delegate_files task: `after` is every file of the workspace after the call. Each entry
    of `files` judges one file with another checker (`expected_file`: the expected data is
    another workspace file, parsed by its extension); `unchanged_except` holds every line of a
    file as it was except those matching its patterns; `run` (Python) and `node` (JavaScript) are
    executed in a copy of the workspace and must exit 0."""
    before = before or {}
    for rel, pats in (spec.get("unchanged_except") or {}).items():
        if rel not in after:
            return False, f"{rel} is gone"
        bad = unchanged_except(before.get(rel, ""), after[rel], pats)
        if bad:
            return False, f"{rel}: {bad}"
    for rel, sub in (spec.get("files") or {}).items():
        if rel not in after:
            return False, f"{rel} was not written"
        sub = dict(sub)
        if "expected_file" in sub:
            src = sub.pop("expected_file")
            sub["expected"] = _parse_data(after[src], Path(src).suffix.lstrip(".").replace("yml", "yaml"))
        if sub["kind"] == "pytest_stub" and "implementation" not in sub:
            sub["implementation"] = after[f"{sub['module']}.py"]
        sub_tmp = tmp / ("check-" + rel.replace("/", "_"))
        sub_tmp.mkdir()
        ok, detail = CHECKERS[sub["kind"]](after[rel], sub, sub_tmp)
        if not ok:
            return False, f"{rel}: {detail}"
    for key, cmd, name in (("run", [sys.executable], "check_workspace.py"),
                           ("node", ["node"], "check_workspace.cjs")):
        if not spec.get(key):
            continue
        root = tmp / "workspace"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        _write_tree(root, after)
        (root / name).write_text(spec[key])
        p, err = _run(cmd + [name], root)
        if p is None:
            return False, err
        if p.returncode != 0:
            out = p.stderr
            if key == "node":
                first = next((ln.strip() for ln in out.splitlines() if re.match(r"\s*\w*Error\b", ln)), "")
                return False, (first or _tail(out))[:200]
            return False, _tail(out)
    return True, ""


CHECKERS = {
    "python": check_python,
    "pytest_stub": check_pytest_stub,
    "node": check_node,
    "regex": check_regex,
    "sql": check_sql,
    "data": check_data,
    "csv": check_csv,
    "ini": check_ini,
    "env": check_env,
    "dockerfile": check_dockerfile,
    "bash": check_bash,
    "html": check_html,
    "rust": check_rust,
    "workspace": check_workspace,
}


def judge(task: Task, artifact) -> tuple[bool, str]:
    """`artifact`: the text of a `delegate` task; for a `files` task, the workspace after the call
    (path -> text)."""
    kind = task.check["kind"]
    with tempfile.TemporaryDirectory(prefix="lex-eval-") as d:
        try:
            if kind == "workspace":
                return check_workspace(artifact, task.check, Path(d), before=task.workspace)
            return CHECKERS[kind](artifact, task.check, Path(d))
        except Exception as e:  # a checker that breaks on odd input judges the input as failed
            return False, f"checker: {type(e).__name__}: {str(e)[:120]}"


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class Result:
    id: str
    kind: str
    language: str
    ok: bool = False
    reason: str | None = None
    checked: bool = False
    checks: list = field(default_factory=list)
    passed: bool = False
    detail: str = ""
    repairs: int = 0
    escalated_from: str | None = None
    model: str | None = None
    latency_ms: int = 0
    completion_tokens: int = 0
    planner_chars: int = 0
    output_chars: int = 0
    footer: str = ""
    artifact: str = ""
    # The priced saving (see price()): characters the planner would have written itself, those
    # of the call's arguments, and those of the answer it reads back.
    written_chars: int = 0
    args_chars: int = 0
    receipt_chars: int = 0
    saving: float = 0.0


def start_backend() -> dict[str, str]:
    """Starts the demo's backend with scripts/backend.sh and returns the env it prints; stops it
    at exit (also on Ctrl-C and SIGTERM)."""
    env = dict(os.environ)
    env.setdefault("LEX_BACKEND_STATE", str(REPO / ".cache" / "backend-eval"))
    env.setdefault("LEX_PORT", "0")  # any free port: the fixed default is the demo's
    script = str(REPO / "scripts" / "backend.sh")

    def stop():
        subprocess.run(["bash", script, "stop"], env=env, check=False)

    atexit.register(stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    p = subprocess.run(["bash", script, "start"], env=env, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("the backend did not start (see the lines above)")
    out = {}
    for line in p.stdout.splitlines():
        m = re.fullmatch(r"export (\w+)=(.*)", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def run_task(task: Task, args, env: dict, home: Path) -> Result:
    usage = home / "usage.jsonl"
    before = usage.read_text().splitlines() if usage.exists() else []
    cmd = [args.binary, "delegate", "--language", task.language,
           "--max-tokens", str(args.max_tokens or task.max_tokens)]
    if args.tier:
        cmd += ["--tier", args.tier]
    if task.context:
        cmd += ["--context", task.context]
    cmd.append(task.task)
    r = Result(id=task.id, kind=task.kind, language=task.language)
    # The engine bounds the whole call (repairs and escalation included) by LOCAL_LLM_TIMEOUT; this
    # is a backstop. subprocess.run kills the child on a timeout and on Ctrl-C.
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=2 * args.timeout + 60)
    except subprocess.TimeoutExpired:
        r.reason = "eval_timeout"
        return r
    after = usage.read_text().splitlines() if usage.exists() else []
    line = json.loads(after[-1]) if len(after) > len(before) else {}
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    r.footer = next((ln for ln in reversed(lines)
                     if ln.startswith("[local-executor") or "DELEGATION_FAILED" in ln),
                    lines[-1] if lines else "")
    r.ok = p.returncode == 0
    r.reason = line.get("reason") or (None if r.ok else f"exit {p.returncode}")
    r.checked = bool(line.get("checked", False))
    r.checks = line.get("checks", [])
    r.repairs = int(line.get("repairs", 0))
    r.escalated_from = line.get("escalated_from")
    r.model = line.get("model")
    r.latency_ms = int(line.get("latency_ms", 0))
    r.completion_tokens = int(line.get("completion_tokens", 0))
    r.planner_chars = int(line.get("planner_chars", len(task.task) + len(task.context or "")))
    r.output_chars = int(line.get("output_chars", 0))
    # What the planner pays: the arguments of the equivalent delegate_code call, and the answer it
    # reads back (the artifact inline and the footer, or the failure).
    call_args = {"task": task.task, "language": task.language}
    if task.context:
        call_args["context"] = task.context
    r.args_chars = len(json.dumps(call_args, ensure_ascii=False))
    r.receipt_chars = len(p.stdout) + len(r.footer) + 1
    if r.ok:
        r.artifact = p.stdout
        r.passed, r.detail = judge(task, p.stdout)
        if r.passed:
            r.written_chars = len(p.stdout)
    else:
        r.detail = r.footer[:200]
    return r



class McpClient:
    """A minimal MCP client over stdio (newline-delimited JSON-RPC): initialize, then tools/call.
    Enough for delegate_files; server notifications (progress, logs) are skipped."""

    def __init__(self, binary: str, env: dict, stderr):
        self.p = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=stderr, env=env, text=True, encoding="utf-8")
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "lex-eval", "version": "1"}}, 60)
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _send(self, msg: dict):
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()

    def request(self, method: str, params: dict, timeout: float) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self._send({"jsonrpc": "2.0", "id": my_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{method}: no answer within {timeout:.0f} s") from None
            if line is None:
                raise ConnectionError(f"{method}: the server exited (code {self.p.wait()})")
            msg = json.loads(line)
            if msg.get("id") == my_id and ("result" in msg or "error" in msg):
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            if "method" in msg and "id" in msg:  # a request of the server's: none is served here
                self._send({"jsonrpc": "2.0", "id": msg["id"],
                            "error": {"code": -32601, "message": "not supported"}})

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()
            self.p.wait()


def _read_tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            try:
                out[path.relative_to(root).as_posix()] = path.read_text()
            except UnicodeDecodeError:
                out[path.relative_to(root).as_posix()] = "<binary>"
    return out


def edit_chars(before: str, after: str) -> int:
    """What an Edit tool call carries for this change: the removed and the added lines (its
    old_string and new_string), hunk by hunk."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    n = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op != "equal":
            n += sum(map(len, a[i1:i2])) + sum(map(len, b[j1:j2]))
    return n


def run_files_task(task: Task, args, env: dict, home: Path) -> Result:
    """One delegate_files call over MCP in a fresh workspace seeded with the task's files."""
    usage = home / "usage.jsonl"
    before_lines = usage.read_text().splitlines() if usage.exists() else []
    r = Result(id=task.id, kind=task.kind, language=task.language)
    ws = Path(tempfile.mkdtemp(prefix="lex-eval-ws-"))
    try:
        _write_tree(ws, task.workspace)
        call_env = dict(env, LOCAL_EXECUTOR_WORKSPACE=str(ws), LOCAL_EXECUTOR_ALLOW_WRITE="1")
        call_args: dict = {"files": task.files}
        if task.context_files:
            call_args["context_files"] = task.context_files
        if args.tier:
            call_args["tier"] = args.tier
        r.args_chars = len(json.dumps(call_args, ensure_ascii=False))
        with tempfile.TemporaryFile("w+") as err:
            client = None
            try:
                client = McpClient(args.binary, call_env, err)
                res = client.request("tools/call", {"name": "delegate_files", "arguments": call_args},
                                     2 * args.timeout + 60)
            except (TimeoutError, ConnectionError, RuntimeError) as e:
                r.reason = "eval_error"
                r.detail = str(e)[:200]
                return r
            finally:
                if client:
                    client.close()
        text = "".join(c.get("text", "") for c in res.get("content", []) if c.get("type") == "text")
        r.footer = text
        r.receipt_chars = len(text)
        failed = re.findall(r"^DELEGATION_FAILED \((\w+)\)", text, re.M)
        r.ok = not res.get("isError") and not failed
        r.reason = None if r.ok else (failed[0] if failed else "failed")
        after_lines = usage.read_text().splitlines() if usage.exists() else []
        new = [json.loads(ln) for ln in after_lines[len(before_lines):]]
        call = next((u for u in reversed(new) if u.get("tool") == "delegate_files"), {})
        r.checked = bool(call.get("checked", False)) or (bool(new) and all(u.get("checked") for u in new))
        r.repairs = max(int(call.get("repairs", 0)), sum(int(u.get("repairs", 0)) for u in new if u is not call))
        r.escalated_from = call.get("escalated_from")
        r.model = call.get("model")
        r.latency_ms = int(call.get("latency_ms", 0))
        r.completion_tokens = int(call.get("completion_tokens", 0))
        r.planner_chars = int(call.get("planner_chars", r.args_chars))
        after = _read_tree(ws)
        landed = {k: v for k, v in after.items() if task.workspace.get(k) != v}
        r.output_chars = sum(len(v) for v in landed.values())
        r.artifact = json.dumps(landed, ensure_ascii=False)
        r.passed, detail = judge(task, after)
        if r.passed:
            r.written_chars = sum(edit_chars(task.workspace[k], v) if k in task.workspace else len(v)
                                  for k, v in landed.items())
        if not r.passed:
            first_failure = next((ln for ln in text.splitlines() if ln.startswith("DELEGATION_FAILED")),
                                 (text.strip().splitlines() or [""])[0])
            r.detail = detail if r.ok else first_failure[:200]
        return r
    finally:
        shutil.rmtree(ws, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Reporting


def yes(b: bool) -> str:
    return "✔" if b else "✘"


def price(r: Result, ratio: float) -> None:
    """The priced saving of one delegation, in output tokens (tokens ≈ characters / 4): what the
    planner would have written itself (a new file whole; an edit as the removed and added lines an
    Edit tool carries; nothing when the delegation failed or its artifact is wrong), minus the
    call's arguments, both at the output price, minus the answer it reads back at the input
    price, which is 1/ratio of the output price."""
    r.saving = (r.written_chars - r.args_chars - r.receipt_chars / ratio) / 4


def rows_of(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        rows.append([
            r.id,
            "ok" if r.ok else (r.reason or "failed"),
            yes(r.ok and r.checked) if r.ok else "",
            yes(r.passed),
            str(r.repairs) if r.repairs else "",
            f"{r.escalated_from}→" if r.escalated_from else "",
            f"{r.latency_ms / 1000:.1f}",
            str(r.args_chars),
            str(r.receipt_chars),
            str(r.written_chars),
            f"{r.saving:+.0f}",
        ])
    return rows


HEAD = ["task", "result", "checked", "test", "repairs", "escalated", "latency s", "args ch",
        "receipt ch", "written ch", "saving tok"]


def totals(results: list[Result]) -> dict:
    n = len(results)
    oks = [r for r in results if r.ok]
    lat = sorted(r.latency_ms for r in results)
    return {
        "tasks": n,
        "ok": len(oks),
        "ok_checked": sum(r.checked for r in oks),
        "passed": sum(r.passed for r in results),
        "ok_but_wrong": sum(not r.passed for r in oks),
        "checked_but_wrong": sum(r.checked and not r.passed for r in oks),
        "repairs": sum(r.repairs for r in results),
        "repaired_calls": sum(r.repairs > 0 for r in results),
        "escalations": sum(bool(r.escalated_from) for r in results),
        "latency_ms_total": sum(lat),
        "latency_ms_p50": lat[(n - 1) // 2] if n else 0,
        "planner_chars": sum(r.planner_chars for r in results),
        "artifact_chars": sum(r.output_chars for r in oks),
        "passed_artifact_chars": sum(r.output_chars for r in results if r.passed),
        "args_chars": sum(r.args_chars for r in results),
        "receipt_chars": sum(r.receipt_chars for r in results),
        "written_chars": sum(r.written_chars for r in results),
        "saving_tokens": round(sum(r.saving for r in results)),
        "saving_positive": sum(r.saving > 0 for r in results),
        "failed_by_reason": _count(r.reason for r in results if not r.ok),
    }


def by_kind(results: list[Result]) -> list[tuple[str, dict]]:
    kinds: dict[str, list[Result]] = {}
    for r in results:
        kinds.setdefault(r.kind, []).append(r)
    return [(k, totals(v)) for k, v in sorted(kinds.items())]


def _count(items) -> dict:
    out: dict = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else f"{a}/{b}"


def summary_lines(t: dict, ratio: float) -> list[str]:
    n = t["tasks"]
    fails = ", ".join(f"{k} {v}" for k, v in sorted(t["failed_by_reason"].items())) or "none"
    return [
        f"ok {pct(t['ok'], n)} · ok and checked {pct(t['ok_checked'], n)} · "
        f"passes its test {pct(t['passed'], n)}",
        f"ok but fails its test {t['ok_but_wrong']} (checked but fails {t['checked_but_wrong']}) · "
        f"DELEGATION_FAILED: {fails}",
        f"repairs {t['repairs']} on {t['repaired_calls']} calls · escalations {t['escalations']} · "
        f"latency p50 {t['latency_ms_p50'] / 1000:.1f} s, total {t['latency_ms_total'] / 1000:.0f} s",
        f"planner characters {t['planner_chars']:,} · artifact characters delivered "
        f"{t['artifact_chars']:,}, of which pass their test {t['passed_artifact_chars']:,}",
        f"priced saving {t['saving_tokens']:+,} output tokens (price ratio {ratio:g}; "
        f"{t['saving_positive']} of {n} delegations saved anything): "
        f"(written {t['written_chars']:,} − args {t['args_chars']:,} − receipts "
        f"{t['receipt_chars']:,} / {ratio:g}) / 4",
    ]


KIND_HEAD = ["kind", "tasks", "passes its test", "repairs", "latency p50 s", "saving tok",
             "saving per task"]


def kind_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for k, t in by_kind(results) + [("**all**", totals(results))]:
        rows.append([k, str(t["tasks"]), pct(t["passed"], t["tasks"]), str(t["repairs"]),
                     f"{t['latency_ms_p50'] / 1000:.1f}", f"{t['saving_tokens']:+,}",
                     f"{t['saving_tokens'] / max(1, t['tasks']):+,.0f}"])
    return rows


def _plain_table(head: list[str], rows: list[list[str]]) -> None:
    rows = [head] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for k, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def print_text(results: list[Result], title: str, ratio: float):
    print(title)
    _plain_table(HEAD, rows_of(results))
    print()
    _plain_table(KIND_HEAD, [[c.replace("**", "") for c in row] for row in kind_rows(results)])
    print()
    for line in summary_lines(totals(results), ratio):
        print(line)
    notes = [r for r in results if not r.passed and r.detail]
    if notes:
        print("\nwhy the test failed:")
        for r in notes:
            print(f"  {r.id}: {r.detail}")


def _md_table(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for row in rows:
        print("| " + " | ".join(c.replace("|", "\\|") or " " for c in row) + " |")


def print_markdown(results: list[Result], title: str, ratio: float):
    t = totals(results)
    print(f"**{title}**\n")
    _md_table(KIND_HEAD, kind_rows(results))
    print()
    for line in summary_lines(t, ratio):
        print(f"- {line}")
    print()
    _md_table(HEAD, rows_of(results))
    notes = [r for r in results if not r.passed and r.detail]
    if notes:
        print("\nWhy the test failed:\n")
        for r in notes:
            print(f"- `{r.id}`: {r.detail.replace('|', '/')}")


def reference_tree(t: Task) -> dict[str, str]:
    """The workspace after a right answer to a `files` task: its files, with each reference entry
    either a file's whole text or `replace: [[old, new], ...]` applied to the file it had."""
    after = dict(t.workspace)
    for rel, ref in t.reference.items():
        if isinstance(ref, dict):
            text = after[rel]
            for old, new in ref["replace"]:
                assert old in text, f"{t.id}: reference replaces {old!r}, which {rel} lacks"
                text = text.replace(old, new)
            after[rel] = text
        else:
            after[rel] = ref
    return after


def wrong_answers(t: Task) -> list:
    """Answers a checker must refuse: the reference cut in half and chatter; for a `files` task,
    nothing done, each written file cut in half, and (for edits) one other line touched too."""
    if t.mode != "files":
        return [t.reference[: len(t.reference) // 2], "Sure! Here is the code you asked for.\n"]
    right = reference_tree(t)
    out = [dict(t.workspace)]
    for rel in t.reference:
        out.append(dict(right, **{rel: right[rel][: len(right[rel]) // 2]}))
    for rel in t.check.get("unchanged_except") or {}:
        lines = right[rel].splitlines(keepends=True)
        n = next(i for i, ln in enumerate(lines) if ln.strip() and not any(
            re.search(p, ln) for p in t.check["unchanged_except"][rel]))
        lines[n] = lines[n].rstrip("\n") + "  # touched\n"
        out.append(dict(right, **{rel: "".join(lines)}))
    return out


def self_test(tasks: list[Task]) -> int:
    """Judges each task's reference answer (must pass) and wrong answers (must fail)."""
    bad = 0
    for t in tasks:
        if not t.reference:
            print(f"{t.id}: no reference answer")
            bad += 1
            continue
        right = reference_tree(t) if t.mode == "files" else t.reference
        ok, detail = judge(t, right)
        wrong = [(w, judge(t, w)) for w in wrong_answers(t)]
        accepted = [w for w, (passed, _) in wrong if passed]
        status = "ok" if ok and not accepted else "BROKEN"
        bad += status != "ok"
        why = detail if not ok else (f"accepts {str(accepted[0])[:60]!r}" if accepted else "")
        print(f"{status:6} {t.id:28} {t.check['kind']:12} {why}")
    print(f"{len(tasks) - bad}/{len(tasks)} checkers accept their reference and refuse wrong answers")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repairs", type=int, help="LOCAL_EXECUTOR_REPAIRS for every call")
    ap.add_argument("--tier", choices=["quality", "fast"], help="tier for every call (default: quality)")
    ap.add_argument("--only", help="run the tasks whose id matches (glob or substring; comma list)")
    ap.add_argument("--json", type=Path, help="write every result, artifact included, to this file")
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--max-tokens", type=int, help="override every task's max_tokens")
    ap.add_argument("--timeout", type=float, default=300,
                    help="LOCAL_LLM_TIMEOUT per call, seconds (default 300)")
    ap.add_argument("--binary", default=os.environ.get("LEX_BIN")
                    or str(REPO / "target" / "release" / "local-executor-mcp"),
                    help="the binary under test (default: $LEX_BIN, else target/release)")
    ap.add_argument("--price-ratio", type=float, default=5,
                    help="the planner's output price over its input price (default 5)")
    ap.add_argument("--list", action="store_true", help="list the tasks and exit")
    ap.add_argument("--self-test", action="store_true",
                    help="no model: check that every checker accepts its task's reference answer "
                         "and refuses a wrong one, then exit")
    args = ap.parse_args()

    tasks = load_tasks(args.only)
    if args.list:
        for t in tasks:
            print(f"{t.id:28} {t.kind[:20]:20} {t.check['kind']:12} {t.task[:60]}")
        return 0
    if not tasks:
        print("no task matches", file=sys.stderr)
        return 2
    if args.self_test:
        return self_test(tasks)
    if not Path(args.binary).is_file():
        print(f"{args.binary} not found: cargo build --release (or tests/eval/run.sh)", file=sys.stderr)
        return 2

    env = dict(os.environ)
    if not env.get("LOCAL_LLM_BASE_URL"):
        env.update(start_backend())
    env["LOCAL_LLM_TEMPERATURE"] = "0"
    env["LOCAL_LLM_TIMEOUT"] = str(args.timeout)
    env.setdefault("LOCAL_EXECUTOR_LOG", "warn")
    if args.repairs is not None:
        env["LOCAL_EXECUTOR_REPAIRS"] = str(args.repairs)
    home = Path(tempfile.mkdtemp(prefix="lex-eval-home-"))
    env["LOCAL_EXECUTOR_HOME"] = str(home)

    title = (f"{len(tasks)} tasks · tier {args.tier or 'quality'} · price ratio {args.price_ratio:g} · "
             f"repairs {args.repairs if args.repairs is not None else 'default'} · "
             f"quality {env.get('LOCAL_LLM_MODEL_QUALITY', '?')}, fast {env.get('LOCAL_LLM_MODEL_FAST', '?')}")
    print(f"{title}\nusage log: {home / 'usage.jsonl'}", file=sys.stderr)
    t0 = time.monotonic()
    results = []

    def interrupt(*_):
        raise KeyboardInterrupt

    # Ctrl-C or SIGTERM ends the run early and still reports the tasks done so far.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        for i, task in enumerate(tasks, 1):
            r = (run_files_task if task.mode == "files" else run_task)(task, args, env, home)
            price(r, args.price_ratio)
            results.append(r)
            print(f"[{i}/{len(tasks)}] {task.id}: {'ok' if r.ok else r.reason}"
                  f"{' checked' if r.checked else ''}{f' · {r.repairs} repairs' if r.repairs else ''}"
                  f" · test {'pass' if r.passed else 'FAIL'}"
                  f"{' · ' + r.detail if r.detail and not r.passed else ''} · {r.latency_ms / 1000:.1f} s"
                  f" · saving {r.saving:+.0f} tok",
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"interrupted: reporting {len(results)} of {len(tasks)} tasks", file=sys.stderr)
        title = title.replace(f"{len(tasks)} tasks", f"{len(results)} of {len(tasks)} tasks (cut short)")
    if not results:
        return 130
    results.sort(key=lambda r: r.id)
    wall = time.monotonic() - t0
    title += f" · {wall / 60:.1f} min"
    if args.markdown:
        print_markdown(results, title, args.price_ratio)
    else:
        print_text(results, title, args.price_ratio)
    if args.json:
        args.json.write_text(json.dumps({
            "title": title, "wall_s": round(wall, 1), "repairs": args.repairs,
            "tier": args.tier or "quality", "price_ratio": args.price_ratio, "totals": totals(results),
            "by_kind": dict(by_kind(results)),
            "results": [asdict(r) for r in results],
        }, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
