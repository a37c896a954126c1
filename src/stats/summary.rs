//! Reading `usage.jsonl` and adding it up: one lenient pass over the lines (a line that is not a
//! usage record, or whose `ts` does not parse, is counted as malformed and skipped) and the sums
//! per grouping.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::SystemTime;

use super::acc::{Acc, Line};
use super::time::{day, parse_time};
use crate::stats::StatsKey;

/// Tools whose calls are delegations; every other tool is overhead.
const DELEGATION_TOOLS: [&str; 3] = ["delegate_code", "delegate_files", "delegate"];
/// The group key of a record that has no value for it.
const NONE_KEY: &str = "(none)";

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
    /// Every UTC day's delegations and overhead, for the page's trends (kept only when asked:
    /// [`Summary::with_days`]).
    pub days: Option<BTreeMap<String, Acc>>,
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

    /// Also keeps the sums of every day.
    pub(crate) fn with_days(mut self) -> Summary {
        self.days = Some(BTreeMap::new());
        self
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
        let day_acc = self.days.as_mut().map(|d| d.entry(day(ts)).or_default());
        if !DELEGATION_TOOLS.contains(&line.tool.as_str()) {
            // The planner read this result too: overhead of the total and of its day.
            self.total.add_overhead(&line);
            if let Some(d) = day_acc {
                d.add_overhead(&line);
            }
            *self.other_calls.entry(line.tool).or_default() += 1;
            return;
        }
        if let Some(d) = day_acc {
            d.add(&line);
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
        if let Some(days) = &mut self.days {
            days.values_mut().for_each(Acc::finish);
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
    days: bool,
) -> anyhow::Result<Summary> {
    use anyhow::Context;
    let mut summary = Summary::new(keys);
    if days {
        summary = summary.with_days();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::time::parse_since;
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
        // What the planner read back: both delegations' results and the listing's.
        assert_eq!(s.total.result_tokens(), 230);
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
            v2(
                json!({"tool": "delegate_files", "ok": false, "reason": "invalid_output",
                      "files": 2, "files_failed": 1, "disk_chars": 80}),
            ),
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
    fn the_shell_subcommand_saves_nothing_and_other_tools_cost_what_they_return() {
        let mut s = Summary::new(&[StatsKey::Tier]).with_days();
        let written = |tool: &str, ts: &str| {
            json!({"v": 2, "ts": ts, "tool": tool, "tier": "quality", "ok": true,
                   "output_chars": 4000, "disk_chars": 4000, "output_path": "a.py",
                   "planner_chars": 400, "result_chars": 200})
        };
        s.push_line(
            &line(written("delegate_code", "2026-11-01T10:00:00Z")),
            None,
        );
        s.push_line(&line(written("delegate", "2026-11-01T11:00:00Z")), None);
        s.push_line(
            &line(
                json!({"ts": "2026-11-02T09:00:00Z", "tool": "list_local_models", "ok": true,
                         "result_chars": 100}),
            ),
            None,
        );
        s.finish();
        let t = &s.total;
        assert_eq!((t.calls, t.ok, t.shell_calls), (2, 2, 1));
        assert_eq!(
            (t.disk_chars, t.shell_disk_chars, t.planner_chars),
            (4000, 4000, 400)
        );
        assert_eq!((t.ok_on_disk, t.ok_inline), (1, 0));
        // 1,000 - 100 - (50 + 25) / 5 = 885.
        assert_eq!(t.result_tokens(), 75);
        assert_eq!(t.priced_net(5.0), 885.0);
        // The tier row has the delegations only; the days add up to the total.
        assert_eq!(s.groups[0].1["quality"].priced_net(5.0), 890.0);
        let days = s.days.as_ref().unwrap();
        assert_eq!(
            days.keys().collect::<Vec<_>>(),
            ["2026-11-01", "2026-11-02"]
        );
        assert_eq!(days["2026-11-02"].calls, 0);
        let sum: f64 = days.values().map(|d| d.priced_net(5.0)).sum();
        assert_eq!(sum, t.priced_net(5.0));
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
            &line(delegation(
                "2026-11-02T01:30:00+02:00",
                "quality",
                "m",
                true,
            )),
            None,
        );
        s.finish();
        assert_eq!((s.lines, s.malformed, s.calls), (11, 10, 1));
    }
}
