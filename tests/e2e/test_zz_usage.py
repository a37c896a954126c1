"""Runs last (pytest takes the files in name order): every tool call the suite made left its one
usage line, and usage.jsonl has no torn line, although several server processes appended to it
at once."""

from __future__ import annotations

import json
from collections import Counter

import pytest

ALWAYS = ("v", "ts", "tool", "ok", "prompt_tokens", "completion_tokens", "usage_estimated", "latency_ms",
          "output_chars", "planner_chars", "attempts")


def test_every_call_left_one_whole_usage_line(usage_file, ledger):
    if not ledger.entries:
        pytest.skip("no tool call was made in this run (run the whole suite)")
    raw = usage_file.read_bytes()
    assert raw.endswith(b"\n"), "the last line is torn"
    lines = raw.decode("utf-8").split("\n")[:-1]
    records = []
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            pytest.fail(f"line {n} is torn or not JSON ({e}): {line[:200]!r}")
        assert isinstance(rec, dict), line
        missing = [k for k in ALWAYS if k not in rec]
        assert not missing, f"line {n} lacks {missing}: {line}"
        if not rec["ok"]:
            assert rec.get("reason"), f"line {n}: a failure without a reason: {line}"
        if rec["ok"] and rec["tool"] in ("delegate_code", "delegate"):
            for k in ("tier", "model", "finish_reason", "first_token_ms"):
                assert k in rec, f"line {n}: a delegation without {k}: {line}"
            assert rec["completion_tokens"] > 0, line
        records.append(rec)

    actual = Counter((r["tool"], r["ok"], r.get("reason")) for r in records)
    expected = Counter((tool, ok, reason) for tool, ok, reason, _ in ledger.entries)
    assert actual == expected, f"usage lines {dict(actual)} != calls made {dict(expected)}"
    with_client = Counter((t, ok, r, c) for t, ok, r, c in ledger.entries if c is not None)
    actual_with_client = Counter((r["tool"], r["ok"], r.get("reason"), r.get("client")) for r in records)
    missing = with_client - actual_with_client
    assert not missing, f"calls without their usage line (tool, ok, reason, client): {dict(missing)}"
