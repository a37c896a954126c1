"""`doctor` and `stats --json` against the real backend."""

from __future__ import annotations

import json

from support import full_env, run, usage_lines


def test_doctor_passes_against_the_real_backend(binary, server_env, tmp_path):
    # Its own home: doctor's test generation must not add to the suite's usage ledger.
    env = full_env({**server_env, "LOCAL_EXECUTOR_HOME": str(tmp_path / "home")})
    p = run([str(binary), "doctor"], env)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "✘" not in out, out
    assert f"✔ quality model {server_env['LOCAL_LLM_MODEL_QUALITY']} is served" in out, out
    assert "✔ test generation on quality" in out, out
    assert "claude mcp add local-executor" in out, out


def test_doctor_fails_when_the_backend_is_unreachable(binary, server_env, tmp_path):
    env = full_env(
        {**server_env, "LOCAL_EXECUTOR_HOME": str(tmp_path / "home"), "LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1",
         "LOCAL_LLM_CONNECT_TIMEOUT": "2"}
    )
    p = run([str(binary), "doctor"], env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "✘ backend at http://127.0.0.1:9/v1 does not answer" in p.stdout + p.stderr


def test_stats_json_counts_the_calls(binary, server_env, usage_file):
    p = run([str(binary), "stats", "--json"], full_env(server_env))
    assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout)
    assert stats["schema"] == 3
    assert stats["malformed"] == 0
    assert stats["calls"] == len(usage_lines(usage_file)), stats
