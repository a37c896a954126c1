"""The README's first command, `examples/demo.sh`, run as written on the suite's binary: its own
model server (the coder model as `quality`, SmolLM2 as `fast`, as a user gets it) on a free port
and in its own state folder, so the suite's backend is untouched; every step ends in its outcome
line, the demo's own tests of the artifacts pass, and the final `stats` counts the calls."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from support import REPO

# The demo on a warm machine takes about 2 minutes on two cores; the first SmolLM2 download and a
# loaded machine add to that. A bound, not a measure.
DEMO_BOUND = 1500

STEPS = [
    "1. list_local_models",
    "2. local-executor-mcp delegate",
    "3. delegate_files: a new file lands",
    "4. delegate_files: an edit of an existing file",
    "5. a check at work",
    "6. local-executor-mcp stats",
]


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_the_demo_runs_as_the_readme_says(binary: Path, tmp_path: Path):
    env = {
        k: v
        for k, v in os.environ.items()
        # The suite's own settings are not a user's: the demo picks its own models and server.
        if not k.startswith(("LOCAL_LLM_", "LOCAL_EXECUTOR_", "LEX_"))
    }
    env.update(
        LEX_BIN=str(binary),
        LEX_PORT="0",
        LEX_BACKEND_STATE=str(tmp_path / "backend"),
    )
    # The npm cache the suite set up, so the Inspector is not fetched again.
    if "npm_config_cache" in os.environ:
        env["npm_config_cache"] = os.environ["npm_config_cache"]
    run = subprocess.run(
        [str(REPO / "examples" / "demo.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_BOUND,
    )
    out = _plain(run.stdout)
    assert run.returncode == 0, f"exit {run.returncode}\n{out[-3000:]}\n{run.stderr[-3000:]}"
    # Each step, in order, and after each delegation its outcome line.
    at = [out.find(s) for s in STEPS]
    assert all(i >= 0 for i in at) and at == sorted(at), out
    outcomes = re.findall(r"^→ (.*)$", out, re.M)
    assert len(outcomes) >= 4, out
    # The coder model's artifacts of steps 2 to 4 pass the demo's own tests.
    for what in ("is_palindrome(", "median(", "line_total and cart_total have docstrings"):
        assert any(o.startswith("the demo's own test passes: " + what) for o in outcomes), out
    assert not any("FAILS" in o for o in outcomes), out
    # Step 5: the weak model's answers fail the configured test, go back to it, and the call is
    # escalated; the quality model's answer passes the test.
    assert "→ escalated to quality → ok" in out[at[4]:at[5]], out[at[4]:at[5]]
    # Step 4 is an edit: the planner saw a diff.
    assert "edited shop.py" in out, out
    # The final stats count the demo's calls and show what they saved.
    stats = out[at[5]:]
    assert re.search(r"\b[4-9] calls?\b|\b[4-9] delegations?\b", stats), stats
    # The demo stopped its server: nothing is left listening in its state folder.
    pid_file = tmp_path / "backend" / "server.pid"
    assert not pid_file.exists() or not _alive(int(pid_file.read_text().strip() or 0))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
