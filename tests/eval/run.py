#!/usr/bin/env python3
"""The delegation benchmark: mechanical tasks of the kinds users delegate, each sent through the
real binary (`local-executor-mcp delegate`) to a real local model, each artifact judged by the
task's own checker. It prints figures, never a verdict: no thresholds, no exit code for a low score.

    tests/eval/run.py                       every task, the default tier, the engine's default repairs
    tests/eval/run.py --repairs 0           repairs off (LOCAL_EXECUTOR_REPAIRS=0)
    tests/eval/run.py --tier fast --only 'py_*' --json out.json --markdown

Without LOCAL_LLM_BASE_URL it starts the demo's backend (scripts/backend.sh: SmolLM2-135M as
`quality`, Gemma-3-270M as `fast`) and stops it on exit; with it, it uses that backend and the
LOCAL_LLM_MODEL_* already set. Sampling is greedy (LOCAL_LLM_TEMPERATURE=0) so a run is repeatable.

Per task it records: ok (exit 0), checked (the usage line's `checked`), whether the artifact
passes the task's own test, repairs, escalation, latency, and the planner's characters (task and
context) against the artifact's. Python 3.11, standard library plus PyYAML (task files, YAML tasks).
"""

from __future__ import annotations

import argparse
import atexit
import configparser
import csv
import fnmatch
import html.parser
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
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
    reference: str | None = None  # a right answer: --self-test checks that the checker takes it


def load_tasks(pattern: str | None) -> list[Task]:
    tasks = []
    for path in sorted(TASKS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
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
        by_kind.setdefault(t.check["kind"], []).append(t)
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
    if p.returncode == 0:
        return True, ""
    return False, _tail(p.stdout + "\n" + p.stderr)


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


def check_csv(art: str, spec: dict, tmp: Path):
    """Parse with the csv module; rows (header first) must equal `expected`, cells trimmed."""
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(art.strip())) if r]
    want = [[str(c) for c in r] for r in spec["expected"]]
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
}


def judge(task: Task, artifact: str) -> tuple[bool, str]:
    kind = task.check["kind"]
    with tempfile.TemporaryDirectory(prefix="lex-eval-") as d:
        try:
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


def start_backend() -> dict[str, str]:
    """Starts the demo's backend with scripts/backend.sh and returns the env it prints; stops it
    at exit (also on Ctrl-C and SIGTERM)."""
    env = dict(os.environ)
    env.setdefault("LEX_BACKEND_STATE", str(REPO / ".cache" / "backend-eval"))
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
    if r.ok:
        r.artifact = p.stdout
        r.passed, r.detail = judge(task, p.stdout)
    else:
        r.detail = r.footer[:200]
    return r


# --------------------------------------------------------------------------------------------
# Reporting


def yes(b: bool) -> str:
    return "✔" if b else "✘"


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
            str(r.planner_chars),
            str(r.output_chars),
        ])
    return rows


HEAD = ["task", "result", "checked", "test", "repairs", "escalated", "latency s", "planner ch",
        "artifact ch"]


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
        "failed_by_reason": _count(r.reason for r in results if not r.ok),
    }


def _count(items) -> dict:
    out: dict = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else f"{a}/{b}"


def summary_lines(t: dict) -> list[str]:
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
    ]


def print_text(results: list[Result], title: str):
    rows = [HEAD] + rows_of(results)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    print(title)
    for k, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for line in summary_lines(totals(results)):
        print(line)
    notes = [r for r in results if not r.passed and r.detail]
    if notes:
        print("\nwhy the test failed:")
        for r in notes:
            print(f"  {r.id}: {r.detail}")


def print_markdown(results: list[Result], title: str):
    t = totals(results)
    n = t["tasks"]
    print(f"**{title}**\n")
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(HEAD) - 1)) + "|")
    for row in rows_of(results):
        print("| " + " | ".join(c.replace("|", "\\|") or " " for c in row) + " |")
    print(f"| **total** | ok {t['ok']}/{n} | {t['ok_checked']} | {t['passed']} | {t['repairs']} | "
          f"{t['escalations']} | p50 {t['latency_ms_p50'] / 1000:.1f} | {t['planner_chars']:,} | "
          f"{t['artifact_chars']:,} |")
    print()
    for line in summary_lines(t):
        print(f"- {line}")


def self_test(tasks: list[Task]) -> int:
    """Judges each task's reference answer (must pass) and two wrong answers (must fail): the
    reference cut in half, and a sentence of chatter instead of an artifact."""
    bad = 0
    for t in tasks:
        if not t.reference:
            print(f"{t.id}: no reference answer")
            bad += 1
            continue
        ok, detail = judge(t, t.reference)
        half = t.reference[: len(t.reference) // 2]
        wrong = [(w, judge(t, w)) for w in (half, "Sure! Here is the code you asked for.\n")]
        accepted = [w for w, (passed, _) in wrong if passed]
        status = "ok" if ok and not accepted else "BROKEN"
        bad += status != "ok"
        why = detail if not ok else (f"accepts {accepted[0][:40]!r}" if accepted else "")
        print(f"{status:6} {t.id:24} {t.check['kind']:12} {why}")
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
    ap.add_argument("--list", action="store_true", help="list the tasks and exit")
    ap.add_argument("--self-test", action="store_true",
                    help="no model: check that every checker accepts its task's reference answer "
                         "and refuses a wrong one, then exit")
    args = ap.parse_args()

    tasks = load_tasks(args.only)
    if args.list:
        for t in tasks:
            print(f"{t.id:24} {t.language:11} {t.check['kind']:12} {t.task[:70]}")
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

    title = (f"{len(tasks)} tasks · tier {args.tier or 'quality'} · "
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
            r = run_task(task, args, env, home)
            results.append(r)
            print(f"[{i}/{len(tasks)}] {task.id}: {'ok' if r.ok else r.reason}"
                  f"{' checked' if r.checked else ''}{f' · {r.repairs} repairs' if r.repairs else ''}"
                  f" · test {'pass' if r.passed else 'FAIL'}"
                  f"{' · ' + r.detail if r.detail and not r.passed else ''} · {r.latency_ms / 1000:.1f} s",
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
        print_markdown(results, title)
    else:
        print_text(results, title)
    if args.json:
        args.json.write_text(json.dumps({
            "title": title, "wall_s": round(wall, 1), "repairs": args.repairs,
            "tier": args.tier or "quality", "totals": totals(results),
            "results": [asdict(r) for r in results],
        }, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
