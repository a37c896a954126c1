//! `stats`: reads `usage.jsonl` line by line (a file of a million lines is fine), skips and counts
//! the lines it cannot read, and aggregates the delegations: calls, ok, `DELEGATION_FAILED` by
//! reason, fallback rate, local tokens, latency percentiles, what checks and repairs did, and an
//! estimate of what the delegations saved, priced as a planner pays. Prints a table, JSON for
//! dashboards, or one self-contained HTML page. [`summary`] reads the file ([`acc`] sums a set of
//! lines, [`time`] reads times), [`saving`] states the priced saving in the words every output
//! shares, [`text`], [`json`] and [`html`] (with [`svg`] for its charts) print.
//!
//! The saving is an estimate on purpose kept simple enough to state in one line: tokens ≈
//! characters / 4; an artifact saved the planner writing it only when it landed on disk (a
//! written file, the added lines of an edit; `disk_chars`, or a v1 line's `output_chars` with an
//! `output_path`), at the output price; every call cost the planner writing its arguments
//! (`planner_chars`) at the output price and reading the result (`result_chars`) at the input
//! price, the output price / `--price-ratio`; so a failed call counts negative. An inline artifact
//! is reported on its own line: the planner that re-types it into its Write tool pays it twice,
//! so it is saved only if not re-typed. The shell `delegate` subcommand has no planner: its calls
//! are delegations, but what they wrote is counted apart, never as a saving.
//!
//! The `--json` shape (`schema` 3; new keys may be added, none renamed or removed; schema 1
//! counted every ok artifact, inline ones too, in `artifact_tokens`; schema 2 counted the shell
//! `delegate` subcommand's artifacts and arguments in the saving and did not price what the
//! planner reads back):
//!
//! ```text
//! {
//!   "schema": 3,
//!   "file": "/path/usage.jsonl",
//!   "since": "2026-11-02T00:00:00Z" | null,    // the cut-off in effect, UTC
//!   "first_ts": "…" | null, "last_ts": "…" | null, // of the calls counted
//!   "lines": 14,                                // non-blank lines read
//!   "malformed": 2,                             // lines skipped: not a usage record
//!   "calls": 12,                                // usage records counted, every tool
//!   "other_calls": {"list_local_models": 2},    // calls that are not delegations, by tool
//!   "total": Row,                               // the delegations (delegate_code, delegate_files, delegate)
//!   "groups": {"tier": [Row], "model": [Row]},  // the --by key, or tier and model by default
//!   "checks": {"language": [Row], "model": [Row]}, // calls a check applied to, most checked first
//!   "savings": {
//!     "estimate": true, "method": "…", "price_per_mtok_usd": 15.0,
//!     "price_ratio": 5.0, "input_price_per_mtok_usd": 3.0,  // input = output price / ratio
//!     "artifact_tokens": 725,    // chars / 4 that landed on disk (planner calls)
//!     "planner_tokens": 130,     // planner chars / 4 of every planner call
//!     "net_tokens": 595,         // artifact_tokens - planner_tokens, may be negative
//!     "usd": 0.008925,           // net_tokens * price / 1e6 (schema 2's figure)
//!     "inline_tokens": 300,      // output chars / 4 of ok inline artifacts: saved only if not re-typed
//!     "result_tokens": 300,      // result chars / 4 of every planner call: read at the input price
//!     "priced_net_tokens": 535,  // round(net_tokens - result_tokens / ratio): the headline
//!     "priced_usd": 0.008025,    // (net_tokens - result_tokens / ratio) * price / 1e6
//!     "formula": "= 725 tokens landed on disk - …",  // the line under the figure
//!     "shell_calls": 1, "shell_disk_tokens": 90  // the shell `delegate`: no planner, not saved
//!   }
//! }
//! Row = {"key": "quality",      // groups only; "(none)" when the record has no value
//!        "calls", "ok", "failed", "failed_by_reason": {"timeout": 1},
//!        "fallback_rate": 0.25 | null,   // failed / calls
//!        "completion_tokens",            // every generation, repairs included
//!        "usage_estimated_calls",
//!        "latency_ms": {"p50", "p95"}, "first_token_ms": {"p50"},  // nearest rank; null if none
//!        "artifact_tokens", "planner_tokens", "net_tokens", "inline_tokens",
//!        "result_tokens", "priced_net_tokens",  // the row's delegations only, no overhead
//!        "ok_on_disk", "ok_inline", "on_disk_share",  // ok planner results: landed on disk, / both
//!        "shell_calls", "shell_disk_tokens",
//!        "checked_calls",                // calls a check applied to
//!        "check_failed", "check_failure_rate",  // of those, an answer failed a check (repaired or not)
//!        "ok_checked", "checked_share",  // ok results checked and passed, / ok
//!        "repaired_calls", "repaired_ok", "repairs", "repair_rate",  // repaired_calls / checked_calls
//!        "escalated",                    // calls escalated from another tier
//!        "multi_file_calls", "files", "files_failed"}
//! ```

mod acc;
mod html;
mod json;
mod saving;
mod summary;
mod svg;
mod text;
mod time;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crate::config::Config;

/// The version of the `--json` shape.
pub const JSON_SCHEMA: u32 = 3;
/// The savings method, as printed and as put in the JSON.
const METHOD: &str = "tokens = chars / 4; artifacts that landed on disk (written files, added \
lines of edits) save their characters at the output price; inline artifacts are not counted, \
since a planner that re-types one into a file pays it twice; every call costs the planner its \
arguments (planner chars) at the output price and what it reads back (result chars) at the \
input price, so failed ones count negative; the shell `delegate` subcommand has no planner and \
is counted apart";

/// The prices the saving is stated at: output tokens in USD per million, and how many times
/// input is cheaper.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prices {
    pub per_mtok: f64,
    pub ratio: f64,
}

impl Prices {
    fn usd(&self, output_tokens: f64) -> f64 {
        output_tokens * self.per_mtok / 1_000_000.0
    }

    fn input_per_mtok(&self) -> f64 {
        self.per_mtok / self.ratio
    }
}

#[derive(Debug, clap::Args)]
pub struct StatsCmd {
    /// Only calls newer than this: a duration (`7d`, `24h`) or a date (`2026-11-01`).
    #[arg(long)]
    pub since: Option<String>,
    /// Group the table by this key.
    #[arg(long, value_enum)]
    pub by: Option<StatsKey>,
    /// Print JSON for dashboards instead of a table.
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Write one self-contained HTML page instead of a table: to FILE (default `stats.html`), or to stdout with `-`.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "stats.html")]
    pub html: Option<PathBuf>,
    /// Frontier output price in USD per million tokens, for the savings estimate.
    #[arg(long, env = "LOCAL_EXECUTOR_PRICE_PER_MTOK", default_value_t = 15.0)]
    pub price_per_mtok: f64,
    /// How many times the output price exceeds the input price (what the planner reads back).
    #[arg(long, env = "LOCAL_EXECUTOR_PRICE_RATIO", default_value_t = 5.0)]
    pub price_ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsKey {
    Model,
    Tier,
    Day,
    Client,
}

pub fn run(cfg: &Config, cmd: &StatsCmd) -> ExitCode {
    if !cmd.price_per_mtok.is_finite() || cmd.price_per_mtok < 0.0 {
        eprintln!("local-executor-mcp: --price-per-mtok must be a non-negative number of USD");
        return ExitCode::from(2);
    }
    if !cmd.price_ratio.is_finite() || cmd.price_ratio <= 0.0 {
        eprintln!(
            "local-executor-mcp: --price-ratio must be a positive number (output price / input price)"
        );
        return ExitCode::from(2);
    }
    let prices = Prices {
        per_mtok: cmd.price_per_mtok,
        ratio: cmd.price_ratio,
    };
    let since = match cmd.since.as_deref() {
        Some(s) => match time::parse_since(s, SystemTime::now()) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("local-executor-mcp: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    // The page always shows tier and model, and the --by key beside them.
    let keys: Vec<StatsKey> = match (cmd.by, cmd.html.is_some()) {
        (Some(k), true) if k != StatsKey::Tier && k != StatsKey::Model => {
            vec![StatsKey::Tier, StatsKey::Model, k]
        }
        (Some(k), false) => vec![k],
        _ => vec![StatsKey::Tier, StatsKey::Model],
    };
    let path = cfg.usage_path();
    let summary = match summary::summarize(&path, since, &keys, cmd.html.is_some()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local-executor-mcp: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let out = if cmd.json {
        let mut s = json::to_json(&summary, &path, since, prices).to_string();
        s.push('\n');
        s
    } else if let Some(file) = &cmd.html {
        let page = html::render(&summary, &path, since, prices, cmd.by);
        if file.as_os_str() != "-" {
            return match write_page(file, &page) {
                Ok(()) => {
                    eprintln!(
                        "local-executor-mcp: wrote {} ({} KB)",
                        file.display(),
                        page.len().div_ceil(1024)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("local-executor-mcp: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        page
    } else {
        text::render(&summary, &path, since, prices)
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`stats | head`) is not an error worth a message.
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
    ExitCode::SUCCESS
}

/// Replaces `file` whole or not at all: a temp file in the same folder, renamed over it, so an
/// interrupted run never leaves half a page (nor follows a symlink at `file`: the link itself is
/// replaced).
fn write_page(file: &Path, page: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".stats-").suffix(".html.tmp");
    // A report to open and share, like any file the shell makes (tempfile's default is 0600).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot write {}", file.display()))?;
    tmp.write_all(page.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", file.display()))?;
    tmp.persist(file)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
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
