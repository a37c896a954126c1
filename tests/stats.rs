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
quality      6   4       2     33.3%    2,424    4.0 s   30.0 s   600 ms     341  truncated 1, unreachable 1
fast         3   1       2     66.7%       50    1.0 s  300.0 s   100 ms    -182  bad_request 1, timeout 1

model            calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
qwen3-coder-30b      6   4       2     33.3%    2,424    4.0 s   30.0 s   600 ms     341  truncated 1, unreachable 1
smollm2-135m         2   1       1     50.0%       50    1.0 s  300.0 s   100 ms     -50  timeout 1
(none)               1   0       1    100.0%        0     0 ms     0 ms        -    -132  bad_request 1

net saving, priced as a planner pays (an estimate, not a measurement): 147 output tokens' worth, $0.0022
  = 740 tokens landed on disk - 400 the planner wrote in its calls - 967 it read back / 5 (output at $15.00 per million tokens, input at 1/5 of that: --price-per-mtok, --price-ratio)
  inline artifacts: 650 tokens, saved only if not re-typed (not in the figure)
  shell `delegate` calls: 1, 0 tokens landed on disk with no planner involved (not in the figure)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters at the output price; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every call costs the planner its arguments (planner chars) at the output price and what it reads back (result chars) at the input price, so failed ones count negative; the shell `delegate` subcommand has no planner and is counted apart
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
gemma-3-270m      3   2       1     33.3%       80    1.5 s    2.5 s   200 ms     -74  rate_limited 1

net saving, priced as a planner pays (an estimate, not a measurement): -74 output tokens' worth, -$0.0011
  = 0 tokens landed on disk - 45 the planner wrote in its calls - 145 it read back / 5 (output at $15.00 per million tokens, input at 1/5 of that: --price-per-mtok, --price-ratio)
  inline artifacts: 80 tokens, saved only if not re-typed (not in the figure)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters at the output price; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every call costs the planner its arguments (planner chars) at the output price and what it reads back (result chars) at the input price, so failed ones count negative; the shell `delegate` subcommand has no planner and is counted apart
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
2026-11-02      3   1       2     66.7%    1,724   30.0 s  300.0 s   600 ms     556  timeout 1, truncated 1
2026-11-03      3   1       2     66.7%      100    50 ms    2.0 s   400 ms    -164  bad_request 1, unreachable 1

net saving, priced as a planner pays (an estimate, not a measurement): 380 output tokens' worth, $0.0057
  = 740 tokens landed on disk - 310 the planner wrote in its calls - 252 it read back / 5 (output at $15.00 per million tokens, input at 1/5 of that: --price-per-mtok, --price-ratio)
  inline artifacts: 0 tokens, saved only if not re-typed (not in the figure)
  shell `delegate` calls: 1, 0 tokens landed on disk with no planner involved (not in the figure)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters at the output price; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every call costs the planner its arguments (planner chars) at the output price and what it reads back (result chars) at the input price, so failed ones count negative; the shell `delegate` subcommand has no planner and is counted apart
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
                  edits) save their characters at the output price; inline artifacts are not \
                  counted, since a planner that re-types one into a file pays it twice; every call \
                  costs the planner its arguments (planner chars) at the output price and what it \
                  reads back (result chars) at the input price, so failed ones count negative; the \
                  shell `delegate` subcommand has no planner and is counted apart";
    assert_eq!(
        v,
        json!({
            "schema": 3,
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
                "artifact_tokens": 740, "planner_tokens": 400, "net_tokens": 340,
                "inline_tokens": 650,
                // The listings' results are in the total, not in any row.
                "result_tokens": 967, "priced_net_tokens": 147,
                "ok_on_disk": 1, "ok_inline": 3, "on_disk_share": 0.25,
                "shell_calls": 1, "shell_disk_tokens": 0
            })),
            "groups": {"client": [
                with_no_checks(json!({"key": "claude-code", "calls": 6, "ok": 3, "failed": 3,
                 "failed_by_reason": {"bad_request": 1, "truncated": 1, "unreachable": 1},
                 "fallback_rate": 0.5, "completion_tokens": 1674, "usage_estimated_calls": 2,
                 "latency_ms": {"p50": 1000, "p95": 30000}, "first_token_ms": {"p50": 500},
                 "artifact_tokens": 0, "planner_tokens": 315, "net_tokens": -315,
                 "inline_tokens": 650, "result_tokens": 822, "priced_net_tokens": -479,
                 "ok_on_disk": 0, "ok_inline": 3, "on_disk_share": 0.0,
                 "shell_calls": 0, "shell_disk_tokens": 0})),
                with_no_checks(json!({"key": "codex", "calls": 2, "ok": 1, "failed": 1,
                 "failed_by_reason": {"timeout": 1},
                 "fallback_rate": 0.5, "completion_tokens": 700, "usage_estimated_calls": 1,
                 "latency_ms": {"p50": 12000, "p95": 300000}, "first_token_ms": {"p50": 900},
                 "artifact_tokens": 740, "planner_tokens": 85, "net_tokens": 655,
                 "inline_tokens": 0, "result_tokens": 85, "priced_net_tokens": 638,
                 "ok_on_disk": 1, "ok_inline": 0, "on_disk_share": 1.0,
                 "shell_calls": 0, "shell_disk_tokens": 0})),
                with_no_checks(json!({"key": "cli", "calls": 1, "ok": 1, "failed": 0,
                 "failed_by_reason": {},
                 "fallback_rate": 0.0, "completion_tokens": 100, "usage_estimated_calls": 0,
                 "latency_ms": {"p50": 2000, "p95": 2000}, "first_token_ms": {"p50": 400},
                 // The shell subcommand: a delegation, but no planner paid or saved anything.
                 "artifact_tokens": 0, "planner_tokens": 0, "net_tokens": 0,
                 "inline_tokens": 0, "result_tokens": 0, "priced_net_tokens": 0,
                 "ok_on_disk": 0, "ok_inline": 0, "on_disk_share": null,
                 "shell_calls": 1, "shell_disk_tokens": 0}))
            ]},
            "checks": {"language": [], "model": []},
            "savings": {
                "estimate": true,
                "method": method,
                "price_per_mtok_usd": 15.0,
                "price_ratio": 5.0,
                "input_price_per_mtok_usd": 3.0,
                "artifact_tokens": 740,
                "planner_tokens": 400,
                "net_tokens": 340,
                "usd": 340.0 * 15.0 / 1_000_000.0,
                "inline_tokens": 650,
                "result_tokens": 967,
                // 740 - 400 - 967 / 5 = 146.6.
                "priced_net_tokens": 147,
                "priced_usd": (340.0 - 967.0 / 5.0) * 15.0 / 1_000_000.0,
                "formula": "= 740 tokens landed on disk - 400 the planner wrote in its calls - 967 it \
                            read back / 5 (output at $15.00 per million tokens, input at 1/5 of \
                            that: --price-per-mtok, --price-ratio)",
                "shell_calls": 1,
                "shell_disk_tokens": 0
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
               "artifact_tokens": 0, "planner_tokens": 0, "net_tokens": 0, "inline_tokens": 0,
               "result_tokens": 0, "priced_net_tokens": 0, "ok_on_disk": 0, "ok_inline": 0,
               "on_disk_share": null, "shell_calls": 0, "shell_disk_tokens": 0})
        )
    );
    assert_eq!(v["groups"], json!({"tier": [], "model": []}));
    assert_eq!(v["checks"], json!({"language": [], "model": []}));
    assert_eq!(v["savings"]["usd"], 0.0);
    assert_eq!(v["savings"]["priced_usd"], 0.0);
    assert_eq!(v["savings"]["priced_net_tokens"], 0);
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
    assert_eq!(v["savings"]["usd"], 340.0 * 75.0 / 1_000_000.0);
    assert_eq!(
        v["savings"]["priced_usd"],
        (340.0 - 967.0 / 5.0) * 75.0 / 1_000_000.0
    );
    let out = stats(home.path(), &["--price-per-mtok", "-1"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stats_prices_what_the_planner_read_back_at_the_price_ratio() {
    let home = home_with(Some("week.jsonl"));
    let priced = |args: &[&str], env: &[(&str, &str)]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = stats(home.path(), &all, env);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["savings"].clone()
    };
    // Input as dear as output: everything read back counts whole. 740 - 400 - 967 = -627.
    let even = priced(&["--price-ratio", "1"], &[]);
    assert_eq!(even["priced_net_tokens"], -627);
    assert_eq!(even["input_price_per_mtok_usd"], 15.0);
    // From the environment; the flag wins over it. 340 - 967 / 10 = 243.3.
    let env = priced(&[], &[("LOCAL_EXECUTOR_PRICE_RATIO", "10")]);
    assert_eq!(
        (&env["price_ratio"], &env["priced_net_tokens"]),
        (&json!(10.0), &json!(243))
    );
    let flag = priced(
        &["--price-ratio", "2.5"],
        &[("LOCAL_EXECUTOR_PRICE_RATIO", "10")],
    );
    assert_eq!(flag["price_ratio"], 2.5);
    assert!(
        flag["formula"].as_str().unwrap().contains(
            "967 it read back / 2.5 (output at $15.00 per million tokens, input at 1/2.5"
        )
    );
    // The old figure is still there, unpriced, for a dashboard built on schema 2.
    assert_eq!(flag["net_tokens"], 340);
    for bad in ["0", "-5", "inf", "NaN", "five"] {
        let out = stats(home.path(), &["--price-ratio", bad], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_shell_delegate_is_counted_apart_from_the_planners_saving() {
    // A planner's call and the same work through the shell subcommand, both written to disk.
    let home = tempfile::tempdir().unwrap();
    let line = |tool: &str, client: &str| {
        json!({"v": 2, "ts": "2026-11-10T09:00:00Z", "tool": tool, "tier": "quality", "model": "m",
               "ok": true, "output_chars": 4000, "planner_chars": 400, "result_chars": 200,
               "output_path": "a.py", "disk_chars": 4000, "client": client})
        .to_string()
    };
    std::fs::write(
        home.path().join("usage.jsonl"),
        format!(
            "{}\n{}\n",
            line("delegate_code", "claude-code"),
            line("delegate", "cli")
        ),
    )
    .unwrap();
    let out = stats(home.path(), &["--json"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["savings"];
    // Only the planner's call: 1,000 on disk - 100 written - 50 read back / 5 = 890.
    assert_eq!(
        (&s["artifact_tokens"], &s["planner_tokens"]),
        (&json!(1000), &json!(100))
    );
    assert_eq!(s["priced_net_tokens"], 890);
    assert_eq!(
        (&s["shell_calls"], &s["shell_disk_tokens"]),
        (&json!(1), &json!(1000))
    );
    // Both are delegations all the same.
    assert_eq!(
        (&v["total"]["calls"], &v["total"]["ok"]),
        (&json!(2), &json!(2))
    );
    let text = stdout(&stats(home.path(), &[], &[]));
    assert!(
        text.contains("  shell `delegate` calls: 1, 1,000 tokens landed on disk with no planner involved (not in the figure)\n"),
        "{text}"
    );
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
quality      7   7       0      0.0%    3,630    5.0 s   20.0 s   500 ms     971
fast         4   2       2     50.0%    1,020    3.0 s  300.0 s   150 ms    -232  invalid_output 1, timeout 1

model            calls  ok  failed  fallback  tok out  lat p50  lat p95  1st tok  ~saved  failed by reason
qwen3-coder-30b      7   7       0      0.0%    3,630    5.0 s   20.0 s   500 ms     971
smollm2-135m         4   2       2     50.0%    1,020    3.0 s  300.0 s   150 ms    -232  invalid_output 1, timeout 1

language    with checks  failed a check    rate  repaired  repairs  ok and checked
python                4               2   50.0%         2        4               2
(none)                1               1  100.0%         1        1               0
rust                  1               0    0.0%         0        0               1
typescript            1               1  100.0%         1        2               1

model            with checks  failed a check   rate  repaired  repairs  ok and checked
qwen3-coder-30b            5               3  60.0%         3        5               3
smollm2-135m               2               1  50.0%         1        2               1

net saving, priced as a planner pays (an estimate, not a measurement): 732 output tokens' worth, $0.0110
  = 1,360 tokens landed on disk - 340 the planner wrote in its calls - 1,440 it read back / 5 (output at $15.00 per million tokens, input at 1/5 of that: --price-per-mtok, --price-ratio)
  inline artifacts: 995 tokens, saved only if not re-typed (not in the figure)
  method: tokens = chars / 4; artifacts that landed on disk (written files, added lines of edits) save their characters at the output price; inline artifacts are not counted, since a planner that re-types one into a file pays it twice; every call costs the planner its arguments (planner chars) at the output price and what it reads back (result chars) at the input price, so failed ones count negative; the shell `delegate` subcommand has no planner and is counted apart
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

/// `stats --html -`: the page on stdout.
fn page(home: &Path, args: &[&str]) -> String {
    let mut all = vec!["--html", "-"];
    all.extend_from_slice(args);
    let out = stats(home, &all, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    stdout(&out)
}

/// The text of the element with this id, up to its closing tag (the page escapes `<`).
fn text_of<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let start = at + page[at..].find('>').unwrap() + 1;
    &page[start..start + page[start..].find('<').unwrap()]
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn row_html(key: &str, cells: &[String]) -> String {
    let mut out = format!("<tr><th scope=\"row\">{key}</th>");
    for c in cells {
        out.push_str(&format!("<td>{c}</td>"));
    }
    out + "</tr>"
}

fn secs(ms: &Value) -> String {
    let ms = ms.as_u64().unwrap();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[test]
fn stats_html_shows_the_numbers_of_stats_json() {
    let home = home_with(Some("v2.jsonl"));
    let html = page(home.path(), &[]);
    let out = stats(home.path(), &["--json"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["savings"];

    // The headline: the text report's words, the JSON's figures.
    let usd = s["priced_usd"].as_f64().unwrap();
    assert_eq!(
        text_of(&html, "net-saving"),
        format!(
            "{} output tokens&#39; worth, ${usd:.4}",
            thousands(s["priced_net_tokens"].as_i64().unwrap())
        )
    );
    assert_eq!(
        text_of(&html, "net-saving"),
        "732 output tokens&#39; worth, $0.0110"
    );
    assert_eq!(text_of(&html, "formula"), s["formula"].as_str().unwrap());
    let text = stdout(&stats(home.path(), &[], &[]));
    assert!(text.contains("(an estimate, not a measurement): 732 output tokens' worth, $0.0110\n"));
    assert!(text.contains(&format!("\n  {}\n", s["formula"].as_str().unwrap())));
    assert!(html.contains("net saving, priced as a planner pays (an estimate, not a measurement)"));
    assert!(html.contains("Price ratio 5: input costs 1/5 of the output price."));

    // Outcomes by model and by tier: every row of the JSON, reasons the most frequent first.
    let mut reasons: Vec<(String, u64)> = v["total"]["failed_by_reason"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    for key in ["model", "tier"] {
        for r in v["groups"][key].as_array().unwrap() {
            let (ok, checked) = (r["ok"].as_u64().unwrap(), r["ok_checked"].as_u64().unwrap());
            let mut cells = vec![
                r["calls"].to_string(),
                checked.to_string(),
                (ok - checked).to_string(),
            ];
            cells.extend(reasons.iter().map(|(k, _)| {
                r["failed_by_reason"]
                    .get(k)
                    .map_or(0, |n| n.as_u64().unwrap())
                    .to_string()
            }));
            let row = row_html(r["key"].as_str().unwrap(), &cells);
            assert!(html.contains(&row), "{key}: {row}");
        }
    }
    // Latency by model.
    for r in v["groups"]["model"].as_array().unwrap() {
        let row = row_html(
            r["key"].as_str().unwrap(),
            &[
                r["calls"].to_string(),
                secs(&r["latency_ms"]["p50"]),
                secs(&r["latency_ms"]["p95"]),
                secs(&r["first_token_ms"]["p50"]),
            ],
        );
        assert!(html.contains(&row), "{row}");
    }
    // Checks and repairs by language.
    let pct = |x: &Value| format!("{:.1}%", x.as_f64().unwrap() * 100.0);
    for r in v["checks"]["language"].as_array().unwrap() {
        let row = row_html(
            r["key"].as_str().unwrap(),
            &[
                r["checked_calls"].to_string(),
                r["check_failed"].to_string(),
                pct(&r["check_failure_rate"]),
                r["repaired_calls"].to_string(),
                pct(&r["repair_rate"]),
                r["repairs"].to_string(),
                r["ok_checked"].to_string(),
            ],
        );
        assert!(html.contains(&row), "{row}");
    }
    // The share of ok results on disk: 4 of the 9 ok results (the v1 write counts).
    let t = &v["total"];
    assert_eq!((&t["ok_on_disk"], &t["ok_inline"]), (&json!(4), &json!(5)));
    assert!(html.contains(&row_html(
        "all models",
        &["9".into(), "4".into(), "5".into(), pct(&t["on_disk_share"])]
    )));
    assert!(html.contains("Share of ok results that landed on disk: 44.4% of the ok results"));
    // The charts, each with a sentence for a title and a table.
    for id in [
        "outcomes-model",
        "outcomes-tier",
        "checks-language",
        "latency-model",
        "on-disk",
    ] {
        assert!(html.contains(&format!("<figure id=\"{id}\"")), "{id}");
        assert!(
            html.contains(&format!("aria-labelledby=\"{id}-title\"")),
            "{id}"
        );
    }
    assert_eq!(html.matches("<svg").count(), 5);
    assert_eq!(html.matches("<table>").count(), 7);
    // One day of data: the trends say so instead of drawing one bar.
    assert_eq!(
        html.matches("One day of data so far: a trend needs two.")
            .count(),
        2
    );
}

#[test]
fn stats_html_is_self_contained_and_runs_nothing() {
    let home = home_with(Some("v2.jsonl"));
    let html = page(home.path(), &[]);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.ends_with("</html>\n"));
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    ));
    for fetch in [
        "<script", "http://", "https://", "<link", "<img", "url(", "@import",
    ] {
        // The SVG namespace is a name, not a fetch.
        let n = html.matches(fetch).count()
            - html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
                * usize::from(fetch == "http://");
        assert_eq!(n, 0, "{fetch}");
    }
}

#[test]
fn stats_html_escapes_whatever_the_log_holds() {
    // A usage log is written by the server, but a model, a client and a reason are names a
    // backend or a client chose.
    let home = tempfile::tempdir().unwrap();
    let evil = "<script>alert(1)</script>";
    let lines = [
        json!({"v": 2, "ts": "2026-11-10T09:00:00Z", "tool": "delegate_code", "tier": "quality",
               "model": evil, "ok": true, "output_chars": 400, "planner_chars": 40,
               "result_chars": 60, "output_path": "a.py", "disk_chars": 400,
               "client": "\"><img src=x onerror=alert(2)>", "language": "</svg><svg onload=alert(3)>",
               "checks": [{"name": "x", "verdict": "fail"}], "repairs": 1, "latency_ms": 100}),
        json!({"v": 2, "ts": "2026-11-11T09:00:00Z", "tool": "delegate_code", "tier": evil,
               "model": "m", "ok": false, "reason": "<style>*{display:none}</style>",
               "planner_chars": 40, "result_chars": 60, "latency_ms": 100}),
        json!({"v": 2, "ts": "2026-11-11T10:00:00Z", "tool": "<b>list</b>", "ok": true,
               "result_chars": 60}),
    ];
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(home.path().join("usage.jsonl"), text).unwrap();
    let html = page(home.path(), &["--by", "client"]);
    for raw in [
        "<script",
        "<img",
        "<svg onload",
        "<style>*",
        "<b>",
        "</svg><svg",
    ] {
        assert!(!html.contains(raw), "{raw} got through");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("DELEGATION_FAILED: &lt;style&gt;"));
    assert!(html.contains("<figure id=\"outcomes-client\""));
}

#[test]
fn stats_html_of_an_empty_log_says_so_without_charts() {
    for (fixture_name, args, words) in [
        (Some("empty.jsonl"), vec![], "No delegations recorded yet."),
        (None, vec![], "No delegations recorded yet."),
        (
            Some("v2.jsonl"),
            vec!["--since", "2026-12-01"],
            "No delegations recorded in this period.",
        ),
    ] {
        let home = home_with(fixture_name);
        let html = page(home.path(), &args);
        assert_eq!(text_of(&html, "empty"), words);
        assert!(!html.contains("<svg"));
        assert!(!html.contains("net-saving"));
    }
}

#[test]
fn stats_html_of_a_year_of_a_team_stays_small() {
    // Eight people, 30 delegations each a working day, for a year: 62,400 lines; four models,
    // three clients, six languages, every failure reason.
    let home = tempfile::tempdir().unwrap();
    let models = [
        "qwen3-coder-30b",
        "qwen2.5-coder-0.5b",
        "gemma-3-270m",
        "devstral-small",
    ];
    let languages = ["python", "typescript", "rust", "go", "json", "yaml"];
    let reasons = [
        "invalid_output",
        "timeout",
        "truncated",
        "unreachable",
        "empty",
        "bad_request",
        "rate_limited",
    ];
    let clients = ["claude-code", "codex", "cursor"];
    let start = humantime::parse_rfc3339("2026-01-05T08:00:00Z").unwrap();
    let mut text = String::new();
    let mut n = 0u64;
    for day in 0..364u64 {
        if day % 7 >= 5 {
            continue;
        }
        for i in 0..240u64 {
            n += 1;
            let ts = start + Duration::from_secs(day * 86_400 + i * 120);
            let ok = !n.is_multiple_of(9);
            let line = json!({"v": 2, "ts": humantime::format_rfc3339_millis(ts).to_string(),
                "tool": if n.is_multiple_of(5) { "delegate_files" } else { "delegate_code" },
                "tier": if n.is_multiple_of(3) { "fast" } else { "quality" },
                "model": models[(n % 4) as usize], "ok": ok,
                "reason": if ok { Value::Null } else { reasons[(n / 9 % 7) as usize].into() },
                "completion_tokens": 300 + n % 500, "latency_ms": 1000 + (n * 37) % 20_000,
                "first_token_ms": 200 + n % 700, "output_chars": 1200, "planner_chars": 300,
                "result_chars": 250, "disk_chars": if ok && n.is_multiple_of(2) { 1200 } else { 0 },
                "client": clients[(n % 3) as usize], "language": languages[(n % 6) as usize],
                "checks": [{"name": "syntax", "verdict": if n.is_multiple_of(7) { "fail" } else { "pass" }}],
                "checked": ok && !n.is_multiple_of(7), "repairs": u32::from(n.is_multiple_of(7))});
            text.push_str(&line.to_string());
            text.push('\n');
        }
    }
    std::fs::write(home.path().join("usage.jsonl"), text).unwrap();
    let html = page(home.path(), &["--by", "day"]);
    assert!(html.len() < 300 * 1024, "by day: {} bytes", html.len());
    assert!(html.contains("<th scope=\"row\">2026-12-31</th>"));
    let html = page(home.path(), &["--by", "client"]);
    assert!(html.len() < 300 * 1024, "{} bytes", html.len());
    // A year is drawn by week.
    assert!(html.contains("Net saving per week"), "weeks");
    assert!(html.contains("<th scope=\"row\">week of 2026-12-28</th>"));
    let v: Value = serde_json::from_slice(&stats(home.path(), &["--json"], &[]).stdout).unwrap();
    assert_eq!(v["total"]["calls"], n);
    assert_eq!(
        text_of(&html, "net-saving"),
        format!(
            "{} output tokens&#39; worth, ${:.2}",
            thousands(v["savings"]["priced_net_tokens"].as_i64().unwrap()),
            v["savings"]["priced_usd"].as_f64().unwrap()
        )
    );
}

/// `stats --html [FILE]` run in `dir`.
fn html_in(dir: &Path, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOCAL_EXECUTOR_HOME", home)
        .env("LOCAL_EXECUTOR_LOG", "warn")
        .current_dir(dir)
        .arg("stats")
        .args(args);
    cmd.output().unwrap()
}

#[test]
fn stats_html_writes_a_file_whole_or_not_at_all() {
    let home = home_with(Some("v2.jsonl"));
    let dir = tempfile::tempdir().unwrap();
    // No FILE: stats.html in the current folder, replaced on the next run.
    std::fs::write(dir.path().join("stats.html"), "old").unwrap();
    let out = html_in(dir.path(), home.path(), &["--html"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(dir.path().join("stats.html")).unwrap();
    assert!(written.contains("732 output tokens&#39; worth"));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("local-executor-mcp: wrote stats.html (")
    );
    // A path of its own, readable by others like any report.
    let out = html_in(
        dir.path(),
        home.path(),
        &["--html", "sub.html", "--since", "2026-11-10"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("sub.html"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o644, 0o644, "{mode:o}");
    }
    // A symlink at FILE is replaced, never written through: what it pointed to stays as it was.
    #[cfg(unix)]
    {
        std::fs::write(dir.path().join("victim.txt"), "keep").unwrap();
        std::os::unix::fs::symlink(dir.path().join("victim.txt"), dir.path().join("link.html"))
            .unwrap();
        let out = html_in(dir.path(), home.path(), &["--html", "link.html"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("victim.txt")).unwrap(),
            "keep"
        );
        let link = std::fs::symlink_metadata(dir.path().join("link.html")).unwrap();
        assert!(link.file_type().is_file());
        std::fs::remove_file(dir.path().join("link.html")).unwrap();
        std::fs::remove_file(dir.path().join("victim.txt")).unwrap();
    }
    // A folder in the way, a folder that does not exist: an error, nothing left behind.
    std::fs::create_dir(dir.path().join("taken.html")).unwrap();
    for target in ["taken.html", "missing/stats.html"] {
        let out = html_in(dir.path(), home.path(), &["--html", target]);
        assert_eq!(out.status.code(), Some(1), "{target}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot write {target}")));
    }
    assert!(
        std::fs::read_dir(dir.path().join("taken.html"))
            .unwrap()
            .next()
            .is_none()
    );
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["stats.html", "sub.html", "taken.html"]);
    // One output at a time.
    let out = html_in(dir.path(), home.path(), &["--html", "-", "--json"]);
    assert_eq!(out.status.code(), Some(2));
}
