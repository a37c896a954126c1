//! Reading `usage.jsonl` and adding it up: one lenient pass over the lines (a line that is not a
//! usage record, or whose `ts` does not parse, is counted as malformed and skipped), sums per
//! grouping, and the time parsing `--since` shares with the lines.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;

use crate::config::StatsKey;

/// Tools whose calls are delegations; every other tool is overhead.
const DELEGATION_TOOLS: [&str; 3] = ["delegate_code", "delegate_files", "delegate"];
/// The group key of a record that has no value for it.
pub(crate) const NONE_KEY: &str = "(none)";

/// What `stats` reads of a usage line. Lenient on purpose: a missing field takes its default and
/// a reason this build does not know is still a reason; only a line that is not a JSON object of
/// these types, or has no readable `ts` or `tool`, is malformed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Line {
    v: u32,
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
    output_path: Option<String>,
    bytes_written: Option<u64>,
    client: Option<String>,
    language: Option<String>,
    checks: Vec<CheckLine>,
    checked: bool,
    repairs: u32,
    escalated_from: Option<String>,
    disk_chars: u64,
    files: Option<u32>,
    files_failed: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckLine {
    /// `pass`, `fail`, or a verdict on the checker itself (`missing`, `timeout`, `error`).
    verdict: String,
}

impl Line {
    /// Characters that reached the disk without passing through the planner. A v1 line has no
    /// `disk_chars`: there, an ok call with an `output_path` wrote its whole artifact.
    fn disk_chars(&self) -> u64 {
        if self.v >= 2 {
            self.disk_chars
        } else if self.ok && self.output_path.is_some() {
            if self.output_chars > 0 {
                self.output_chars
            } else {
                self.bytes_written.unwrap_or(0)
            }
        } else {
            0
        }
    }

    /// Characters of an ok artifact handed back as text: saved only if the planner does not
    /// re-type it into a file.
    fn inline_chars(&self) -> u64 {
        if self.ok && self.output_path.is_none() && self.disk_chars() == 0 {
            self.output_chars
        } else {
            0
        }
    }

    /// A check applied to the call's answer (a repair means one failed before).
    fn had_checks(&self) -> bool {
        !self.checks.is_empty() || self.repairs > 0
    }

    /// An answer of the model failed a check: the final verdict, or one that was repaired.
    fn failed_a_check(&self) -> bool {
        self.repairs > 0 || self.checks.iter().any(|c| c.verdict == "fail")
    }
}

/// Sums of a set of delegations, plus the samples the percentiles need.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Acc {
    pub calls: u64,
    pub ok: u64,
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Every generation's tokens, repairs and escalations included: all of it local cost.
    pub completion_tokens: u64,
    pub usage_estimated_calls: u64,
    latencies_ms: Vec<u64>,
    first_tokens_ms: Vec<u64>,
    /// Characters that landed on disk (written files, added lines of edits): saved output.
    pub disk_chars: u64,
    /// Characters of ok artifacts returned inline: saved only if not re-typed.
    pub inline_chars: u64,
    pub planner_chars: u64,
    /// Calls whose answer at least one check applied to.
    pub checked_calls: u64,
    /// Of those, the calls where an answer failed a check (repaired or not).
    pub check_failed: u64,
    /// Ok results whose delivered artifact was checked and passed.
    pub ok_checked: u64,
    /// Calls that needed at least one repair, how many of them ended ok, and repairs in all.
    pub repaired_calls: u64,
    pub repaired_ok: u64,
    pub repairs: u64,
    /// Calls escalated from another tier.
    pub escalated: u64,
    /// Multi-file calls, the files they asked for, and the files that failed.
    pub multi_file_calls: u64,
    pub files: u64,
    pub files_failed: u64,
}

impl Acc {
    fn add(&mut self, l: &Line) {
        self.calls += 1;
        if l.ok {
            self.ok += 1;
            self.ok_checked += u64::from(l.checked);
        } else {
            let reason = l.reason.clone().unwrap_or_else(|| "unknown".into());
            *self.failed_by_reason.entry(reason).or_default() += 1;
        }
        self.completion_tokens += l.completion_tokens;
        self.usage_estimated_calls += u64::from(l.usage_estimated);
        self.latencies_ms.push(l.latency_ms);
        self.first_tokens_ms.extend(l.first_token_ms);
        self.disk_chars += l.disk_chars();
        self.inline_chars += l.inline_chars();
        self.planner_chars += l.planner_chars;
        if l.had_checks() {
            self.checked_calls += 1;
            self.check_failed += u64::from(l.failed_a_check());
        }
        if l.repairs > 0 {
            self.repaired_calls += 1;
            self.repaired_ok += u64::from(l.ok);
            self.repairs += u64::from(l.repairs);
        }
        self.escalated += u64::from(l.escalated_from.is_some());
        if let Some(files) = l.files {
            self.multi_file_calls += 1;
            self.files += u64::from(files);
            self.files_failed += u64::from(l.files_failed.unwrap_or(0));
        }
    }

    pub(crate) fn failed(&self) -> u64 {
        self.calls - self.ok
    }

    pub(crate) fn fallback_rate(&self) -> Option<f64> {
        rate(self.failed(), self.calls)
    }

    /// Share of the calls a check applied to whose answer failed one.
    pub(crate) fn check_failure_rate(&self) -> Option<f64> {
        rate(self.check_failed, self.checked_calls)
    }

    /// Share of the calls a check applied to that needed a repair.
    pub(crate) fn repair_rate(&self) -> Option<f64> {
        rate(self.repaired_calls, self.checked_calls)
    }

    /// Share of the ok results that were checked.
    pub(crate) fn checked_share(&self) -> Option<f64> {
        rate(self.ok_checked, self.ok)
    }

    /// Tokens the planner did not write: what landed on disk.
    pub(crate) fn artifact_tokens(&self) -> i64 {
        tokens(self.disk_chars)
    }

    pub(crate) fn inline_tokens(&self) -> i64 {
        tokens(self.inline_chars)
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
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The estimate's unit conversion: about four characters a token for code and English.
pub(crate) fn tokens(chars: u64) -> i64 {
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

/// The groupings of the check-failure tables, always by language and by model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckKey {
    Language,
    Model,
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
    /// The delegations a check applied to, by language and by the model of the final answer.
    pub checks: Vec<(CheckKey, BTreeMap<String, Acc>)>,
    /// Characters of every result the planner read, delegations and other tools alike.
    pub result_chars: u64,
}

impl Summary {
    pub(crate) fn new(keys: &[StatsKey]) -> Summary {
        Summary {
            groups: keys.iter().map(|k| (*k, BTreeMap::new())).collect(),
            checks: vec![
                (CheckKey::Language, BTreeMap::new()),
                (CheckKey::Model, BTreeMap::new()),
            ],
            ..Summary::default()
        }
    }

    /// Takes one line of the file, blank lines aside.
    pub(crate) fn push_line(&mut self, raw: &[u8], since: Option<SystemTime>) {
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
            map.entry(key_or_none(k)).or_default().add(&line);
        }
        if line.had_checks() {
            for (key, map) in &mut self.checks {
                let k = match key {
                    CheckKey::Language => line.language.clone(),
                    CheckKey::Model => line.model.clone(),
                };
                map.entry(key_or_none(k)).or_default().add(&line);
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        self.total.finish();
        for (_, map) in &mut self.groups {
            map.values_mut().for_each(Acc::finish);
        }
        for (_, map) in &mut self.checks {
            map.values_mut().for_each(Acc::finish);
        }
    }

    /// A grouping's rows: days in order, anything else busiest first.
    pub(crate) fn rows(key: StatsKey, map: &BTreeMap<String, Acc>) -> Vec<(&String, &Acc)> {
        let mut rows: Vec<_> = map.iter().collect();
        if key != StatsKey::Day {
            busiest_first(&mut rows);
        }
        rows
    }

    /// A check table's rows, the most checked first.
    pub(crate) fn check_rows(map: &BTreeMap<String, Acc>) -> Vec<(&String, &Acc)> {
        let mut rows: Vec<_> = map.iter().collect();
        busiest_first(&mut rows);
        rows
    }
}

fn busiest_first(rows: &mut [(&String, &Acc)]) {
    rows.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(b.0)));
}

fn key_or_none(k: Option<String>) -> String {
    k.filter(|k| !k.is_empty())
        .unwrap_or_else(|| NONE_KEY.into())
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

/// An RFC 3339 time; `Z`, `+00:00` and other offsets alike. Anything else, whatever characters
/// it holds, is `None`.
fn parse_time(s: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(SystemTime::from)
}

/// The UTC day of a time, `YYYY-MM-DD`.
fn day(t: SystemTime) -> String {
    let mut s = format_time(t);
    s.truncate(10);
    s
}

pub(crate) fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `--since`: a duration back from `now` (`7d`, `24h`, `90m`), a UTC date, or an RFC 3339 time.
pub(crate) fn parse_since(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| SystemTime::from(t.and_utc()));
    date.or_else(|| parse_time(s)).ok_or_else(|| {
        format!(
            "--since `{s}` is neither a duration (7d, 24h, 90m), a date (2026-11-01) nor an RFC 3339 time"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn line(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    fn delegation(ts: &str, tier: &str, model: &str, ok: bool) -> Value {
        json!({"v": 1, "ts": ts, "tool": "delegate_code", "tier": tier, "model": model, "ok": ok,
               "reason": if ok { Value::Null } else { "timeout".into() },
               "completion_tokens": 10, "latency_ms": 1000, "output_chars": if ok { 400 } else { 0 },
               "planner_chars": 40, "result_chars": 420})
    }

    fn summary_of(lines: &[Value]) -> Summary {
        let mut s = Summary::new(&[StatsKey::Tier, StatsKey::Model]);
        for l in lines {
            s.push_line(&line(l.clone()), None);
        }
        s.finish();
        s
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
        let mut written = delegation("2026-11-01T10:00:00.000Z", "quality", "big", true);
        written["output_path"] = "a.py".into();
        s.push_line(&line(written), None);
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
        // 400 chars written by a v1 line = 100 tokens, 80 chars of arguments = 20 tokens.
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
        // No line carried a check: the check tables stay empty.
        assert!(s.checks.iter().all(|(_, m)| m.is_empty()));
    }

    #[test]
    fn only_what_landed_on_disk_counts_as_saved() {
        let v2 = |extra: Value| {
            let mut l = json!({"v": 2, "ts": "2026-11-01T10:00:00Z", "tool": "delegate_code",
                               "ok": true, "output_chars": 400, "planner_chars": 40});
            for (k, v) in extra.as_object().unwrap() {
                l[k] = v.clone();
            }
            l
        };
        let s = summary_of(&[
            // Inline, v2 and v1: saved only if not re-typed.
            v2(json!({})),
            {
                let mut l = v2(json!({}));
                l["v"] = 1.into();
                l
            },
            // Written whole; an edit's added lines; a failed batch that still wrote one file.
            v2(json!({"output_path": "a.py", "disk_chars": 400})),
            v2(json!({"output_path": "b.py", "disk_chars": 120})),
            v2(json!({"tool": "delegate_files", "ok": false, "reason": "invalid_output",
                      "files": 2, "files_failed": 1, "disk_chars": 80})),
            // A v2 write that left nothing on disk is neither saved nor inline.
            v2(json!({"output_path": "c.py"})),
        ]);
        let t = &s.total;
        assert_eq!((t.disk_chars, t.inline_chars), (600, 800));
        assert_eq!((t.artifact_tokens(), t.inline_tokens()), (150, 200));
        assert_eq!(t.planner_tokens(), 60);
        assert_eq!(t.net_tokens(), 90);
        assert_eq!((t.multi_file_calls, t.files, t.files_failed), (1, 2, 1));
    }

    #[test]
    fn counts_checks_repairs_and_escalations() {
        let l = |lang: &str, model: &str, ok: bool, checks: &[&str], repairs: u32| {
            let checks: Vec<Value> = checks
                .iter()
                .map(|v| json!({"name": "syntax", "verdict": v}))
                .collect();
            json!({"v": 2, "ts": "2026-11-01T10:00:00Z", "tool": "delegate_code",
                   "language": lang, "model": model, "ok": ok, "checks": checks,
                   "checked": ok && !checks.is_empty() && checks.iter().all(|c| c["verdict"] == "pass"),
                   "repairs": repairs})
        };
        let mut escalated = l("python", "big", true, &["pass"], 2);
        escalated["escalated_from"] = "fast".into();
        let s = summary_of(&[
            l("python", "small", true, &["pass"], 0),
            l("python", "small", true, &["pass"], 1),
            escalated,
            l("python", "small", false, &["fail"], 2),
            l("json", "small", true, &["pass"], 0),
            l("markdown", "small", true, &[], 0),
            l("python", "small", true, &["missing"], 0),
        ]);
        let t = &s.total;
        assert_eq!((t.calls, t.ok, t.ok_checked), (7, 6, 4));
        assert_eq!(t.checked_share(), Some(4.0 / 6.0));
        assert_eq!((t.checked_calls, t.check_failed), (6, 3));
        assert_eq!(t.check_failure_rate(), Some(0.5));
        assert_eq!((t.repaired_calls, t.repaired_ok, t.repairs), (3, 2, 5));
        assert_eq!(t.repair_rate(), Some(0.5));
        assert_eq!(t.escalated, 1);
        let by_lang = &s.checks[0].1;
        assert_eq!(by_lang.keys().collect::<Vec<_>>(), ["json", "python"]);
        assert_eq!(by_lang["python"].check_failure_rate(), Some(0.6));
        assert_eq!(by_lang["json"].check_failure_rate(), Some(0.0));
        let by_model = &s.checks[1].1;
        assert_eq!(by_model["big"].check_failed, 1);
        assert_eq!(by_model["small"].check_failed, 2);
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
    fn a_ts_with_a_non_ascii_offset_is_a_malformed_line() {
        let mut s = Summary::new(&[StatsKey::Tier]);
        for ts in [
            "2026-11-02T01:30:00é2:00",
            "2026-11-02T01:30:00+0é:00",
            "2026-11-02T01:30:00+02:0é",
            "2026-11-02T01:30:00€",
            "2026-11-02T01:30:00+02:00€",
            "2026-11-02T01:30:00+02:00🙂",
            "2026-11-02T01:30:00+02:00ü",
            "2026-11-02T01:30:00ẞ00:00",
            "２０２６-11-02T01:30:00Z",
            "é",
        ] {
            s.push_line(&line(delegation(ts, "quality", "m", true)), None);
        }
        s.push_line(
            &line(delegation("2026-11-02T01:30:00+02:00", "quality", "m", true)),
            None,
        );
        s.finish();
        assert_eq!((s.lines, s.malformed, s.calls), (11, 10, 1));
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
        assert_eq!(at("2026-11-01T08:00:00.250Z"), "2026-11-01T08:00:00Z");
        assert!(parse_since("last week", now).is_err());
        assert!(parse_since("2026-13-01", now).is_err());
    }

    #[test]
    fn since_refuses_non_ascii_without_panicking() {
        let now = SystemTime::now();
        for s in [
            "2026-11-01T08:00:00é1:00",
            "2026-11-01T08:00:00+0ü:00",
            "2026-11-0é",
            "2026-11-01T08:00:00€",
            "７d",
            "🙂🙂🙂🙂🙂🙂🙂",
            "2026-11-01T08:00:00+01:00ß",
        ] {
            assert!(parse_since(s, now).is_err(), "{s}");
        }
    }
}
