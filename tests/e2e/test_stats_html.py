"""`stats --html` opened in a real browser: Debian's Chromium, driven by playwright-core
(tests/e2e/open_page.cjs). No model backend is involved: the usage log is generated here, six
weeks of a small team, the same on every run. The test checks that the page loads with no console
error and no request (it is self-contained), that its headline is the figure `stats --json` gives,
that every chart is drawn with its title and table; and it keeps a screenshot in
.cache/e2e-artifacts/stats.png (docs/stats-html.png is a copy of it)."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from pathlib import Path

import pytest

from support import NPM_BIN, REPO, full_env, run

CHROMIUM = Path(os.environ.get("LEX_CHROMIUM") or "/usr/bin/chromium")
ARTIFACTS = REPO / ".cache" / "e2e-artifacts"
CHARTS = {"trend", "outcomes-time", "outcomes-model", "outcomes-tier", "checks-language", "latency-model", "on-disk"}


def team_log(path: Path) -> int:
    """Six weeks of a team's delegations, from small inline snippets (which lose money) towards
    files, edits and scaffolds written to disk (which save it), on a quality and a fast model."""
    rnd = random.Random(20)
    start = dt.datetime(2026, 10, 19, 8, 0, tzinfo=dt.timezone.utc)
    lines = []
    for day in range(42):
        weekend = (start + dt.timedelta(days=day)).weekday() >= 5
        calls = rnd.randint(0, 4) if weekend else rnd.randint(14, 26)
        learned = day / 41  # how far the team has learned what pays
        for i in range(calls):
            ts = start + dt.timedelta(days=day, minutes=i * 19 + rnd.randint(0, 9))
            fast = rnd.random() < 0.35
            model = "gemma-3-270m" if fast else "qwen2.5-coder-0.5b"
            lang = rnd.choice(["python", "python", "typescript", "rust", "yaml", "json", "markdown"])
            kind = rnd.random()
            to_disk = kind < 0.05 + 0.6 * learned
            fail_p = (0.3 if fast else 0.16) - 0.08 * learned
            ok = rnd.random() >= fail_p
            reason = None if ok else rnd.choice(["invalid_output", "invalid_output", "timeout", "truncated", "unreachable"])
            checks = [] if lang == "markdown" else [{"name": f"{lang} syntax", "verdict": "pass" if ok else "fail"}]
            repairs = 0 if not checks else (rnd.choice([0, 0, 0, 1, 2]) if ok else 2)
            artifact = rnd.randint(2500, 9000) if to_disk else rnd.randint(300, 1500)
            planner = rnd.randint(250, 700) if to_disk else rnd.randint(150, 400)
            line = {
                "v": 2, "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "tool": "delegate_files" if to_disk and kind < 0.15 else "delegate_code",
                "tier": "fast" if fast else "quality", "model": model, "ok": ok,
                "prompt_tokens": rnd.randint(200, 2000), "completion_tokens": artifact // 4 * (1 + repairs),
                "usage_estimated": True,
                "latency_ms": int(rnd.lognormvariate(8.3 if fast else 9.1, 0.5)) + (0 if reason != "timeout" else 300_000),
                "first_token_ms": rnd.randint(90, 400) if fast else rnd.randint(300, 1500),
                "finish_reason": "length" if reason == "truncated" else "stop",
                "output_chars": artifact if ok else 0, "planner_chars": planner,
                "result_chars": rnd.randint(150, 320) if (to_disk or not ok) else artifact + 60,
                "context_bytes": 0, "attempts": 1, "client": rnd.choice(["claude-code", "claude-code", "codex"]),
                "language": lang, "checks": checks, "checked": ok and bool(checks), "repairs": repairs,
                "disk_chars": artifact if ok and to_disk else 0,
            }
            if reason:
                line["reason"] = reason
            if to_disk and ok:
                line["output_path"] = f"src/m{day}_{i}.{lang[:2]}"
            lines.append(json.dumps(line))
        if day % 5 == 0:
            lines.append(json.dumps({"v": 2, "ts": (start + dt.timedelta(days=day, hours=9)).isoformat().replace("+00:00", "Z"),
                                     "tool": "list_local_models", "ok": True, "result_chars": 140, "latency_ms": 12}))
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def thousands(n: int) -> str:
    return f"{n:,}"


def dollars(v: float) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}${v:.2f}" if v >= 1 else f"{sign}${v:.4f}"


@pytest.fixture(scope="module")
def browser() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.exit(f"{CHROMIUM} is missing: tests/e2e/run.sh installs Debian's chromium", returncode=4)
    modules = NPM_BIN.parent
    if not (modules / "playwright-core").is_dir():
        pytest.exit(f"playwright-core is missing in {modules}: tests/e2e/run.sh installs the npm clients", returncode=4)
    return modules


def open_page(modules: Path, page: Path, shot: Path, tmp_path: Path) -> dict:
    profile = tmp_path / "chromium-profile"
    p = run(["node", str(REPO / "tests" / "e2e" / "open_page.cjs"), str(page), str(shot), str(profile)],
            full_env({"NODE_PATH": str(modules), "LEX_CHROMIUM": str(CHROMIUM)}))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_stats_html_opens_in_chromium_and_shows_the_json_figures(binary, browser, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    team_log(home / "usage.jsonl")
    env = full_env({"LOCAL_EXECUTOR_HOME": str(home)})
    p = run([str(binary), "stats", "--json"], env)
    assert p.returncode == 0, p.stderr
    savings = json.loads(p.stdout)["savings"]
    page = tmp_path / "stats.html"
    p = run([str(binary), "stats", "--html", str(page)], env)
    assert p.returncode == 0, p.stderr
    assert page.stat().st_size < 300 * 1024

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "stats.png"
    report = open_page(browser, page, shot, tmp_path)

    assert report["console_errors"] == [], report["console_errors"]
    assert report["page_errors"] == [], report["page_errors"]
    # The page itself and nothing else: no script, style sheet, font or image fetched.
    assert report["requests"] == [page.resolve().as_uri()], report["requests"]
    assert report["headline"] == (
        f"{thousands(savings['priced_net_tokens'])} output tokens' worth, {dollars(savings['priced_usd'])}"
    )
    assert report["formula"] == savings["formula"]
    assert savings["priced_net_tokens"] > 0, "the generated team learned what pays"
    figures = {f["id"]: f for f in report["figures"]}
    assert set(figures) == CHARTS
    for f in figures.values():
        assert f["svg"] and f["width"] > 300 and f["height"] > 100, f
        assert f["marks"] > 0 and f["labelled_by_title"], f
        assert f["title"] and f["title"].endswith("."), f
        assert f["axis_titles"] and all(a for a in f["axis_titles"]), f
        assert f["table_rows"] > 0, f
    assert figures["latency-model"]["axis_titles"] == ["seconds (s)"]
    assert figures["trend"]["axis_titles"] == ["day (UTC), 2026-10-19 to 2026-11-29", "output tokens' worth"]
    assert figures["trend"]["table_rows"] == 42
    assert shot.stat().st_size > 10_000


def test_stats_html_of_an_empty_log_says_so_in_the_browser(binary, browser, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "usage.jsonl").write_text("")
    page = tmp_path / "empty.html"
    p = run([str(binary), "stats", "--html", str(page)], full_env({"LOCAL_EXECUTOR_HOME": str(home)}))
    assert p.returncode == 0, p.stderr
    report = open_page(browser, page, tmp_path / "empty.png", tmp_path)
    assert report["console_errors"] == [] and report["page_errors"] == [], report
    assert report["empty"] == "No delegations recorded yet."
    assert report["figures"] == [] and report["headline"] is None


if __name__ == "__main__":
    # `python tests/e2e/test_stats_html.py LOG` writes the generated log, for a look by hand.
    import sys

    print(team_log(Path(sys.argv[1])), "lines")
