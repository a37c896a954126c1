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
quality      6   4       2     33.3%    2,424    4.0 s   30.0 s   600 ms     480  truncated 1, unreachable 1
fast         3   1       2     66.7%       50    1.0 s  300.0 s   100 ms    -155  bad_request 1, timeout 1

model            calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
qwen3-coder-30b      6   4       2     33.3%    2,424    4.0 s   30.0 s   600 ms     480  truncated 1, unreachable 1
smollm2-135m         2   1       1     50.0%       50    1.0 s  300.0 s   100 ms     -30  timeout 1
(none)               1   0       1    100.0%        0     0 ms     0 ms        -    -125  bad_request 1

estimated savings (an estimate, not a measurement):
  frontier output tokens avoided: 325 net = 740 of artifacts that landed on disk - 415 the planner wrote to make the calls
  at $15.00 per million frontier output tokens (--price-per-mtok): $0.0049
  inline artifacts: 740 tokens, saved only if not re-typed (not in the figures above)
  planner input tokens read in results: 967 (input, priced lower; not in the figures above)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every delegation costs the planner its arguments (planner chars), so failed ones count negative
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
    // 14 lines: 2 blank, 9 unreadable (not JSON, torn, wrong type, no ts, bad ts, an array,
    // invalid UTF-8, two ts with a non-ASCII character in the offset), 3 records; the last has
    // no newline and a reason from a newer version.
    let expected = format!(
        "usage log: {}
3 calls · 2026-11-05T10:00:00Z to 2026-11-05T10:05:00Z · 9 malformed lines skipped

delegations: 3 · ok 2 (66.7%) · DELEGATION_FAILED 1 (fallback rate 33.3%): rate_limited 1
local completion tokens: 80
latency: p50 1.5 s, p95 2.5 s · first token: p50 200 ms

model         calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
gemma-3-270m      3   2       1     33.3%       80    1.5 s    2.5 s   200 ms     -45  rate_limited 1

estimated savings (an estimate, not a measurement):
  frontier output tokens avoided: -45 net = 0 of artifacts that landed on disk - 45 the planner wrote to make the calls
  at $15.00 per million frontier output tokens (--price-per-mtok): -$0.0007
  inline artifacts: 80 tokens, saved only if not re-typed (not in the figures above)
  planner input tokens read in results: 145 (input, priced lower; not in the figures above)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every delegation costs the planner its arguments (planner chars), so failed ones count negative
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
2026-11-03      3   1       2     66.7%      100    50 ms    2.0 s   400 ms    -165  bad_request 1, unreachable 1

estimated savings (an estimate, not a measurement):
  frontier output tokens avoided: 415 net = 740 of artifacts that landed on disk - 325 the planner wrote to make the calls
  at $15.00 per million frontier output tokens (--price-per-mtok): $0.0062
  inline artifacts: 90 tokens, saved only if not re-typed (not in the figures above)
  planner input tokens read in results: 252 (input, priced lower; not in the figures above)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every delegation costs the planner its arguments (planner chars), so failed ones count negative
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

/// A v1 row's keys for checks, repairs and multi-file calls: none of them happened.
fn with_no_checks(mut row: Value) -> Value {
    let ok = row["ok"].as_u64().unwrap();
    let extra = json!({
        "checked_calls": 0, "check_failed": 0, "check_failure_rate": null,
        "ok_checked": 0, "checked_share": if ok > 0 { json!(0.0) } else { Value::Null },
        "repaired_calls": 0, "repaired_ok": 0, "repairs": 0, "repair_rate": null,
        "escalated": 0, "multi_file_calls": 0, "files": 0, "files_failed": 0
    });
    for (k, v) in extra.as_object().unwrap() {
        row[k] = v.clone();
    }
    row
}

#[test]
fn stats_json_has_the_documented_shape() {
    let home = home_with(Some("week.jsonl"));
    let out = stats(home.path(), &["--json", "--by", "client"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let method = "tokens = chars / 4; artifacts that landed on disk (written files, added lines of \
                  edits) save their characters; inline artifacts are not counted, since a planner \
                  that re-types one into a file pays it twice; every delegation costs the planner \
                  its arguments (planner chars), so failed ones count negative";
    assert_eq!(
        v,
        json!({
            "schema": 2,
            "file": usage_path(&home),
            "since": null,
            "first_ts": "2026-11-01T09:00:00Z",
            "last_ts": "2026-11-03T12:00:00Z",
            "lines": 11,
            "malformed": 0,
            "calls": 11,
            "other_calls": {"list_local_models": 2},
            "total": with_no_checks(json!({
                "calls": 9, "ok": 5, "failed": 4,
                "failed_by_reason": {"bad_request": 1, "timeout": 1, "truncated": 1, "unreachable": 1},
                "fallback_rate": 4.0 / 9.0,
                "completion_tokens": 2474, "usage_estimated_calls": 3,
                "latency_ms": {"p50": 4000, "p95": 300000},
                "first_token_ms": {"p50": 500},
                "artifact_tokens": 740, "planner_tokens": 415, "net_tokens": 325,
                "inline_tokens": 740
            })),
            "groups": {"client": [
                with_no_checks(json!({"key": "claude-code", "calls": 6, "ok": 3, "failed": 3,
                 "failed_by_reason": {"bad_request": 1, "truncated": 1, "unreachable": 1},
                 "fallback_rate": 0.5, "completion_tokens": 1674, "usage_estimated_calls": 2,
                 "latency_ms": {"p50": 1000, "p95": 30000}, "first_token_ms": {"p50": 500},
                 "artifact_tokens": 0, "planner_tokens": 315, "net_tokens": -315,
                 "inline_tokens": 650})),
                with_no_checks(json!({"key": "codex", "calls": 2, "ok": 1, "failed": 1,
                 "failed_by_reason": {"timeout": 1},
                 "fallback_rate": 0.5, "completion_tokens": 700, "usage_estimated_calls": 1,
                 "latency_ms": {"p50": 12000, "p95": 300000}, "first_token_ms": {"p50": 900},
                 "artifact_tokens": 740, "planner_tokens": 85, "net_tokens": 655,
                 "inline_tokens": 0})),
                with_no_checks(json!({"key": "cli", "calls": 1, "ok": 1, "failed": 0,
                 "failed_by_reason": {},
                 "fallback_rate": 0.0, "completion_tokens": 100, "usage_estimated_calls": 0,
                 "latency_ms": {"p50": 2000, "p95": 2000}, "first_token_ms": {"p50": 400},
                 "artifact_tokens": 0, "planner_tokens": 15, "net_tokens": -15,
                 "inline_tokens": 90}))
            ]},
            "checks": {"language": [], "model": []},
            "savings": {
                "estimate": true,
                "method": method,
                "price_per_mtok_usd": 15.0,
                "artifact_tokens": 740,
                "planner_tokens": 415,
                "net_tokens": 325,
                "usd": 325.0 * 15.0 / 1_000_000.0,
                "inline_tokens": 740,
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
        with_no_checks(
            json!({"calls": 0, "ok": 0, "failed": 0, "failed_by_reason": {},
               "fallback_rate": null, "completion_tokens": 0, "usage_estimated_calls": 0,
               "latency_ms": {"p50": null, "p95": null}, "first_token_ms": {"p50": null},
               "artifact_tokens": 0, "planner_tokens": 0, "net_tokens": 0, "inline_tokens": 0})
        )
    );
    assert_eq!(v["groups"], json!({"tier": [], "model": []}));
    assert_eq!(v["checks"], json!({"language": [], "model": []}));
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
    assert_eq!(v["savings"]["usd"], 325.0 * 75.0 / 1_000_000.0);
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
    // Inline artifacts (8 chars, 2 tokens) are not saved; each call cost its 4 planner chars.
    assert_eq!(v["savings"]["net_tokens"], -(n as i64));
    assert_eq!(v["savings"]["inline_tokens"], 2 * n);
}

#[test]
fn stats_shows_checks_repairs_and_counts_only_what_landed_on_disk() {
    // v2 lines: checked inline, repaired and written, escalated, an edit, unchecked inline, a
    // three-file batch with one failure, a check that stayed failed, a missing checker, a
    // timeout; then a v1 written file, a v1 inline artifact and a model listing.
    let home = home_with(Some("v2.jsonl"));
    let out = stats(home.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let expected = format!(
        "usage log: {}
12 calls · 2026-11-10T09:00:00Z to 2026-11-10T11:20:00Z

delegations: 11 · ok 9 (81.8%) · DELEGATION_FAILED 2 (fallback rate 18.2%): invalid_output 1, timeout 1
local completion tokens: 4,650 (estimated by the server on 2 calls; repairs included)
latency: p50 5.0 s, p95 300.0 s · first token: p50 400 ms
checks: 4 of 9 ok results checked and passed (44.4%) · an answer failed a check in 4 of 7 calls with checks (57.1%)
repairs: 4 calls (57.1% of calls with checks), 7 in all, 3 ended ok · escalated to another tier: 1
multi-file calls: 1 · 3 files, 1 failed
other calls: list_local_models 1

tier     calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
quality      7   7       0      0.0%    3,630    5.0 s   20.0 s   500 ms   1,105
fast         4   2       2     50.0%    1,020    3.0 s  300.0 s   150 ms     -85  invalid_output 1, timeout 1

model            calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
qwen3-coder-30b      7   7       0      0.0%    3,630    5.0 s   20.0 s   500 ms   1,105
smollm2-135m         4   2       2     50.0%    1,020    3.0 s  300.0 s   150 ms     -85  invalid_output 1, timeout 1

language    with checks  failed a check    rate  repaired  repairs  ok and checked
python                4               2   50.0%         2        4               2
(none)                1               1  100.0%         1        1               0
rust                  1               0    0.0%         0        0               1
typescript            1               1  100.0%         1        2               1

model            with checks  failed a check   rate  repaired  repairs  ok and checked
qwen3-coder-30b            5               3  60.0%         3        5               3
smollm2-135m               2               1  50.0%         1        2               1

estimated savings (an estimate, not a measurement):
  frontier output tokens avoided: 1,020 net = 1,360 of artifacts that landed on disk - 340 the planner wrote to make the calls
  at $15.00 per million frontier output tokens (--price-per-mtok): $0.0153
  inline artifacts: 995 tokens, saved only if not re-typed (not in the figures above)
  planner input tokens read in results: 1,440 (input, priced lower; not in the figures above)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every delegation costs the planner its arguments (planner chars), so failed ones count negative
",
        usage_path(&home)
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn stats_json_carries_checks_repairs_files_and_inline_apart() {
    let home = home_with(Some("v2.jsonl"));
    let out = stats(home.path(), &["--json", "--by", "tier"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &v["total"];
    // Disk: 1,200 written + 240 added by the edit + 3,000 of the batch + 1,000 of the v1 write.
    // Inline: 480 + 800 + 2,000 + 300 + 400 (v1). Planner: 1,360 chars over 11 calls.
    assert_eq!(
        (
            &t["artifact_tokens"],
            &t["inline_tokens"],
            &t["planner_tokens"],
            &t["net_tokens"]
        ),
        (&json!(1360), &json!(995), &json!(340), &json!(1020))
    );
    assert_eq!(
        (
            &t["checked_calls"],
            &t["check_failed"],
            &t["check_failure_rate"]
        ),
        (&json!(7), &json!(4), &json!(4.0 / 7.0))
    );
    assert_eq!(
        (&t["ok_checked"], &t["checked_share"]),
        (&json!(4), &json!(4.0 / 9.0))
    );
    assert_eq!(
        (
            &t["repaired_calls"],
            &t["repaired_ok"],
            &t["repairs"],
            &t["repair_rate"]
        ),
        (&json!(4), &json!(3), &json!(7), &json!(4.0 / 7.0))
    );
    assert_eq!(t["escalated"], 1);
    assert_eq!(
        (&t["multi_file_calls"], &t["files"], &t["files_failed"]),
        (&json!(1), &json!(3), &json!(1))
    );
    let keys = |rows: &Value| -> Vec<(String, u64, u64)> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["key"].as_str().unwrap().to_string(),
                    r["checked_calls"].as_u64().unwrap(),
                    r["check_failed"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&v["checks"]["language"]),
        [
            ("python".into(), 4, 2),
            ("(none)".into(), 1, 1),
            ("rust".into(), 1, 0),
            ("typescript".into(), 1, 1)
        ]
    );
    assert_eq!(
        keys(&v["checks"]["model"]),
        [
            ("qwen3-coder-30b".into(), 5, 3),
            ("smollm2-135m".into(), 2, 1)
        ]
    );
    assert_eq!(v["checks"]["language"][0]["check_failure_rate"], 0.5);
    assert_eq!(v["groups"]["tier"][0]["key"], "quality");
    assert_eq!(v["groups"]["tier"][0]["net_tokens"], 1105);
    assert_eq!(v["savings"]["inline_tokens"], 995);
    assert_eq!(v["savings"]["usd"], 1020.0 * 15.0 / 1_000_000.0);
}

#[test]
fn stats_refuses_a_non_ascii_since_without_panicking() {
    let home = home_with(Some("week.jsonl"));
    for since in [
        "2026-11-01T08:00:00é1:00",
        "2026-11-01T08:00:00+0ü:00",
        "７d",
    ] {
        let out = stats(home.path(), &["--since", since], &[]);
        assert_eq!(out.status.code(), Some(2), "{since}: {out:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "local-executor-mcp: --since `{since}` is neither a duration (7d, 24h, 90m), a date (2026-11-01) nor an RFC 3339 time\n"
            )
        );
    }
}

#[test]
fn the_readme_sample_is_what_stats_prints_for_its_fixture() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/stats.md"))
            .unwrap();
    let from = readme
        .find("Sample (the test fixture `tests/fixtures/usage/v2.jsonl`")
        .expect("the README's stats sample");
    let block = &readme[from..];
    let start = block.find("```\n").unwrap() + 4;
    let end = start + block[start..].find("```\n").unwrap();
    let home = home_with(Some("v2.jsonl"));
    let out = stdout(&stats(home.path(), &[], &[]));
    assert_eq!(
        &block[start..end],
        out.replace(&usage_path(&home), "/tmp/st/usage.jsonl")
    );
}
