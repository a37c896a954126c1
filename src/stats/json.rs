//! `stats --json`: the summary as one JSON object for dashboards, in the shape documented at
//! the top of the `stats` module.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::acc::Acc;
use super::saving::Saving;
use super::summary::{CheckKey, Summary};
use super::time::format_time;
use super::{JSON_SCHEMA, METHOD, Prices, key_name, usd};

fn row(acc: &Acc, key: Option<&str>, prices: Prices) -> Value {
    let mut row = json!({
        "calls": acc.calls,
        "ok": acc.ok,
        "failed": acc.failed(),
        "failed_by_reason": acc.failed_by_reason,
        "fallback_rate": acc.fallback_rate(),
        "completion_tokens": acc.completion_tokens,
        "usage_estimated_calls": acc.usage_estimated_calls,
        "latency_ms": {"p50": acc.latency(50), "p95": acc.latency(95)},
        "first_token_ms": {"p50": acc.first_token(50)},
        "artifact_tokens": acc.artifact_tokens(),
        "planner_tokens": acc.planner_tokens(),
        "net_tokens": acc.net_tokens(),
        "inline_tokens": acc.inline_tokens(),
        "checked_calls": acc.checked_calls,
        "check_failed": acc.check_failed,
        "check_failure_rate": acc.check_failure_rate(),
        "ok_checked": acc.ok_checked,
        "checked_share": acc.checked_share(),
        "repaired_calls": acc.repaired_calls,
        "repaired_ok": acc.repaired_ok,
        "repairs": acc.repairs,
        "repair_rate": acc.repair_rate(),
        "escalated": acc.escalated,
        "multi_file_calls": acc.multi_file_calls,
        "files": acc.files,
        "files_failed": acc.files_failed,
        "result_tokens": acc.result_tokens(),
        "priced_net_tokens": acc.priced_net(prices.ratio).round() as i64,
        "ok_on_disk": acc.ok_on_disk,
        "ok_inline": acc.ok_inline,
        "on_disk_share": acc.on_disk_share(),
        "shell_calls": acc.shell_calls,
        "shell_disk_tokens": acc.shell_disk_tokens(),
    });
    if let (Some(key), Some(obj)) = (key, row.as_object_mut()) {
        obj.insert("key".into(), key.into());
    }
    row
}

fn rows<'a>(rows: impl IntoIterator<Item = (&'a String, &'a Acc)>, prices: Prices) -> Value {
    Value::Array(
        rows.into_iter()
            .map(|(key, acc)| row(acc, Some(key), prices))
            .collect(),
    )
}

fn check_key_name(k: CheckKey) -> &'static str {
    match k {
        CheckKey::Language => "language",
        CheckKey::Model => "model",
    }
}

pub(crate) fn to_json(
    s: &Summary,
    path: &Path,
    since: Option<SystemTime>,
    prices: Prices,
) -> Value {
    let groups: serde_json::Map<String, Value> = s
        .groups
        .iter()
        .map(|(k, map)| {
            (
                key_name(*k).to_string(),
                rows(Summary::rows(*k, map), prices),
            )
        })
        .collect();
    let checks: serde_json::Map<String, Value> = s
        .checks
        .iter()
        .map(|(k, map): &(CheckKey, BTreeMap<String, Acc>)| {
            (
                check_key_name(*k).to_string(),
                rows(Summary::check_rows(map), prices),
            )
        })
        .collect();
    let t = &s.total;
    let net = t.net_tokens();
    let saving = Saving::of(t, prices);
    json!({
        "schema": JSON_SCHEMA,
        "file": path.display().to_string(),
        "since": since.map(format_time),
        "first_ts": s.first.map(format_time),
        "last_ts": s.last.map(format_time),
        "lines": s.lines,
        "malformed": s.malformed,
        "calls": s.calls,
        "other_calls": s.other_calls,
        "total": row(t, None, prices),
        "groups": groups,
        "checks": checks,
        "savings": {
            "estimate": true,
            "method": METHOD,
            "price_per_mtok_usd": prices.per_mtok,
            "price_ratio": prices.ratio,
            "input_price_per_mtok_usd": prices.input_per_mtok(),
            "artifact_tokens": t.artifact_tokens(),
            "planner_tokens": t.planner_tokens(),
            "net_tokens": net,
            "usd": usd(net, prices.per_mtok),
            "inline_tokens": t.inline_tokens(),
            "result_tokens": t.result_tokens(),
            "priced_net_tokens": saving.tokens,
            "priced_usd": saving.usd,
            "formula": saving.formula(),
            "shell_calls": t.shell_calls,
            "shell_disk_tokens": t.shell_disk_tokens(),
        },
    })
}
