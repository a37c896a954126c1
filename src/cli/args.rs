//! The settings as flags and environment variables (clap: flag > env > default), in groups, so
//! that each subcommand takes, and its `--help` lists, only the groups it uses; and their
//! resolution into the plain [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::{self, CheckCommand, Config};

/// Where state lives and what is logged: every subcommand has these.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "State and logs")]
pub struct StateArgs {
    /// State folder; usage.jsonl lives here [default: ~/.local-executor-mcp].
    #[arg(long, env = "LOCAL_EXECUTOR_HOME")]
    pub home: Option<PathBuf>,
    /// Tracing filter for the logs on stderr [default: `info` for the server, `warn` for the
    /// other subcommands].
    #[arg(long, env = "LOCAL_EXECUTOR_LOG")]
    pub log: Option<String>,
    /// Log more: `-v` shows what the server logs (retries, escalations), `-vv` debug lines.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The backend and how long to wait for it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Backend")]
pub struct BackendArgs {
    /// OpenAI-compatible base URL, with or without /v1.
    #[arg(long, env = "LOCAL_LLM_BASE_URL", default_value = config::DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Model id for tier=quality [default: first suitable model the backend lists].
    #[arg(long, env = "LOCAL_LLM_MODEL_QUALITY")]
    pub model_quality: Option<String>,
    /// Model id for tier=fast [default: the quality model].
    #[arg(long, env = "LOCAL_LLM_MODEL_FAST")]
    pub model_fast: Option<String>,
    /// Bearer token for the backend; never logged.
    #[arg(long, env = "LOCAL_LLM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Seconds for the TCP/TLS connect.
    #[arg(long, env = "LOCAL_LLM_CONNECT_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub connect_timeout: Duration,
    /// Seconds from request sent to first token (covers a model load).
    #[arg(long, env = "LOCAL_LLM_FIRST_TOKEN_TIMEOUT", default_value = "300", value_parser = parse_seconds)]
    pub first_token_timeout: Duration,
    /// Longest gap in seconds between streamed chunks.
    #[arg(long, env = "LOCAL_LLM_IDLE_TIMEOUT", default_value = "60", value_parser = parse_seconds)]
    pub idle_timeout: Duration,
    /// Seconds for the whole call, checks included.
    #[arg(long = "timeout", env = "LOCAL_LLM_TIMEOUT", default_value = "900", value_parser = parse_seconds)]
    pub total_timeout: Duration,
    /// Sampling temperature sent with every request; `default` leaves it to the backend.
    #[arg(long, env = "LOCAL_LLM_TEMPERATURE", default_value = "0.2", value_parser = parse_temperature)]
    pub temperature: Temperature,
    /// `off` asks thinking models (Qwen3 and the like) not to think: mechanical work needs no
    /// reasoning, and a thinking model can spend its whole budget on it. `auto` leaves it to the
    /// model.
    #[arg(long, env = "LOCAL_LLM_THINK", value_enum, default_value_t = Think::Auto)]
    pub think: Think,
    /// Most backend calls in flight at once; the rest queue [default: unlimited].
    #[arg(long, env = "LOCAL_LLM_MAX_CONCURRENT")]
    pub max_concurrent: Option<usize>,
    /// Context window of the quality model in tokens, for a backend that does not say
    /// (llama-cpp-python); a backend's own figure wins when smaller [default: the backend's, else
    /// 4096].
    #[arg(long, env = "LOCAL_LLM_CONTEXT_QUALITY")]
    pub context_quality: Option<u32>,
    /// Context window of the fast model in tokens [default: as for the quality model].
    #[arg(long, env = "LOCAL_LLM_CONTEXT_FAST")]
    pub context_fast: Option<u32>,
}

/// The workspace: what may be read and written, and how much.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Workspace")]
pub struct WorkspaceArgs {
    /// Root for context files and the files written [default: CLAUDE_PROJECT_DIR, else the
    /// working directory].
    #[arg(long, env = "LOCAL_EXECUTOR_WORKSPACE")]
    pub workspace: Option<PathBuf>,
    #[arg(long, env = "CLAUDE_PROJECT_DIR", hide = true)]
    pub claude_project_dir: Option<PathBuf>,
    /// Serve delegate_files, which writes and edits files inside the workspace.
    #[arg(long, env = "LOCAL_EXECUTOR_ALLOW_WRITE",
          action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_write: bool,
    /// Largest inline artifact, in characters.
    #[arg(long, env = "LOCAL_EXECUTOR_MAX_OUTPUT_CHARS", default_value_t = config::DEFAULT_MAX_OUTPUT_CHARS)]
    pub max_output_chars: usize,
    /// Largest single context file, in bytes.
    #[arg(long, env = "LOCAL_EXECUTOR_MAX_FILE_BYTES", default_value_t = config::DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// Largest total of context files per call, in bytes.
    #[arg(long, env = "LOCAL_EXECUTOR_MAX_CONTEXT_BYTES", default_value_t = config::DEFAULT_MAX_CONTEXT_BYTES)]
    pub max_context_bytes: u64,
    /// More paths never written, comma-separated: names (`*.pem`, `secrets/`) or paths from the
    /// workspace root (`deploy/prod`), added to the built-in list.
    #[arg(long, env = "LOCAL_EXECUTOR_PROTECTED", value_delimiter = ',')]
    pub protected: Vec<String>,
    /// Secret-holding files that may be read as context anyway, comma-separated, in the syntax
    /// of `--protected` (`.env.local`, `certs/*.pem`; `*` allows every one).
    #[arg(long, env = "LOCAL_EXECUTOR_READ_SECRETS", value_delimiter = ',')]
    pub read_secrets: Vec<String>,
    /// Most diff lines in an edit's receipt.
    #[arg(long, env = "LOCAL_EXECUTOR_MAX_DIFF_LINES", default_value_t = config::DEFAULT_MAX_DIFF_LINES)]
    pub max_diff_lines: usize,
    /// How an existing file is edited: auto (by size, language and task), blocks, whole, symbols.
    #[arg(long, env = "LOCAL_EXECUTOR_EDIT_FORMAT", value_enum, default_value_t = config::EditFormat::Auto)]
    pub edit_format: config::EditFormat,
}

/// The checks an artifact goes through, and the repairs a failed one gets.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Checks")]
pub struct CheckArgs {
    /// A check command for a language, `LANG=COMMAND`, `{file}` standing for the file at its path
    /// in the staged project; without `{file}` it checks the whole project; repeatable. Also `LOCAL_EXECUTOR_CHECK_<LANG>=COMMAND`; a flag replaces the variable of its language.
    #[arg(long = "check", value_name = "LANG=COMMAND", value_parser = parse_check_flag)]
    pub checks: Vec<CheckCommand>,
    /// Seconds a check command may run.
    #[arg(long, env = "LOCAL_EXECUTOR_CHECK_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub check_timeout: Duration,
    /// Corrected answers asked of the model after a failed check.
    #[arg(long, env = "LOCAL_EXECUTOR_REPAIRS", default_value_t = config::DEFAULT_REPAIRS)]
    pub repairs: u32,
    /// Continuations asked of a model whose code answer stopped at the token limit.
    #[arg(long, env = "LOCAL_EXECUTOR_CONTINUATIONS", default_value_t = config::DEFAULT_CONTINUATIONS)]
    pub continuations: u32,
}

/// Every setting: what the server, `delegate` and `doctor` use.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Whether a thinking model is asked to think.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Think {
    Auto,
    Off,
}

/// A temperature to send, or none to leave the backend's own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature(pub Option<f64>);

impl StateArgs {
    /// A `Config` with this state folder and every other setting at its default.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let home = match &self.home {
            Some(h) => h.clone(),
            None => dirs::home_dir()
                .ok_or_else(|| anyhow::anyhow!("no home directory; set LOCAL_EXECUTOR_HOME"))?
                .join(".local-executor-mcp"),
        };
        Ok(Config::with_defaults(home, PathBuf::from(".")))
    }
}

impl BackendArgs {
    pub fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        // `${LOCAL_LLM_BASE_URL:-}` in an `.mcp.json` expands to "" when unset: the default.
        let given = match self.base_url.trim() {
            "" => config::DEFAULT_BASE_URL,
            url => url,
        };
        let (base_url_raw, base_auth) = split_credentials(given);
        cfg.base_url = normalize_base_url(&base_url_raw)?;
        cfg.base_url_raw = base_url_raw;
        cfg.base_auth = base_auth;
        cfg.model_quality = non_empty(&self.model_quality);
        cfg.model_fast = non_empty(&self.model_fast);
        cfg.api_key = non_empty(&self.api_key);
        cfg.connect_timeout = self.connect_timeout;
        cfg.first_token_timeout = self.first_token_timeout;
        cfg.idle_timeout = self.idle_timeout;
        cfg.total_timeout = self.total_timeout;
        cfg.temperature = self.temperature.0;
        cfg.no_think = self.think == Think::Off;
        cfg.max_concurrent = self.max_concurrent.filter(|n| *n > 0);
        cfg.context_quality = self.context_quality.filter(|n| *n > 0);
        cfg.context_fast = self.context_fast.filter(|n| *n > 0);
        Ok(())
    }
}

impl WorkspaceArgs {
    pub fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        cfg.workspace = match self.workspace.as_ref().or(self.claude_project_dir.as_ref()) {
            Some(w) => w.clone(),
            None => std::env::current_dir()?,
        };
        cfg.allow_write = self.allow_write;
        cfg.max_output_chars = self.max_output_chars;
        cfg.max_file_bytes = self.max_file_bytes;
        cfg.max_context_bytes = self.max_context_bytes;
        cfg.protected = self
            .protected
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        cfg.read_secrets = self
            .read_secrets
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        cfg.max_diff_lines = self.max_diff_lines;
        cfg.edit_format = self.edit_format;
        Ok(())
    }
}

impl CheckArgs {
    pub fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        cfg.checks = merge_checks(&self.checks, std::env::vars_os())?;
        cfg.check_timeout = self.check_timeout;
        cfg.repairs = self.repairs;
        cfg.continuations = self.continuations;
        Ok(())
    }
}

impl Settings {
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut cfg = self.state.resolve()?;
        self.backend.apply(&mut cfg)?;
        self.workspace.apply(&mut cfg)?;
        self.check.apply(&mut cfg)?;
        Ok(cfg)
    }
}

// `.mcp.json` expansion of an unset `${VAR:-}` yields an empty string; treat it as unset.
fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn parse_temperature(s: &str) -> Result<Temperature, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("default") {
        return Ok(Temperature(None));
    }
    match s.parse::<f64>() {
        Ok(t) if (0.0..=2.0).contains(&t) => Ok(Temperature(Some(t))),
        _ => Err(format!(
            "`{s}` is not a temperature from 0 to 2, or `default`"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{s}` must be a positive number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// Takes `user:pass@` out of a URL, so that what is kept, logged and printed holds no secret.
fn split_credentials(raw: &str) -> (String, Option<(String, Option<String>)>) {
    let Ok(mut url) = reqwest::Url::parse(raw) else {
        return (raw.to_string(), None);
    };
    if url.username().is_empty() && url.password().is_none() {
        return (raw.to_string(), None);
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let auth = (decode(url.username()), url.password().map(decode));
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let mut clean = url.to_string();
    // Url adds a `/` to a bare host; keep the spelling the user gave.
    if !raw.ends_with('/') && clean.ends_with('/') {
        clean.pop();
    }
    (clean, Some(auth))
}

/// A URL as it may be shown: whatever stands between `://` and the first `@` of the authority
/// (a user name and password) is masked, even when the rest does not parse.
pub(crate) fn mask_userinfo(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://").map(|i| i + 3) else {
        return raw.to_string();
    };
    let rest = &raw[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}<credentials>{}", &raw[..scheme_end], &rest[at..]),
        None => raw.to_string(),
    }
}

/// Accepts `http://host:port`, `http://host:port/`, `.../v1` and `.../v1/`; returns `.../v1`.
pub(crate) fn normalize_base_url(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let shown = mask_userinfo(trimmed);
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| anyhow::anyhow!("LOCAL_LLM_BASE_URL `{shown}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("LOCAL_LLM_BASE_URL `{shown}` must start with http:// or https://");
    }
    if trimmed.ends_with("/v1") {
        Ok(trimmed.to_string())
    } else {
        Ok(format!("{trimmed}/v1"))
    }
}

/// Prefix of the environment variables naming a check command: `LOCAL_EXECUTOR_CHECK_PYTHON`.
const CHECK_ENV_PREFIX: &str = "LOCAL_EXECUTOR_CHECK_";

fn parse_check_flag(s: &str) -> Result<CheckCommand, String> {
    let (language, command) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not LANG=COMMAND"))?;
    crate::check::check_command(language, command)
}

/// The flags' commands, then one per `LOCAL_EXECUTOR_CHECK_<LANG>` variable whose language no
/// flag names. Blank variables (an unset `${VAR:-}` in `.mcp.json`) are skipped. Only a LANG in
/// the check module's language table makes a command: any other name (a setting that happens to
/// share the prefix, a typo) is ignored with a warning, never run.
fn merge_checks(
    flags: &[CheckCommand],
    env: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> anyhow::Result<Vec<CheckCommand>> {
    let mut from_env = Vec::new();
    for (key, value) in env {
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            continue;
        };
        let Some(language) = key.strip_prefix(CHECK_ENV_PREFIX) else {
            continue;
        };
        if language == "TIMEOUT" || value.trim().is_empty() {
            continue;
        }
        if crate::check::Lang::from_name(language).is_none() {
            tracing::warn!(
                "{key} is ignored: {language} is not a language this server knows; use --check {}=COMMAND for it",
                language.to_ascii_lowercase()
            );
            continue;
        }
        let check = crate::check::check_command(language, value)
            .map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        from_env.push((key.to_string(), check));
    }
    from_env.sort_by(|a, b| a.0.cmp(&b.0));
    let mut checks = flags.to_vec();
    for (_, check) in from_env {
        if !flags.iter().any(|f| f.language == check.language) {
            checks.push(check);
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn settings(cli: &Cli) -> &Settings {
        match &cli.command {
            None => &cli.settings,
            Some(Command::Serve(c)) => &c.settings,
            Some(Command::Doctor(c)) => &c.settings,
            Some(Command::Delegate(c)) => &c.settings,
            other => panic!("no settings in {other:?}"),
        }
    }

    #[test]
    fn base_url_gains_v1_once() {
        assert_eq!(
            normalize_base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(
            normalize_base_url("http://127.0.0.1:8080/v1/").unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(
            normalize_base_url("https://openrouter.ai/api/v1").unwrap(),
            "https://openrouter.ai/api/v1"
        );
        assert!(normalize_base_url("127.0.0.1:8080").is_err());
        assert!(normalize_base_url("ftp://x/v1").is_err());
    }

    #[test]
    fn a_base_url_that_does_not_parse_is_reported_without_its_password() {
        let e = normalize_base_url("http://alice:hunter2-SECRET@gpu-box:99999/v1").unwrap_err();
        let shown = format!("{e:#}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("http://<credentials>@gpu-box:99999/v1"),
            "{shown}"
        );
        let e = normalize_base_url("ftp://u:p4ss@x/v1").unwrap_err();
        assert!(!format!("{e:#}").contains("p4ss"));
        assert_eq!(mask_userinfo("http://h:1/v1?a=b@c"), "http://h:1/v1?a=b@c");
        assert_eq!(mask_userinfo("not a url"), "not a url");
    }

    #[test]
    fn temperature_is_a_number_or_the_backends_default() {
        assert_eq!(parse_temperature("0").unwrap(), Temperature(Some(0.0)));
        assert_eq!(parse_temperature("0.7").unwrap(), Temperature(Some(0.7)));
        assert_eq!(parse_temperature("default").unwrap(), Temperature(None));
        assert_eq!(parse_temperature("").unwrap(), Temperature(None));
        assert!(parse_temperature("3").is_err());
        assert!(parse_temperature("hot").is_err());
    }

    #[test]
    fn seconds_accept_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("0.25").unwrap(), Duration::from_millis(250));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    // Precedence between flag, environment and default is tested where the environment can be
    // set without racing other threads: tests/doctor.rs runs the binary with its own environment
    // (`doctor_shows_each_setting_taken_from_the_flag_over_the_env_over_the_default`). Here, only
    // what parsing alone decides.
    #[test]
    fn settings_follow_their_subcommand_and_defaults_apply() {
        let cli = Cli::try_parse_from(["x", "doctor", "--base-url", "http://b:2", "--allow-write"])
            .unwrap();
        assert_eq!(settings(&cli).backend.base_url, "http://b:2");
        assert!(settings(&cli).workspace.allow_write);
        // Before the subcommand they would be the server's: refused, not silently ignored.
        assert!(Cli::try_parse_from(["x", "--base-url", "http://a:1", "doctor"]).is_err());
        // A subcommand takes only the settings it uses.
        assert!(Cli::try_parse_from(["x", "stats", "--base-url", "http://a:1"]).is_err());
        assert!(Cli::try_parse_from(["x", "stats", "--home", "/tmp/h", "-v"]).is_ok());
        assert!(Cli::try_parse_from(["x", "init", "--allow-write"]).is_err());
        // No flag given: the declared default, unless the environment running the tests sets
        // the variable (then the value comes from there, which the binary test covers).
        if std::env::var_os("LOCAL_LLM_FIRST_TOKEN_TIMEOUT").is_none() {
            let cli = Cli::try_parse_from(["x"]).unwrap();
            assert!(cli.command.is_none());
            assert_eq!(
                cli.settings.backend.first_token_timeout,
                config::DEFAULT_FIRST_TOKEN_TIMEOUT
            );
        }
        assert!(Cli::try_parse_from(["x", "--first-token-timeout", "0"]).is_err());
    }

    #[test]
    fn each_subcommands_help_lists_only_what_it_uses() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let stats = cmd.find_subcommand_mut("stats").unwrap().render_long_help();
        let stats = stats.to_string();
        for absent in [
            "--base-url",
            "--api-key",
            "--allow-write",
            "--timeout",
            "--check",
        ] {
            assert!(!stats.contains(absent), "stats --help offers {absent}");
        }
        assert!(stats.contains("--home"));
        let init = cmd.find_subcommand_mut("init").unwrap().render_long_help();
        assert!(!init.to_string().contains("--allow-write"));
        assert!(!init.to_string().contains("output_path"));
    }

    #[test]
    fn protected_patterns_split_on_commas() {
        let cli = Cli::try_parse_from(["x", "--protected", "*.pem, deploy/,,"]).unwrap();
        let cfg = cli.settings.resolve().unwrap();
        assert_eq!(cfg.protected, vec!["*.pem", "deploy/"]);
        assert_eq!(cfg.max_diff_lines, 80);
        assert_eq!(cfg.edit_format, config::EditFormat::Auto);
        let cli = Cli::try_parse_from(["x", "--max-diff-lines", "5"]).unwrap();
        assert_eq!(cli.settings.workspace.max_diff_lines, 5);
        let cli = Cli::try_parse_from(["x", "--edit-format", "symbols"]).unwrap();
        let cfg = cli.settings.resolve().unwrap();
        assert_eq!(cfg.edit_format, config::EditFormat::Symbols);
        assert!(cli.settings.workspace.protected.is_empty());
    }

    #[test]
    fn root_url_drops_v1() {
        let cli = Cli::try_parse_from([
            "x",
            "--base-url",
            "http://h:9/v1",
            "--home",
            "/tmp/h",
            "--api-key",
            "sekrit",
        ])
        .unwrap();
        let cfg = cli.settings.resolve().unwrap();
        assert_eq!(cfg.root_url(), "http://h:9");
        assert!(!format!("{cfg:?}").contains("sekrit"));
    }

    #[test]
    fn check_commands_come_from_flags_and_env_and_flags_win() {
        let cli = Cli::try_parse_from([
            "x",
            "--check",
            "py=ruff check --select E9,F {file}",
            "--check",
            "python=python3 -m py_compile",
            "--check",
            "c++=g++ -fsyntax-only '{file}'",
        ])
        .unwrap();
        let env = [
            ("LOCAL_EXECUTOR_CHECK_PYTHON", "mypy {file}"),
            ("LOCAL_EXECUTOR_CHECK_TS", "tsc --noEmit {file}"),
            ("LOCAL_EXECUTOR_CHECK_GO", " "),
            ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "5"),
            ("LOCAL_LLM_MODEL_FAST", "m"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let checks = merge_checks(&cli.settings.check.checks, env.into_iter()).unwrap();
        let got: Vec<(&str, &[String])> = checks
            .iter()
            .map(|c| (c.language.as_str(), c.argv.as_slice()))
            .collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0],
            (
                "python",
                &s(&["ruff", "check", "--select", "E9,F", "{file}"])[..]
            )
        );
        assert_eq!(got[1], ("python", &s(&["python3", "-m", "py_compile"])[..]));
        assert_eq!(got[2], ("cpp", &s(&["g++", "-fsyntax-only", "{file}"])[..]));
        assert_eq!(
            got[3],
            ("typescript", &s(&["tsc", "--noEmit", "{file}"])[..])
        );
    }

    #[test]
    fn only_a_known_language_variable_becomes_a_command() {
        let env = [
            ("LOCAL_EXECUTOR_CHECK_CONCURRENCY", "4"),
            ("LOCAL_EXECUTOR_CHECK_KOTLIN", "ktlint {file}"),
            ("LOCAL_EXECUTOR_CHECK_", "sh -c 'id'"),
            ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "5"),
            ("LOCAL_EXECUTOR_CHECK_PY3", "python3 -m py_compile {file}"),
            ("LOCAL_EXECUTOR_CHECK_TYPESCRIPT", "tsc --noEmit {file}"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let checks = merge_checks(&[], env.into_iter()).unwrap();
        let got: Vec<(&str, &str)> = checks
            .iter()
            .map(|c| (c.language.as_str(), c.command.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("python", "python3 -m py_compile {file}"),
                ("typescript", "tsc --noEmit {file}")
            ]
        );
    }

    #[test]
    fn bad_check_commands_are_refused() {
        assert!(Cli::try_parse_from(["x", "--check", "ruff check"]).is_err());
        assert!(Cli::try_parse_from(["x", "--check", "=ruff"]).is_err());
        assert!(Cli::try_parse_from(["x", "--check", "py="]).is_err());
        assert!(Cli::try_parse_from(["x", "--check", "py=ruff 'x"]).is_err());
        let env = [("LOCAL_EXECUTOR_CHECK_PY".into(), "ruff \"x".into())];
        assert!(merge_checks(&[], env.into_iter()).is_err());
    }

    #[test]
    fn check_timeout_and_repairs_have_defaults() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.settings.check.check_timeout, Duration::from_secs(30));
        assert_eq!(cli.settings.check.repairs, 2);
        let cli = Cli::try_parse_from(["x", "--check-timeout", "1.5", "--repairs", "0"]).unwrap();
        assert_eq!(
            cli.settings.check.check_timeout,
            Duration::from_millis(1500)
        );
        assert_eq!(cli.settings.check.repairs, 0);
    }
}
