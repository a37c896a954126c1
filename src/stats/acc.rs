//! One usage line as `stats` reads it, and the sums of a set of them: what counts as saved
//! (on disk) or only maybe saved (inline), what the planner paid (its arguments, what it read
//! back), what checks and repairs did, and the percentiles. The shell `delegate` subcommand has no
//! planner: its calls count as delegations, but what they wrote is kept apart from the saving.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What `stats` reads of a usage line. Lenient on purpose: a missing field takes its default and
/// a reason this build does not know is still a reason; only a line that is not a JSON object of
/// these types, or has no readable `ts` or `tool`, is malformed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Line {
    v: u32,
    pub(super) ts: String,
    pub(super) tool: String,
    pub(super) tier: Option<String>,
    pub(super) model: Option<String>,
    pub(super) ok: bool,
    reason: Option<String>,
    completion_tokens: u64,
    usage_estimated: bool,
    latency_ms: u64,
    first_token_ms: Option<u64>,
    output_chars: u64,
    planner_chars: u64,
    pub(super) result_chars: u64,
    output_path: Option<String>,
    bytes_written: Option<u64>,
    pub(super) client: Option<String>,
    pub(super) language: Option<String>,
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

    /// The shell subcommand: no planner wrote its arguments or read its result.
    pub(super) fn is_shell(&self) -> bool {
        self.tool == "delegate"
    }

    /// A check applied to the call's answer (a repair means one failed before).
    pub(super) fn had_checks(&self) -> bool {
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
    pub(super) latencies_ms: Vec<u64>,
    pub(super) first_tokens_ms: Vec<u64>,
    /// Characters that landed on disk (written files, added lines of edits): saved output.
    pub disk_chars: u64,
    /// Characters of ok artifacts returned inline: saved only if not re-typed.
    pub inline_chars: u64,
    /// Characters the planner wrote (its arguments) and read back (the results), at the output
    /// and the input price. The total also carries the results of the calls that are not
    /// delegations (`list_local_models`): the planner reads those too.
    pub planner_chars: u64,
    pub result_chars: u64,
    /// Ok results the planner received whose artifact landed on disk, and those handed back
    /// inline.
    pub ok_on_disk: u64,
    pub ok_inline: u64,
    /// Calls of the shell `delegate` subcommand and what they wrote: no planner, no saving.
    pub shell_calls: u64,
    pub shell_disk_chars: u64,
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
    pub(super) fn add(&mut self, l: &Line) {
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
        if l.is_shell() {
            self.shell_calls += 1;
            self.shell_disk_chars += l.disk_chars();
        } else {
            let disk = l.disk_chars();
            self.disk_chars += disk;
            self.inline_chars += l.inline_chars();
            self.planner_chars += l.planner_chars;
            self.result_chars += l.result_chars;
            if l.ok {
                if disk > 0 {
                    self.ok_on_disk += 1;
                } else {
                    self.ok_inline += 1;
                }
            }
        }
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

    /// A call that is not a delegation (`list_local_models`): not a call of these sums, but the
    /// planner wrote its arguments and read its result.
    pub(super) fn add_overhead(&mut self, l: &Line) {
        self.planner_chars += l.planner_chars;
        self.result_chars += l.result_chars;
    }

    /// Everything of `other` into `self` (a week from its days); call [`Acc::finish`] after.
    pub(super) fn merge(&mut self, other: &Acc) {
        self.calls += other.calls;
        self.ok += other.ok;
        for (r, n) in &other.failed_by_reason {
            *self.failed_by_reason.entry(r.clone()).or_default() += n;
        }
        self.completion_tokens += other.completion_tokens;
        self.usage_estimated_calls += other.usage_estimated_calls;
        self.latencies_ms.extend_from_slice(&other.latencies_ms);
        self.first_tokens_ms
            .extend_from_slice(&other.first_tokens_ms);
        self.disk_chars += other.disk_chars;
        self.inline_chars += other.inline_chars;
        self.planner_chars += other.planner_chars;
        self.result_chars += other.result_chars;
        self.ok_on_disk += other.ok_on_disk;
        self.ok_inline += other.ok_inline;
        self.shell_calls += other.shell_calls;
        self.shell_disk_chars += other.shell_disk_chars;
        self.checked_calls += other.checked_calls;
        self.check_failed += other.check_failed;
        self.ok_checked += other.ok_checked;
        self.repaired_calls += other.repaired_calls;
        self.repaired_ok += other.repaired_ok;
        self.repairs += other.repairs;
        self.escalated += other.escalated;
        self.multi_file_calls += other.multi_file_calls;
        self.files += other.files;
        self.files_failed += other.files_failed;
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

    pub(crate) fn result_tokens(&self) -> i64 {
        tokens(self.result_chars)
    }

    pub(crate) fn shell_disk_tokens(&self) -> i64 {
        tokens(self.shell_disk_chars)
    }

    /// The saving priced as a planner pays, in output tokens' worth: what landed on disk, less
    /// the arguments it wrote, less what it read back at `1 / ratio` of the output price.
    pub(crate) fn priced_net(&self, ratio: f64) -> f64 {
        self.net_tokens() as f64 - self.result_tokens() as f64 / ratio
    }

    /// Share of the ok results the planner received that landed on disk.
    pub(crate) fn on_disk_share(&self) -> Option<f64> {
        rate(self.ok_on_disk, self.ok_on_disk + self.ok_inline)
    }

    /// Ok results whose delivered artifact was not checked (no check applied, or one could not
    /// judge it).
    pub(crate) fn ok_unchecked(&self) -> u64 {
        self.ok - self.ok_checked
    }

    /// Sorts the samples once all lines are in; the percentiles read them sorted.
    pub(super) fn finish(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
