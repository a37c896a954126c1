//! `doctor`: checks the setup.

use std::process::ExitCode;

use crate::config::{Config, DoctorCmd};

pub async fn run(_cfg: Config, _cmd: &DoctorCmd) -> ExitCode {
    eprintln!("doctor: not implemented yet");
    ExitCode::FAILURE
}
