//! `doctor`: checks the setup the way the server will use it — the base URL's shape, the backend
//! answering `/v1/models`, the configured models being served, a one-token generation on each
//! tier, llama-swap's `/running`, the usage folder, the workspace — one line a check (`✔`, `✘`
//! with a line on how to fix it, or `–` for what is only information or was skipped, with a fix
//! line when there is something to do), the binary on `PATH`, and whether Claude Code will ask
//! before each of the server's tools. It ends with the `claude mcp add` line for these settings
//! and exits 1 when a check failed. The API key is never printed: every line passes through a
//! filter that masks it, in case a backend echoes it. This file runs the checks in order and
//! prints; [`backend`], [`model`], [`local`] and [`claude`] hold them.

mod backend;
mod claude;
mod local;
mod model;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, Tier};
use crate::engine::Engine;

/// Prints the check lines and counts the failures; masks the API key in everything it prints.
struct Report {
    failed: usize,
    secret: Option<String>,
}

impl Report {
    fn line(&self, text: &str) {
        let text = match &self.secret {
            Some(k) => text.replace(k.as_str(), "<api key>"),
            None => text.to_string(),
        };
        println!("{text}");
    }

    fn pass(&mut self, what: impl AsRef<str>) {
        self.line(&format!("✔ {}", what.as_ref()));
    }

    fn fail(&mut self, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.failed += 1;
        self.line(&format!("✘ {}\n  fix: {}", what.as_ref(), fix.as_ref()));
    }

    fn note(&mut self, what: impl AsRef<str>) {
        self.line(&format!("– {}", what.as_ref()));
    }

    /// Information with something to do about it; not a failure, as the server itself works.
    fn advise(&mut self, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.line(&format!("– {}\n  fix: {}", what.as_ref(), fix.as_ref()));
    }
}

#[derive(Debug, clap::Args)]
pub struct DoctorCmd {
    /// Skip the one-token test generation on each tier.
    #[arg(long)]
    pub no_generate: bool,
}

/// What the checks found, for the checks after them and the final `claude mcp add` line.
struct Found {
    /// The model that serves each tier, when it is known and served.
    quality: Option<String>,
    fast: Option<String>,
}
pub async fn run(cfg: Config, cmd: &DoctorCmd) -> ExitCode {
    let mut report = Report {
        failed: 0,
        // A one-character key would mask every such character; no real key is that short.
        secret: cfg.api_key.clone().filter(|k| k.len() >= 4),
    };
    let engine = match Engine::new(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("local-executor-mcp: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cfg = engine.cfg.clone();

    backend::check_url_shape(&cfg, &mut report);
    let mut found = Found {
        quality: None,
        fast: None,
    };
    if let Some(served) = backend::check_backend(&cfg, &engine.backend, &mut report).await {
        found.quality = model::check_model(&cfg, Tier::Quality, &served, None, &mut report);
        found.fast = model::check_model(
            &cfg,
            Tier::Fast,
            &served,
            found.quality.as_deref(),
            &mut report,
        );
        if cmd.no_generate {
            report.note("test generation skipped (--no-generate)");
        } else {
            model::check_generation(&engine, &found, &mut report).await;
        }
        if let Some(l) = engine
            .windows_line(found.quality.as_deref(), found.fast.as_deref())
            .await
        {
            report.note(l)
        }
        backend::check_llama_swap(&engine.backend, &cfg, &mut report).await;
    } else {
        report
            .note("models, test generation and llama-swap not checked: the backend did not answer");
    }
    local::check_usage_folder(&cfg.home, &cfg.usage_path(), &mut report);
    local::check_workspace(&cfg.workspace, cfg.allow_write, &mut report);
    local::check_commands(&cfg, &mut report);
    local::check_on_path(&mut report);
    claude::check_permissions(&cfg.workspace, dirs::home_dir().as_deref(), &mut report);

    let line = claude_mcp_add(&cfg, &found);
    if report.failed == 0 {
        report.line("\nAll checks passed. Add the server to Claude Code with:");
    } else {
        let n = report.failed;
        let s = if n == 1 { "" } else { "s" };
        report.line(&format!(
            "\n{n} check{s} failed. Once fixed, add the server to Claude Code with:"
        ));
    }
    report.line(&format!("  {line}"));
    if cfg.api_key.is_some() {
        report.line(
            "  (the key is read from $LOCAL_LLM_API_KEY in your shell; doctor never prints it)",
        );
    }
    if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `claude mcp add` for these settings: the base URL (its fix, for a pasted endpoint) and the
/// models as found, a reference to the key rather than its value, and the binary by name when it is on PATH, else by its full path.
fn claude_mcp_add(cfg: &Config, found: &Found) -> String {
    let base = backend::pasted_endpoint(&cfg.base_url_raw).unwrap_or_else(|| cfg.base_url.clone());
    let mut env: Vec<String> = vec![format!("LOCAL_LLM_BASE_URL={base}")];
    let quality = cfg.model_quality.clone().or_else(|| found.quality.clone());
    if let Some(q) = &quality {
        env.push(format!("LOCAL_LLM_MODEL_QUALITY={q}"));
    }
    if let Some(f) = &cfg.model_fast {
        env.push(format!("LOCAL_LLM_MODEL_FAST={f}"));
    }
    // The set-up it recommends lets results land on disk (delegate_files), where they save most.
    env.push("LOCAL_EXECUTOR_ALLOW_WRITE=1".into());
    let mut line = String::from("claude mcp add local-executor");
    for e in &env {
        line.push_str(" --env ");
        line.push_str(&shell_quote(e));
    }
    if cfg.api_key.is_some() {
        line.push_str(" --env \"LOCAL_LLM_API_KEY=$LOCAL_LLM_API_KEY\"");
    }
    line.push_str(" -- ");
    line.push_str(&shell_quote(&command_name()));
    line
}

const BIN_NAME: &str = crate::init::COMMAND;

fn command_name() -> String {
    if crate::init::binary_on_path() {
        return BIN_NAME.into();
    }
    std::env::current_exe()
        .ok()
        .map(PathBuf::into_os_string)
        .and_then(|p| p.into_string().ok())
        .unwrap_or_else(|| BIN_NAME.into())
}

/// Single quotes for anything a POSIX shell would read differently.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_the_shell_would_misread() {
        assert_eq!(
            shell_quote("LOCAL_LLM_BASE_URL=http://127.0.0.1:8080/v1"),
            "LOCAL_LLM_BASE_URL=http://127.0.0.1:8080/v1"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("/opt/my tools/x"), "'/opt/my tools/x'");
    }
}
