//! `stats` over fixture usage logs: the real binary, a temp home holding the fixture as its
//! usage.jsonl, and the exact stdout and exit code. The numbers in the expectations are worked
//! out by hand from the fixtures in `tests/fixtures/usage/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_local-executor-mcp")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/usage")
        .join(name)
}

/// A temp home whose usage.jsonl is a copy of `fixture` (none when `None`).
fn home_with(fixture_name: Option<&str>) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    if let Some(name) = fixture_name {
        std::fs::copy(fixture(name), home.path().join("usage.jsonl")).unwrap();
    }
    home
}

fn stats(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let workspace = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOCAL_EXECUTOR_HOME", home)
        .env("LOCAL_EXECUTOR_WORKSPACE", workspace.path())
        .env("LOCAL_EXECUTOR_LOG", "warn")
        .arg("stats")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn usage_path(home: &tempfile::TempDir) -> String {
    home.path().join("usage.jsonl").display().to_string()
}

#[test]
fn stats_on_an_empty_or_missing_log_reports_no_delegations() {
    for fixture_name in [Some("empty.jsonl"), None] {
        let home = home_with(fixture_name);
        let out = stats(home.path(), &[], &[]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            stdout(&out),
            format!(
                "usage log: {}\n0 calls\n\nNo delegations recorded yet.\n",
                usage_path(&home)
            )
        );
    }
}

#[test]
fn stats_tables_a_week_by_tier_and_model_with_the_savings_estimate() {
    let home = home_with(Some("week.jsonl"));
    let out = stats(home.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let expected = format!(
        "usage log: {}
11 calls · 2026-11-01T09:00:00Z to 2026-11-03T12:00:00Z

delegations: 9 · ok 5 (55.6%) · DELEGATION_FAILED 4 (fallback rate 44.4%): bad_request 1, timeout 1, truncated 1, unreachable 1
local completion tokens: 2,474 (estimated by the server on 3 calls)
latency: p50 4.0 s, p95 300.0 s · first token: p50 500 ms
other calls: list_local_models 2

tier     calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
quality      6   4       2     33.3%    2,424    4.0 s   30.0 s   600 ms   1,170  truncated 1, unreachable 1
fast         3   1       2     66.7%       50    1.0 s  300.0 s   100 ms    -105  bad_request 1, timeout 1

model            calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
qwen3-coder-30b      6   4       2     33.3%    2,424    4.0 s   30.0 s   600 ms   1,170  truncated 1, unreachable 1
smollm2-135m         2   1       1     50.0%       50    1.0 s  300.0 s   100 ms      20  timeout 1
(none)               1   0       1    100.0%        0     0 ms     0 ms        -    -125  bad_request 1

estimated savings (an estimate, not a measurement):
  frontier output tokens avoided: 1,065 net = 1,480 of artifacts the planner did not write - 415 it wrote to make the calls
  at $15.00 per million frontier output tokens (--price-per-mtok): $0.0160
  planner input tokens read in results: 967 (input, priced lower; not in the figures above)
  method: tokens = chars / 4; ok delegations save their artifact (output chars), every delegation costs the planner its arguments (planner chars); failed ones count negative
",
        usage_path(&home)
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn stats_skips_and_counts_malformed_lines() {
    let home = home_with(Some("malformed.jsonl"));
    let out = stats(home.path(), &["--by", "model"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // 12 lines: 2 blank, 7 unreadable (not JSON, torn, wrong type, no ts, bad ts, an array,
    // invalid UTF-8), 3 records; the last has no newline and a reason from a newer version.
    let expected = format!(
        "usage log: {}
3 calls · 2026-11-05T10:00:00Z to 2026-11-05T10:05:00Z · 7 malformed lines skipped

delegations: 3 · ok 2 (66.7%) · DELEGATION_FAILED 1 (fallback rate 33.3%): rate_limited 1
local completion tokens: 80
latency: p50 1.5 s, p95 2.5 s · first token: p50 200 ms

model         calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
gemma-3-270m      3   2       1     33.3%       80    1.5 s    2.5 s   200 ms      35  rate_limited 1

estimated savings (an estimate, not a measurement):
  frontier output tokens avoided: 35 net = 80 of artifacts the planner did not write - 45 it wrote to make the calls
  at $15.00 per million frontier output tokens (--price-per-mtok): $0.0005
  planner input tokens read in results: 145 (input, priced lower; not in the figures above)
  method: tokens = chars / 4; ok delegations save their artifact (output chars), every delegation costs the planner its arguments (planner chars); failed ones count negative
",
        usage_path(&home)
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn stats_by_day_since_a_date_drops_the_days_before() {
    let home = home_with(Some("week.jsonl"));
    let out = stats(home.path(), &["--since", "2026-11-02", "--by", "day"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let expected = format!(
        "usage log: {}
8 calls · 2026-11-02T08:00:00Z to 2026-11-03T12:00:00Z · since 2026-11-02T00:00:00Z

delegations: 6 · ok 2 (33.3%) · DELEGATION_FAILED 4 (fallback rate 66.7%): bad_request 1, timeout 1, truncated 1, unreachable 1
local completion tokens: 1,824 (estimated by the server on 2 calls)
latency: p50 2.0 s, p95 300.0 s · first token: p50 600 ms
other calls: list_local_models 2

day         calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
2026-11-02      3   1       2     66.7%    1,724   30.0 s  300.0 s   600 ms     580  timeout 1, truncated 1
2026-11-03      3   1       2     66.7%      100    50 ms    2.0 s   400 ms     -75  bad_request 1, unreachable 1

estimated savings (an estimate, not a measurement):
  frontier output tokens avoided: 505 net = 830 of artifacts the planner did not write - 325 it wrote to make the calls
  at $15.00 per million frontier output tokens (--price-per-mtok): $0.0076
  planner input tokens read in results: 252 (input, priced lower; not in the figures above)
  method: tokens = chars / 4; ok delegations save their artifact (output chars), every delegation costs the planner its arguments (planner chars); failed ones count negative
",
        usage_path(&home)
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn stats_since_a_duration_counts_back_from_now() {
    let home = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let at = |ago_h: u64| {
        humantime::format_rfc3339_millis(now - Duration::from_secs(ago_h * 3600)).to_string()
    };
    let lines: Vec<String> = [(1, true), (30, false), (24 * 8, true)]
        .iter()
        .map(|(ago, ok)| {
            json!({"v": 1, "ts": at(*ago), "tool": "delegate_code", "tier": "quality",
                   "model": "m", "ok": ok, "reason": if *ok { Value::Null } else { "empty".into() },
                   "latency_ms": 100})
            .to_string()
        })
        .collect();
    std::fs::write(home.path().join("usage.jsonl"), lines.join("\n") + "\n").unwrap();
    let calls = |since: &str| -> (u64, u64) {
        let out = stats(home.path(), &["--since", since, "--json"], &[]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["total"]["calls"].as_u64().unwrap(),
            v["total"]["ok"].as_u64().unwrap(),
        )
    };
    assert_eq!(calls("24h"), (1, 1));
    assert_eq!(calls("7d"), (2, 1));
    assert_eq!(calls("30d"), (3, 2));
    assert_eq!(calls("90m"), (1, 1));
}

#[test]
fn stats_refuses_a_since_it_cannot_read() {
    let home = home_with(Some("week.jsonl"));
    let out = stats(home.path(), &["--since", "last tuesday"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "local-executor-mcp: --since `last tuesday` is neither a duration (7d, 24h, 90m), a date (2026-11-01) nor an RFC 3339 time\n"
    );
}

#[test]
fn stats_json_has_the_documented_shape() {
    let home = home_with(Some("week.jsonl"));
    let out = stats(home.path(), &["--json", "--by", "client"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let method = "tokens = chars / 4; ok delegations save their artifact (output chars), every \
                  delegation costs the planner its arguments (planner chars); failed ones count negative";
    assert_eq!(
        v,
        json!({
            "schema": 1,
            "file": usage_path(&home),
            "since": null,
            "first_ts": "2026-11-01T09:00:00Z",
            "last_ts": "2026-11-03T12:00:00Z",
            "lines": 11,
            "malformed": 0,
            "calls": 11,
            "other_calls": {"list_local_models": 2},
            "total": {
                "calls": 9, "ok": 5, "failed": 4,
                "failed_by_reason": {"bad_request": 1, "timeout": 1, "truncated": 1, "unreachable": 1},
                "fallback_rate": 4.0 / 9.0,
                "completion_tokens": 2474, "usage_estimated_calls": 3,
                "latency_ms": {"p50": 4000, "p95": 300000},
                "first_token_ms": {"p50": 500},
                "artifact_tokens": 1480, "planner_tokens": 415, "net_tokens": 1065
            },
            "groups": {"client": [
                {"key": "claude-code", "calls": 6, "ok": 3, "failed": 3,
                 "failed_by_reason": {"bad_request": 1, "truncated": 1, "unreachable": 1},
                 "fallback_rate": 0.5, "completion_tokens": 1674, "usage_estimated_calls": 2,
                 "latency_ms": {"p50": 1000, "p95": 30000}, "first_token_ms": {"p50": 500},
                 "artifact_tokens": 650, "planner_tokens": 315, "net_tokens": 335},
                {"key": "codex", "calls": 2, "ok": 1, "failed": 1,
                 "failed_by_reason": {"timeout": 1},
                 "fallback_rate": 0.5, "completion_tokens": 700, "usage_estimated_calls": 1,
                 "latency_ms": {"p50": 12000, "p95": 300000}, "first_token_ms": {"p50": 900},
                 "artifact_tokens": 740, "planner_tokens": 85, "net_tokens": 655},
                {"key": "cli", "calls": 1, "ok": 1, "failed": 0,
                 "failed_by_reason": {},
                 "fallback_rate": 0.0, "completion_tokens": 100, "usage_estimated_calls": 0,
                 "latency_ms": {"p50": 2000, "p95": 2000}, "first_token_ms": {"p50": 400},
                 "artifact_tokens": 90, "planner_tokens": 15, "net_tokens": 75}
            ]},
            "savings": {
                "estimate": true,
                "method": method,
                "price_per_mtok_usd": 15.0,
                "artifact_tokens": 1480,
                "planner_tokens": 415,
                "net_tokens": 1065,
                "usd": 1065.0 * 15.0 / 1_000_000.0,
                "result_tokens": 967
            }
        })
    );
}

#[test]
fn stats_json_of_an_empty_log_keeps_the_shape_with_zeros_and_nulls() {
    let home = home_with(Some("empty.jsonl"));
    let out = stats(home.path(), &["--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls"], 0);
    assert_eq!(v["first_ts"], Value::Null);
    assert_eq!(
        v["total"],
        json!({"calls": 0, "ok": 0, "failed": 0, "failed_by_reason": {}, "fallback_rate": null,
               "completion_tokens": 0, "usage_estimated_calls": 0,
               "latency_ms": {"p50": null, "p95": null}, "first_token_ms": {"p50": null},
               "artifact_tokens": 0, "planner_tokens": 0, "net_tokens": 0})
    );
    assert_eq!(v["groups"], json!({"tier": [], "model": []}));
    assert_eq!(v["savings"]["usd"], 0.0);
}

#[test]
fn stats_prices_the_savings_from_the_environment() {
    let home = home_with(Some("week.jsonl"));
    let out = stats(
        home.path(),
        &["--json"],
        &[("LOCAL_EXECUTOR_PRICE_PER_MTOK", "75")],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["savings"]["price_per_mtok_usd"], 75.0);
    assert_eq!(v["savings"]["usd"], 1065.0 * 75.0 / 1_000_000.0);
    let out = stats(home.path(), &["--price-per-mtok", "-1"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stats_streams_a_large_log() {
    let home = tempfile::tempdir().unwrap();
    let line = json!({"v": 1, "ts": "2026-11-01T09:00:00.000Z", "tool": "delegate_code",
                      "tier": "fast", "model": "m", "ok": true, "completion_tokens": 3,
                      "latency_ms": 7, "output_chars": 8, "planner_chars": 4})
    .to_string();
    let n = 200_000;
    let mut text = String::with_capacity((line.len() + 1) * n);
    for _ in 0..n {
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(home.path().join("usage.jsonl"), text).unwrap();
    let out = stats(home.path(), &["--json"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls"], n);
    assert_eq!(v["total"]["completion_tokens"], 3 * n);
    assert_eq!(v["savings"]["net_tokens"], n);
}
