//! `stats`: aggregates usage.jsonl.

use std::process::ExitCode;

use crate::config::{Config, StatsCmd};

pub fn run(_cfg: &Config, _cmd: &StatsCmd) -> ExitCode {
    eprintln!("stats: not implemented yet");
    ExitCode::FAILURE
}
