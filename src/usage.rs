//! One JSON line per tool call in `usage.jsonl`: what ran, on which model, how it ended, what it
//! cost. Never prompt or output text. Each line is one `write` on an append-mode file, so several
//! server processes (one per open editor) can share the file without interleaving.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::failure::Reason;

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageRecord {
    pub v: u32,
    /// RFC 3339, UTC.
    pub ts: String,
    /// `delegate_code`, `list_local_models`, or `delegate` for the shell subcommand.
    pub tool: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// True when the backend reported no usage and the counts are ours.
    pub usage_estimated: bool,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Characters of the artifact (inline or written).
    pub output_chars: u64,
    /// Characters of the arguments the planner sent.
    pub planner_chars: u64,
    /// Characters of the result the planner received.
    pub result_chars: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
    /// Bytes the server read from `context_files`.
    pub context_bytes: u64,
    /// HTTP attempts made (retries after 502/503/429 or a refused connection count).
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The artifact's language or format, canonical (`python`, `typescript`, `json`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Every check run on the final artifact, in order, with its verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRecord>,
    /// True when at least one check applied to the delivered artifact and every one passed.
    pub checked: bool,
    /// Answers the model was asked to correct after a failed check (each one a generation).
    pub repairs: u32,
    /// The tier a call started on before it was escalated (`fast`), when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_from: Option<String>,
    /// Characters that landed on disk without passing through the planner: whole written files,
    /// the added lines of an edit. What `stats` counts as saved output.
    pub disk_chars: u64,
    /// Files asked for in a multi-file call, and how many of them failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_failed: Option<u32>,
    /// The model's context window in tokens, as the prompt was budgeted against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Context files reduced to an outline or their head so that the prompt fit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub context_reduced: u32,
    /// Continuations asked of an answer cut at the token limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub continued: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One check's verdict on an artifact: `name` as the footer shows it (`python syntax`, `ruff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub name: String,
    pub verdict: Verdict,
}

/// `pass` and `fail` judge the artifact; the others say the check itself could not judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The configured program is not installed.
    Missing,
    Timeout,
    /// The checker crashed or could not be started.
    Error,
}

impl UsageRecord {
    pub fn new(tool: &str) -> UsageRecord {
        UsageRecord {
            v: SCHEMA_VERSION,
            ts: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            tool: tool.to_string(),
            ..UsageRecord::default()
        }
    }
}

/// Appends one line; a failure is a warning on stderr, never an error of the call.
pub fn append(path: &Path, record: &UsageRecord) {
    if let Err(e) = try_append(path, record) {
        tracing::warn!(path = %path.display(), "cannot write the usage line: {e:#}");
    }
}

fn try_append(path: &Path, record: &UsageRecord) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut line = serde_json::to_vec(record).context("serialize the usage record")?;
    line.push(b'\n');
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    // One write(2) on an O_APPEND file lands whole at the end; write_all could split it in two.
    let n = file.write(&line).context("append")?;
    anyhow::ensure!(n == line.len(), "short write: {n} of {} bytes", line.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_parseable_line_per_call_and_creates_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/usage.jsonl");
        let mut r = UsageRecord::new("delegate_code");
        r.reason = Some(Reason::Truncated);
        append(&path, &r);
        r.ok = true;
        r.reason = None;
        append(&path, &r);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["reason"], "truncated");
        assert_eq!(first["v"], SCHEMA_VERSION);
        assert!(first["ts"].as_str().unwrap().ends_with('Z'));
        let back: UsageRecord = serde_json::from_str(lines[1]).unwrap();
        assert!(back.ok);
    }

    /// Log lines written by tracing, kept for the test to read.
    #[derive(Clone, Default)]
    struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_unwritable_path_is_a_warning_that_names_it_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // A folder under a regular file cannot be created, whoever runs the test.
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let path = blocker.join("usage.jsonl");
        let err = try_append(&path, &UsageRecord::new("x")).unwrap_err();
        assert!(
            format!("{err:#}").starts_with(&format!("create {}: ", blocker.display())),
            "{err:#}"
        );

        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        // Returns normally: the failure is the log's, never the call's.
        tracing::subscriber::with_default(subscriber, || append(&path, &UsageRecord::new("x")));
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains(" WARN "), "{text}");
        assert!(
            text.contains("cannot write the usage line: create "),
            "{text}"
        );
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "x");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn schema_2_fields_serialize_under_the_names_stats_reads() {
        let mut r = UsageRecord::new("delegate_files");
        r.language = Some("python".into());
        r.checks = vec![CheckRecord {
            name: "python syntax".into(),
            verdict: Verdict::Fail,
        }];
        r.repairs = 2;
        r.escalated_from = Some("fast".into());
        r.disk_chars = 1200;
        r.files = Some(3);
        r.files_failed = Some(1);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["v"], 2);
        assert_eq!(
            v["checks"],
            serde_json::json!([{"name": "python syntax", "verdict": "fail"}])
        );
        assert_eq!(
            (
                &v["language"],
                &v["checked"],
                &v["repairs"],
                &v["escalated_from"]
            ),
            (
                &serde_json::json!("python"),
                &serde_json::json!(false),
                &serde_json::json!(2),
                &serde_json::json!("fast")
            )
        );
        assert_eq!(
            (&v["disk_chars"], &v["files"], &v["files_failed"]),
            (
                &serde_json::json!(1200),
                &serde_json::json!(3),
                &serde_json::json!(1)
            )
        );
        // A call without them leaves the optional fields out of the line.
        let v = serde_json::to_value(UsageRecord::new("delegate_code")).unwrap();
        for key in [
            "checks",
            "escalated_from",
            "files",
            "files_failed",
            "language",
        ] {
            assert!(v.get(key).is_none(), "{key}");
        }
    }
}
