//! `stats` for people: the summary as a few lines of facts, a table a grouping, the check
//! tables, and the savings estimate with its method.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use super::acc::Acc;
use super::saving::Saving;
use super::summary::{CheckKey, Summary};
use super::time::format_time;
use super::{METHOD, Prices, key_name};
use crate::stats::StatsKey;

/// 1234567 -> "1,234,567".
pub(super) fn thousands(n: i64) -> String {
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

pub(super) fn u(n: u64) -> String {
    thousands(i64::try_from(n).unwrap_or(i64::MAX))
}

pub(super) fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// Milliseconds under a second (a loaded model's first token), seconds above.
pub(super) fn seconds(ms: Option<u64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// Cents for a dollar or more; four decimals below, where a first week's savings sit.
pub(super) fn dollars(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    let v = v.abs();
    if v >= 1.0 {
        format!("{sign}${v:.2}")
    } else {
        format!("{sign}${v:.4}")
    }
}

pub(super) fn reasons(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Columns padded to their widest cell: the first left-aligned, the last too when it is text,
/// numbers right-aligned.
fn table(rows: &[Vec<String>], text_last: bool) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c > 0 {
                line.push_str("  ");
            }
            if c == 0 || (text_last && c == cols - 1) {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn header(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn group_table(key: StatsKey, map: &BTreeMap<String, Acc>, prices: Prices) -> String {
    let mut rows = vec![header(&[
        key_name(key),
        "calls",
        "ok",
        "failed",
        "fallback",
        "tok out",
        "lat p50",
        "lat p95",
        "1st tok",
        "~saved",
        "failed by reason",
    ])];
    for (k, a) in Summary::rows(key, map) {
        rows.push(vec![
            k.clone(),
            u(a.calls),
            u(a.ok),
            u(a.failed()),
            percent(a.fallback_rate()),
            u(a.completion_tokens),
            seconds(a.latency(50)),
            seconds(a.latency(95)),
            seconds(a.first_token(50)),
            thousands(a.priced_net(prices.ratio).round() as i64),
            reasons(&a.failed_by_reason),
        ]);
    }
    table(&rows, true)
}

/// The calls a check applied to, by language or by the model of the final answer.
fn check_table(key: CheckKey, map: &BTreeMap<String, Acc>) -> String {
    let name = match key {
        CheckKey::Language => "language",
        CheckKey::Model => "model",
    };
    let mut rows = vec![header(&[
        name,
        "with checks",
        "failed a check",
        "rate",
        "repaired",
        "repairs",
        "ok and checked",
    ])];
    for (k, a) in Summary::check_rows(map) {
        rows.push(vec![
            k.clone(),
            u(a.checked_calls),
            u(a.check_failed),
            percent(a.check_failure_rate()),
            u(a.repaired_calls),
            u(a.repairs),
            u(a.ok_checked),
        ]);
    }
    table(&rows, false)
}

/// The delegations' headline: outcome, local cost, latency, and what checks and repairs did.
fn delegations(t: &Acc) -> String {
    let mut out = format!(
        "delegations: {} · ok {} ({}) · DELEGATION_FAILED {} (fallback rate {})",
        u(t.calls),
        u(t.ok),
        percent(t.fallback_rate().map(|r| 1.0 - r)),
        u(t.failed()),
        percent(t.fallback_rate()),
    );
    if !t.failed_by_reason.is_empty() {
        out.push_str(&format!(": {}", reasons(&t.failed_by_reason)));
    }
    let mut notes = Vec::new();
    if t.usage_estimated_calls > 0 {
        notes.push(format!(
            "estimated by the server on {} calls",
            u(t.usage_estimated_calls)
        ));
    }
    if t.repairs > 0 {
        notes.push("repairs included".to_string());
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    out.push_str(&format!(
        "\nlocal completion tokens: {}{notes}\nlatency: p50 {}, p95 {} · first token: p50 {}\n",
        u(t.completion_tokens),
        seconds(t.latency(50)),
        seconds(t.latency(95)),
        seconds(t.first_token(50)),
    ));
    if t.checked_calls > 0 {
        out.push_str(&format!(
            "checks: {} of {} ok results checked and passed ({}) · an answer failed a check in {} of {} calls with checks ({})\n",
            u(t.ok_checked),
            u(t.ok),
            percent(t.checked_share()),
            u(t.check_failed),
            u(t.checked_calls),
            percent(t.check_failure_rate()),
        ));
    }
    if t.checked_calls > 0 || t.escalated > 0 {
        out.push_str(&format!(
            "repairs: {} calls ({} of calls with checks), {} in all, {} ended ok · escalated to another tier: {}\n",
            u(t.repaired_calls),
            percent(t.repair_rate()),
            u(t.repairs),
            u(t.repaired_ok),
            u(t.escalated),
        ));
    }
    if t.multi_file_calls > 0 {
        out.push_str(&format!(
            "multi-file calls: {} · {} files, {} failed\n",
            u(t.multi_file_calls),
            u(t.files),
            u(t.files_failed),
        ));
    }
    out
}

fn savings(s: &Summary, prices: Prices) -> String {
    let t = &s.total;
    let saving = Saving::of(t, prices);
    let mut out = format!(
        "\nnet saving, priced as a planner pays (an estimate, not a measurement): {}\n\
         \x20 {}\n\
         \x20 inline artifacts: {} tokens, saved only if not re-typed (not in the figure)\n",
        saving.figure(),
        saving.formula(),
        thousands(t.inline_tokens()),
    );
    if t.shell_calls > 0 {
        out.push_str(&format!(
            "  shell `delegate` calls: {}, {} tokens landed on disk with no planner involved (not in the figure)\n",
            u(t.shell_calls),
            thousands(t.shell_disk_tokens()),
        ));
    }
    out.push_str(&format!("  method: {METHOD}\n"));
    out
}

pub(crate) fn render(
    s: &Summary,
    path: &Path,
    since: Option<SystemTime>,
    prices: Prices,
) -> String {
    let mut out = format!("usage log: {}\n", path.display());
    let mut facts = vec![format!("{} calls", u(s.calls))];
    if let (Some(first), Some(last)) = (s.first, s.last) {
        facts.push(format!("{} to {}", format_time(first), format_time(last)));
    }
    if let Some(t) = since {
        facts.push(format!("since {}", format_time(t)));
    }
    if s.malformed > 0 {
        facts.push(format!("{} malformed lines skipped", u(s.malformed)));
    }
    out.push_str(&facts.join(" · "));
    out.push('\n');

    let t = &s.total;
    if t.calls == 0 {
        out.push_str("\nNo delegations recorded");
        out.push_str(if since.is_some() {
            " in this period.\n"
        } else {
            " yet.\n"
        });
    } else {
        out.push('\n');
        out.push_str(&delegations(t));
    }
    if !s.other_calls.is_empty() {
        let other: Vec<String> = s
            .other_calls
            .iter()
            .map(|(tool, n)| format!("{tool} {}", u(*n)))
            .collect();
        out.push_str(&format!("other calls: {}\n", other.join(", ")));
    }
    if t.calls > 0 {
        for (key, map) in &s.groups {
            out.push('\n');
            out.push_str(&group_table(*key, map, prices));
        }
    }
    for (key, map) in &s.checks {
        if !map.is_empty() {
            out.push('\n');
            out.push_str(&check_table(*key, map));
        }
    }
    if s.calls > 0 {
        out.push_str(&savings(s, prices));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_for_people() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1_000), "-1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(dollars(-0.014), "-$0.0140");
        assert_eq!(dollars(12.345), "$12.35");
        assert_eq!(seconds(Some(6_449)), "6.4 s");
        assert_eq!(seconds(Some(50)), "50 ms");
        assert_eq!(seconds(None), "-");
    }

    #[test]
    fn table_aligns_numbers_right() {
        let rows = vec![
            vec!["tier".into(), "calls".into(), "why".into()],
            vec!["quality".into(), "7".into(), "".into()],
        ];
        assert_eq!(table(&rows, true), "tier     calls  why\nquality      7\n");
        let rows = vec![
            vec!["lang".into(), "calls".into(), "rate".into()],
            vec!["python".into(), "7".into(), "50.0%".into()],
        ];
        assert_eq!(
            table(&rows, false),
            "lang    calls   rate\npython      7  50.0%\n"
        );
    }
}
