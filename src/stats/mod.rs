//! `stats`: reads `usage.jsonl` line by line (a file of a million lines is fine), skips and counts
//! the lines it cannot read, and aggregates the delegations: calls, ok, `DELEGATION_FAILED` by
//! reason, fallback rate, local tokens, latency percentiles, what checks and repairs did, and an
//! estimate of the frontier output tokens and money the delegations avoided. Prints a table, or
//! JSON for dashboards. [`summary`] reads the file ([`acc`] sums a set of lines, [`time`] reads
//! times), [`text`] and [`json`] print.
//!
//! The savings are an estimate on purpose kept simple enough to state in one line: tokens ≈
//! characters / 4; an artifact saved the planner writing it only when it landed on disk (a
//! written file, the added lines of an edit; `disk_chars`, or a v1 line's `output_chars` with an
//! `output_path`); every delegation cost the planner writing its arguments (`planner_chars`), so a
//! failed call counts negative. An inline artifact is reported on its own line: the planner that
//! re-types it into its Write tool pays it twice, so it is saved only if not re-typed. What the
//! planner reads back (`result_chars`) is input, priced lower, and is reported beside it.
//!
//! The `--json` shape (`schema` 2; new keys may be added, none renamed or removed; schema 1
//! counted every ok artifact, inline ones too, in `artifact_tokens`):
//!
//! ```text
//! {
//!   "schema": 2,
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
//!     "artifact_tokens": 725,    // chars / 4 that landed on disk
//!     "planner_tokens": 130,     // planner chars / 4 of every delegation
//!     "net_tokens": 595,         // artifact_tokens - planner_tokens, may be negative
//!     "usd": 0.008925,           // net_tokens * price / 1e6
//!     "inline_tokens": 300,      // output chars / 4 of ok inline artifacts: saved only if not re-typed
//!     "result_tokens": 300       // result chars / 4 of every call: planner input, not priced
//!   }
//! }
//! Row = {"key": "quality",      // groups only; "(none)" when the record has no value
//!        "calls", "ok", "failed", "failed_by_reason": {"timeout": 1},
//!        "fallback_rate": 0.25 | null,   // failed / calls
//!        "completion_tokens",            // every generation, repairs included
//!        "usage_estimated_calls",
//!        "latency_ms": {"p50", "p95"}, "first_token_ms": {"p50"},  // nearest rank; null if none
//!        "artifact_tokens", "planner_tokens", "net_tokens", "inline_tokens",
//!        "checked_calls",                // calls a check applied to
//!        "check_failed", "check_failure_rate",  // of those, an answer failed a check (repaired or not)
//!        "ok_checked", "checked_share",  // ok results checked and passed, / ok
//!        "repaired_calls", "repaired_ok", "repairs", "repair_rate",  // repaired_calls / checked_calls
//!        "escalated",                    // calls escalated from another tier
//!        "multi_file_calls", "files", "files_failed"}
//! ```

mod acc;
mod json;
mod summary;
mod text;
mod time;

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::config::Config;

/// The version of the `--json` shape.
pub const JSON_SCHEMA: u32 = 2;
/// The savings method, as printed and as put in the JSON.
const METHOD: &str = "tokens = chars / 4; artifacts that landed on disk (written files, added \
lines of edits) save their characters; inline artifacts are not counted, since a planner that \
re-types one into a file pays it twice; every delegation costs the planner its arguments \
(planner chars), so failed ones count negative";

#[derive(Debug, clap::Args)]
pub struct StatsCmd {
    /// Only calls newer than this: a duration (`7d`, `24h`) or a date (`2026-11-01`).
    #[arg(long)]
    pub since: Option<String>,
    /// Group the table by this key.
    #[arg(long, value_enum)]
    pub by: Option<StatsKey>,
    /// Print JSON for dashboards instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Frontier output price in USD per million tokens, for the savings estimate.
    #[arg(long, env = "LOCAL_EXECUTOR_PRICE_PER_MTOK", default_value_t = 15.0)]
    pub price_per_mtok: f64,
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
    let keys: Vec<StatsKey> = match cmd.by {
        Some(k) => vec![k],
        None => vec![StatsKey::Tier, StatsKey::Model],
    };
    let path = cfg.usage_path();
    let summary = match summary::summarize(&path, since, &keys) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local-executor-mcp: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let out = if cmd.json {
        let mut s = json::to_json(&summary, &path, since, cmd.price_per_mtok).to_string();
        s.push('\n');
        s
    } else {
        text::render(&summary, &path, since, cmd.price_per_mtok)
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
