//! `stats`: reads `usage.jsonl` line by line (a file of a million lines is fine), skips and counts
//! the lines it cannot read, and aggregates the delegations: calls, ok, `DELEGATION_FAILED` by
//! reason, fallback rate, local tokens, latency percentiles, and an estimate of the frontier output
//! tokens and money the delegations avoided. Prints a table, or JSON for dashboards.
//!
//! The savings are an estimate on purpose kept simple enough to state in one line: tokens ≈
//! characters / 4; an ok delegation saved the planner writing its artifact; every delegation cost
//! the planner writing its arguments (`planner_chars`), so a failed call counts negative. What the
//! planner reads back (`result_chars`) is input, priced lower, and is reported beside it.
//!
//! The `--json` shape (`schema` 1; new keys may be added, none renamed or removed):
//!
//! ```text
//! {
//!   "schema": 1,
//!   "file": "/path/usage.jsonl",
//!   "since": "2026-11-02T00:00:00Z" | null,    // the cut-off in effect, UTC
//!   "first_ts": "…" | null, "last_ts": "…" | null, // of the calls counted
//!   "lines": 14,                                // non-blank lines read
//!   "malformed": 2,                             // lines skipped: not a usage record
//!   "calls": 12,                                // usage records counted, every tool
//!   "other_calls": {"list_local_models": 2},    // calls that are not delegations, by tool
//!   "total": Row,                               // the delegations (delegate_code, delegate)
//!   "groups": {"tier": [Row], "model": [Row]},  // the --by key, or tier and model by default
//!   "savings": {
//!     "estimate": true, "method": "…", "price_per_mtok_usd": 15.0,
//!     "artifact_tokens": 725,    // output chars / 4 of ok delegations
//!     "planner_tokens": 130,     // planner chars / 4 of every delegation
//!     "net_tokens": 595,         // artifact_tokens - planner_tokens, may be negative
//!     "usd": 0.008925,           // net_tokens * price / 1e6
//!     "result_tokens": 300       // result chars / 4 of every call: planner input, not priced
//!   }
//! }
//! Row = {"key": "quality",      // groups only; "(none)" when the record has no value
//!        "calls", "ok", "failed", "failed_by_reason": {"timeout": 1},
//!        "fallback_rate": 0.25 | null,   // failed / calls
//!        "completion_tokens", "usage_estimated_calls",
//!        "latency_ms": {"p50", "p95"}, "first_token_ms": {"p50"},  // nearest rank; null if none
//!        "artifact_tokens", "planner_tokens", "net_tokens"}
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{Config, StatsCmd, StatsKey};

/// The version of the `--json` shape.
pub const JSON_SCHEMA: u32 = 1;
/// The savings method, as printed and as put in the JSON.
const METHOD: &str = "tokens = chars / 4; ok delegations save their artifact (output chars), \
every delegation costs the planner its arguments (planner chars); failed ones count negative";
/// Tools whose calls are delegations; every other tool is overhead.
const DELEGATION_TOOLS: [&str; 2] = ["delegate_code", "delegate"];
/// The group key of a record that has no value for it.
const NONE_KEY: &str = "(none)";

/// What `stats` reads of a usage line. Lenient on purpose: a missing field takes its default and
/// a reason this build does not know is still a reason; only a line that is not a JSON object of
/// these types, or has no readable `ts` or `tool`, is malformed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Line {
    ts: String,
    tool: String,
    tier: Option<String>,
    model: Option<String>,
    ok: bool,
    reason: Option<String>,
    completion_tokens: u64,
    usage_estimated: bool,
    latency_ms: u64,
    first_token_ms: Option<u64>,
    output_chars: u64,
    planner_chars: u64,
    result_chars: u64,
    bytes_written: Option<u64>,
    client: Option<String>,
}

/// Sums of a set of delegations, plus the samples the percentiles need.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Acc {
    pub calls: u64,
    pub ok: u64,
    pub failed_by_reason: BTreeMap<String, u64>,
    pub completion_tokens: u64,
    pub usage_estimated_calls: u64,
    latencies_ms: Vec<u64>,
    first_tokens_ms: Vec<u64>,
    /// Characters of the artifacts of ok delegations.
    pub artifact_chars: u64,
    pub planner_chars: u64,
}

impl Acc {
    fn add(&mut self, l: &Line) {
        self.calls += 1;
        if l.ok {
            self.ok += 1;
            // A written file's record carries output_chars too; bytes are the fallback.
            self.artifact_chars += if l.output_chars > 0 {
                l.output_chars
            } else {
                l.bytes_written.unwrap_or(0)
            };
        } else {
            let reason = l.reason.clone().unwrap_or_else(|| "unknown".into());
            *self.failed_by_reason.entry(reason).or_default() += 1;
        }
        self.completion_tokens += l.completion_tokens;
        self.usage_estimated_calls += u64::from(l.usage_estimated);
        self.latencies_ms.push(l.latency_ms);
        self.first_tokens_ms.extend(l.first_token_ms);
        self.planner_chars += l.planner_chars;
    }

    pub(crate) fn failed(&self) -> u64 {
        self.calls - self.ok
    }

    pub(crate) fn fallback_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.failed() as f64 / self.calls as f64)
    }

    pub(crate) fn artifact_tokens(&self) -> i64 {
        tokens(self.artifact_chars)
    }

    pub(crate) fn planner_tokens(&self) -> i64 {
        tokens(self.planner_chars)
    }

    pub(crate) fn net_tokens(&self) -> i64 {
        self.artifact_tokens() - self.planner_tokens()
    }

    /// Sorts the samples once all lines are in; the percentiles read them sorted.
    fn finish(&mut self) {
        self.latencies_ms.sort_unstable();
        self.first_tokens_ms.sort_unstable();
    }

    pub(crate) fn latency(&self, p: u32) -> Option<u64> {
        percentile(&self.latencies_ms, p)
    }

    pub(crate) fn first_token(&self, p: u32) -> Option<u64> {
        percentile(&self.first_tokens_ms, p)
    }

    fn to_json(&self, key: Option<&str>) -> Value {
        let mut row = json!({
            "calls": self.calls,
            "ok": self.ok,
            "failed": self.failed(),
            "failed_by_reason": self.failed_by_reason,
            "fallback_rate": self.fallback_rate(),
            "completion_tokens": self.completion_tokens,
            "usage_estimated_calls": self.usage_estimated_calls,
            "latency_ms": {"p50": self.latency(50), "p95": self.latency(95)},
            "first_token_ms": {"p50": self.first_token(50)},
            "artifact_tokens": self.artifact_tokens(),
            "planner_tokens": self.planner_tokens(),
            "net_tokens": self.net_tokens(),
        });
        if let (Some(key), Some(obj)) = (key, row.as_object_mut()) {
            obj.insert("key".into(), key.into());
        }
        row
    }
}

/// The estimate's unit conversion: about four characters a token for code and English.
fn tokens(chars: u64) -> i64 {
    i64::try_from(chars / 4).unwrap_or(i64::MAX)
}

/// Nearest rank on sorted samples: the smallest value with at least p% of the samples at or
/// below it.
fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

/// Everything `stats` learned from one file.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub lines: u64,
    pub malformed: u64,
    /// Records counted (inside `--since`), every tool.
    pub calls: u64,
    pub other_calls: BTreeMap<String, u64>,
    pub first: Option<SystemTime>,
    pub last: Option<SystemTime>,
    pub total: Acc,
    /// One map a grouping, in the order asked.
    pub groups: Vec<(StatsKey, BTreeMap<String, Acc>)>,
    /// Characters of every result the planner read, delegations and other tools alike.
    pub result_chars: u64,
}

impl Summary {
    fn new(keys: &[StatsKey]) -> Summary {
        Summary {
            groups: keys.iter().map(|k| (*k, BTreeMap::new())).collect(),
            ..Summary::default()
        }
    }

    /// Takes one line of the file, blank lines aside.
    fn push_line(&mut self, raw: &[u8], since: Option<SystemTime>) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.lines += 1;
        let parsed = serde_json::from_slice::<Line>(raw)
            .ok()
            .filter(|l| !l.tool.is_empty())
            .and_then(|l| parse_time(&l.ts).map(|t| (l, t)));
        let Some((line, ts)) = parsed else {
            self.malformed += 1;
            return;
        };
        if since.is_some_and(|s| ts < s) {
            return;
        }
        self.calls += 1;
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        self.result_chars += line.result_chars;
        if !DELEGATION_TOOLS.contains(&line.tool.as_str()) {
            *self.other_calls.entry(line.tool).or_default() += 1;
            return;
        }
        self.total.add(&line);
        for (key, map) in &mut self.groups {
            let k = match key {
                StatsKey::Tier => line.tier.clone(),
                StatsKey::Model => line.model.clone(),
                StatsKey::Client => line.client.clone(),
                StatsKey::Day => Some(day(ts)),
            };
            let k = k
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| NONE_KEY.into());
            map.entry(k).or_default().add(&line);
        }
    }

    fn finish(&mut self) {
        self.total.finish();
        for (_, map) in &mut self.groups {
            map.values_mut().for_each(Acc::finish);
        }
    }

    /// A grouping's rows: days in order, anything else busiest first.
    fn rows(key: StatsKey, map: &BTreeMap<String, Acc>) -> Vec<(&String, &Acc)> {
        let mut rows: Vec<_> = map.iter().collect();
        if key != StatsKey::Day {
            rows.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(b.0)));
        }
        rows
    }
}

/// Reads the usage file to its end. A missing file is an empty one.
pub(crate) fn summarize(
    path: &Path,
    since: Option<SystemTime>,
    keys: &[StatsKey],
) -> anyhow::Result<Summary> {
    use anyhow::Context;
    let mut summary = Summary::new(keys);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(summary),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        summary.push_line(&buf, since);
    }
    summary.finish();
    Ok(summary)
}

/// An RFC 3339 time; `Z`, `+00:00` and other offsets alike.
fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Ok(t) = humantime::parse_rfc3339(s) {
        return Some(t);
    }
    // humantime reads UTC only; an offset such as +02:00 is applied here.
    let split = s.len().checked_sub(6)?;
    let (local, offset) = (s.get(..split)?, s.get(split..)?);
    let (sign, hhmm) = offset.split_at(1);
    let (hh, mm) = hhmm.split_once(':')?;
    let secs = hh.parse::<u64>().ok()? * 3600 + mm.parse::<u64>().ok()? * 60;
    if local.len() < 19 || local.as_bytes()[10] != b'T' {
        return None;
    }
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    match sign {
        "+" => t.checked_sub(Duration::from_secs(secs)),
        "-" => t.checked_add(Duration::from_secs(secs)),
        _ => None,
    }
}

/// The UTC day of a time, `YYYY-MM-DD`.
fn day(t: SystemTime) -> String {
    let mut s = humantime::format_rfc3339_seconds(t).to_string();
    s.truncate(10);
    s
}

fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `--since`: a duration back from `now` (`7d`, `24h`, `90m`), a UTC date, or an RFC 3339 time.
pub(crate) fn parse_since(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    let date = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    let t = if date {
        humantime::parse_rfc3339(&format!("{s}T00:00:00Z")).ok()
    } else {
        parse_time(s)
    };
    t.ok_or_else(|| {
        format!(
            "--since `{s}` is neither a duration (7d, 24h, 90m), a date (2026-11-01) nor an RFC 3339 time"
        )
    })
}

pub fn run(cfg: &Config, cmd: &StatsCmd) -> ExitCode {
    if !cmd.price_per_mtok.is_finite() || cmd.price_per_mtok < 0.0 {
        eprintln!("local-executor-mcp: --price-per-mtok must be a non-negative number of USD");
        return ExitCode::from(2);
    }
    let since = match cmd.since.as_deref() {
        Some(s) => match parse_since(s, SystemTime::now()) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("local-executor-mcp: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let keys: Vec<StatsKey> = match cmd.by {
        Some(k) => vec![k],
        None => vec![StatsKey::Tier, StatsKey::Model],
    };
    let path = cfg.usage_path();
    let summary = match summarize(&path, since, &keys) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local-executor-mcp: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let out = if cmd.json {
        let mut s = to_json(&summary, &path, since, cmd.price_per_mtok).to_string();
        s.push('\n');
        s
    } else {
        render(&summary, &path, since, cmd.price_per_mtok)
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`stats | head`) is not an error worth a message.
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
    ExitCode::SUCCESS
}

fn key_name(k: StatsKey) -> &'static str {
    match k {
        StatsKey::Model => "model",
        StatsKey::Tier => "tier",
        StatsKey::Day => "day",
        StatsKey::Client => "client",
    }
}

fn usd(net_tokens: i64, price_per_mtok: f64) -> f64 {
    net_tokens as f64 * price_per_mtok / 1_000_000.0
}

pub(crate) fn to_json(
    s: &Summary,
    path: &Path,
    since: Option<SystemTime>,
    price_per_mtok: f64,
) -> Value {
    let groups: serde_json::Map<String, Value> = s
        .groups
        .iter()
        .map(|(k, map)| {
            let rows = Summary::rows(*k, map)
                .into_iter()
                .map(|(key, acc)| acc.to_json(Some(key)))
                .collect();
            (key_name(*k).to_string(), Value::Array(rows))
        })
        .collect();
    let net = s.total.net_tokens();
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
        "total": s.total.to_json(None),
        "groups": groups,
        "savings": {
            "estimate": true,
            "method": METHOD,
            "price_per_mtok_usd": price_per_mtok,
            "artifact_tokens": s.total.artifact_tokens(),
            "planner_tokens": s.total.planner_tokens(),
            "net_tokens": net,
            "usd": usd(net, price_per_mtok),
            "result_tokens": tokens(s.result_chars),
        },
    })
}

/// 1234567 -> "1,234,567".
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

fn u(n: u64) -> String {
    thousands(i64::try_from(n).unwrap_or(i64::MAX))
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// Milliseconds under a second (a loaded model's first token), seconds above.
fn seconds(ms: Option<u64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// Cents for a dollar or more; four decimals below, where a first week's savings sit.
fn dollars(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    let v = v.abs();
    if v >= 1.0 {
        format!("{sign}${v:.2}")
    } else {
        format!("{sign}${v:.4}")
    }
}

fn reasons(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Columns padded to their widest cell: the first and last left-aligned, numbers right-aligned.
fn table(rows: &[Vec<String>]) -> String {
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
            if c == 0 || c == cols - 1 {
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

fn group_table(key: StatsKey, map: &BTreeMap<String, Acc>) -> String {
    let mut rows = vec![
        [
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
        ]
        .map(String::from)
        .to_vec(),
    ];
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
            thousands(a.net_tokens()),
            reasons(&a.failed_by_reason),
        ]);
    }
    table(&rows)
}

pub(crate) fn render(
    s: &Summary,
    path: &Path,
    since: Option<SystemTime>,
    price_per_mtok: f64,
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
        out.push_str(&format!(
            "\ndelegations: {} · ok {} ({}) · DELEGATION_FAILED {} (fallback rate {})",
            u(t.calls),
            u(t.ok),
            percent(t.fallback_rate().map(|r| 1.0 - r)),
            u(t.failed()),
            percent(t.fallback_rate()),
        ));
        if !t.failed_by_reason.is_empty() {
            out.push_str(&format!(": {}", reasons(&t.failed_by_reason)));
        }
        let estimated = if t.usage_estimated_calls > 0 {
            format!(
                " (estimated by the server on {} calls)",
                u(t.usage_estimated_calls)
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\nlocal completion tokens: {}{estimated}\nlatency: p50 {}, p95 {} · first token: p50 {}\n",
            u(t.completion_tokens),
            seconds(t.latency(50)),
            seconds(t.latency(95)),
            seconds(t.first_token(50)),
        ));
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
            out.push_str(&group_table(*key, map));
        }
    }
    if s.calls > 0 {
        let net = t.net_tokens();
        out.push_str(&format!(
            "\nestimated savings (an estimate, not a measurement):\n\
             \x20 frontier output tokens avoided: {} net = {} of artifacts the planner did not write - {} it wrote to make the calls\n\
             \x20 at ${price_per_mtok:.2} per million frontier output tokens (--price-per-mtok): {}\n\
             \x20 planner input tokens read in results: {} (input, priced lower; not in the figures above)\n\
             \x20 method: {METHOD}\n",
            thousands(net),
            thousands(t.artifact_tokens()),
            thousands(t.planner_tokens()),
            dollars(usd(net, price_per_mtok)),
            thousands(tokens(s.result_chars)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    fn delegation(ts: &str, tier: &str, model: &str, ok: bool) -> Value {
        json!({"v": 1, "ts": ts, "tool": "delegate_code", "tier": tier, "model": model, "ok": ok,
               "reason": if ok { Value::Null } else { "timeout".into() },
               "completion_tokens": 10, "latency_ms": 1000, "output_chars": if ok { 400 } else { 0 },
               "planner_chars": 40, "result_chars": 420})
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=10).map(|i| i * 100).collect();
        assert_eq!(percentile(&v, 50), Some(500));
        assert_eq!(percentile(&v, 95), Some(1000));
        assert_eq!(percentile(&v, 90), Some(900));
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[1, 2], 50), Some(1));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn aggregates_delegations_and_sets_other_tools_apart() {
        let mut s = Summary::new(&[StatsKey::Tier, StatsKey::Model]);
        s.push_line(
            &line(delegation(
                "2026-11-01T10:00:00.000Z",
                "quality",
                "big",
                true,
            )),
            None,
        );
        s.push_line(
            &line(delegation(
                "2026-11-01T11:00:00.000Z",
                "fast",
                "small",
                false,
            )),
            None,
        );
        s.push_line(
            &line(json!({"ts": "2026-11-01T12:00:00Z", "tool": "list_local_models", "ok": true, "result_chars": 80})),
            None,
        );
        s.push_line(b"not json\n", None);
        s.push_line(b"\n", None);
        s.push_line(br#"{"tool": "delegate_code"}"#, None);
        s.finish();
        assert_eq!((s.lines, s.malformed, s.calls), (5, 2, 3));
        assert_eq!(s.other_calls["list_local_models"], 1);
        assert_eq!((s.total.calls, s.total.ok, s.total.failed()), (2, 1, 1));
        assert_eq!(s.total.failed_by_reason["timeout"], 1);
        assert_eq!(s.total.fallback_rate(), Some(0.5));
        // 400 chars of artifact = 100 tokens, 80 chars of arguments = 20 tokens.
        assert_eq!(
            (
                s.total.artifact_tokens(),
                s.total.planner_tokens(),
                s.total.net_tokens()
            ),
            (100, 20, 80)
        );
        assert_eq!(tokens(s.result_chars), 230);
        let tiers = &s.groups[0].1;
        assert_eq!(tiers["quality"].net_tokens(), 90);
        assert_eq!(tiers["fast"].net_tokens(), -10);
        assert_eq!(s.groups[1].1["small"].calls, 1);
    }

    #[test]
    fn since_drops_older_calls_and_days_group_in_utc() {
        let since = parse_since("2026-11-02", SystemTime::now()).unwrap();
        let mut s = Summary::new(&[StatsKey::Day]);
        s.push_line(
            &line(delegation("2026-11-01T23:59:59Z", "quality", "m", true)),
            Some(since),
        );
        // 01:30 at +02:00 is 23:30 UTC of the day before: dropped.
        s.push_line(
            &line(delegation(
                "2026-11-02T01:30:00+02:00",
                "quality",
                "m",
                true,
            )),
            Some(since),
        );
        s.push_line(
            &line(delegation(
                "2026-11-02T00:30:00-01:00",
                "quality",
                "m",
                true,
            )),
            Some(since),
        );
        s.finish();
        assert_eq!(s.calls, 1);
        assert_eq!(s.groups[0].1.keys().collect::<Vec<_>>(), vec!["2026-11-02"]);
    }

    #[test]
    fn since_takes_durations_dates_and_times() {
        let now = humantime::parse_rfc3339("2026-11-21T12:00:00Z").unwrap();
        let at = |s: &str| format_time(parse_since(s, now).unwrap());
        assert_eq!(at("7d"), "2026-11-14T12:00:00Z");
        assert_eq!(at("24h"), "2026-11-20T12:00:00Z");
        assert_eq!(at("90m"), "2026-11-21T10:30:00Z");
        assert_eq!(at("2026-11-01"), "2026-11-01T00:00:00Z");
        assert_eq!(at("2026-11-01T08:00:00+01:00"), "2026-11-01T07:00:00Z");
        assert!(parse_since("last week", now).is_err());
        assert!(parse_since("2026-13-01", now).is_err());
    }

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
        assert_eq!(table(&rows), "tier     calls  why\nquality      7\n");
    }
}
