//! The command line and the settings: clap derives every flag with its environment variable
//! (flag > env > default) and turns them into a plain [`Config`]. Nothing else reads env vars.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/v1";

#[derive(Debug, Parser)]
#[command(
    name = "local-executor-mcp",
    version,
    about = "MCP stdio server that hands mechanical code writing to a local model",
    long_about = "MCP stdio server that hands mechanical code writing (boilerplate, scaffolding, \
CRUD, test stubs, format conversions) to a local model behind an OpenAI-compatible API. \
With no subcommand it serves MCP on stdin/stdout."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over stdio (the default).
    Serve,
    /// Run one delegation from the shell: artifact on stdout, footer on stderr, exit 3 on failure.
    Delegate(crate::request::CodeRequest),
    /// Aggregate usage.jsonl: calls, fallback rate, tokens, latency, estimated savings.
    Stats(StatsCmd),
    /// Check the backend, the models, the usage folder; print a ready `claude mcp add` line.
    Doctor(DoctorCmd),
    /// Set a project up: merge .mcp.json, add the delegation section to CLAUDE.md and AGENTS.md, print the Codex block.
    Init(crate::init::InitCmd),
}

#[derive(Debug, Args)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsKey {
    Model,
    Tier,
    Day,
    Client,
}

#[derive(Debug, Args)]
pub struct DoctorCmd {
    /// Skip the one-token test generation on each tier.
    #[arg(long)]
    pub no_generate: bool,
}

/// Which configured model serves a call.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Quality,
    Fast,
}

impl Tier {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Tier::Quality => "quality",
            Tier::Fast => "fast",
        }
    }
}

/// Every setting, each a flag and an environment variable. Global, so it may stand before or
/// after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// OpenAI-compatible base URL, with or without /v1.
    #[arg(long, env = "LOCAL_LLM_BASE_URL", default_value = DEFAULT_BASE_URL, global = true)]
    pub base_url: String,
    /// Model id for tier=quality [default: first suitable model the backend lists].
    #[arg(long, env = "LOCAL_LLM_MODEL_QUALITY", global = true)]
    pub model_quality: Option<String>,
    /// Model id for tier=fast [default: the quality model].
    #[arg(long, env = "LOCAL_LLM_MODEL_FAST", global = true)]
    pub model_fast: Option<String>,
    /// Bearer token for the backend; never logged.
    #[arg(long, env = "LOCAL_LLM_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// State folder; usage.jsonl lives here [default: ~/.local-executor-mcp].
    #[arg(long, env = "LOCAL_EXECUTOR_HOME", global = true)]
    pub home: Option<PathBuf>,
    /// Root for context_files and output_path [default: CLAUDE_PROJECT_DIR, else the working directory].
    #[arg(long, env = "LOCAL_EXECUTOR_WORKSPACE", global = true)]
    pub workspace: Option<PathBuf>,
    #[arg(long, env = "CLAUDE_PROJECT_DIR", hide = true, global = true)]
    pub claude_project_dir: Option<PathBuf>,
    /// Enable output_path (writing files inside the workspace).
    #[arg(long, env = "LOCAL_EXECUTOR_ALLOW_WRITE", global = true,
          action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_write: bool,
    /// Tracing filter for stderr logs.
    #[arg(
        long,
        env = "LOCAL_EXECUTOR_LOG",
        default_value = "info",
        global = true
    )]
    pub log: String,
    /// Seconds for the TCP/TLS connect.
    #[arg(long, env = "LOCAL_LLM_CONNECT_TIMEOUT", default_value = "10", value_parser = parse_seconds, global = true)]
    pub connect_timeout: Duration,
    /// Seconds from request sent to first token (covers a model load).
    #[arg(long, env = "LOCAL_LLM_FIRST_TOKEN_TIMEOUT", default_value = "300", value_parser = parse_seconds, global = true)]
    pub first_token_timeout: Duration,
    /// Longest gap in seconds between streamed chunks.
    #[arg(long, env = "LOCAL_LLM_IDLE_TIMEOUT", default_value = "60", value_parser = parse_seconds, global = true)]
    pub idle_timeout: Duration,
    /// Seconds for the whole call.
    #[arg(long = "timeout", env = "LOCAL_LLM_TIMEOUT", default_value = "900", value_parser = parse_seconds, global = true)]
    pub total_timeout: Duration,
    /// Sampling temperature sent with every request; `default` leaves it to the backend.
    #[arg(long, env = "LOCAL_LLM_TEMPERATURE", default_value = "0.2", value_parser = parse_temperature, global = true)]
    pub temperature: Temperature,
    /// Largest inline artifact, in characters.
    #[arg(
        long,
        env = "LOCAL_EXECUTOR_MAX_OUTPUT_CHARS",
        default_value_t = 40_000,
        global = true
    )]
    pub max_output_chars: usize,
    /// Largest single context file, in bytes.
    #[arg(long, env = "LOCAL_EXECUTOR_MAX_FILE_BYTES", default_value_t = 256 * 1024, global = true)]
    pub max_file_bytes: u64,
    /// Largest total of context files per call, in bytes.
    #[arg(long, env = "LOCAL_EXECUTOR_MAX_CONTEXT_BYTES", default_value_t = 1024 * 1024, global = true)]
    pub max_context_bytes: u64,
    /// Most backend calls in flight at once; the rest queue [default: unlimited].
    #[arg(long, env = "LOCAL_LLM_MAX_CONCURRENT", global = true)]
    pub max_concurrent: Option<usize>,
    /// More paths never written, comma-separated: names (`*.pem`, `secrets/`) or paths from the
    /// workspace root (`deploy/prod`), added to the built-in list.
    #[arg(
        long,
        env = "LOCAL_EXECUTOR_PROTECTED",
        value_delimiter = ',',
        global = true
    )]
    pub protected: Vec<String>,
    /// Most diff lines in an edit's receipt.
    #[arg(
        long,
        env = "LOCAL_EXECUTOR_MAX_DIFF_LINES",
        default_value_t = 80,
        global = true
    )]
    pub max_diff_lines: usize,
    /// `off` asks thinking models (Qwen3 and the like) not to think: mechanical work needs no
    /// reasoning, and a thinking model can spend its whole budget on it. `auto` leaves it to the
    /// model.
    #[arg(long, env = "LOCAL_LLM_THINK", value_enum, default_value_t = Think::Auto, global = true)]
    pub think: Think,
    /// A check command for a language, `LANG=COMMAND`, `{file}` standing for the file; repeatable.
    /// Also `LOCAL_EXECUTOR_CHECK_<LANG>=COMMAND`; a flag replaces the variable of its language.
    #[arg(long = "check", value_name = "LANG=COMMAND", value_parser = parse_check_flag, global = true)]
    pub checks: Vec<CheckCommand>,
    /// Seconds a check command may run.
    #[arg(long, env = "LOCAL_EXECUTOR_CHECK_TIMEOUT", default_value = "30", value_parser = parse_seconds, global = true)]
    pub check_timeout: Duration,
    /// Corrected answers asked of the model after a failed check.
    #[arg(
        long,
        env = "LOCAL_EXECUTOR_REPAIRS",
        default_value_t = 2,
        global = true
    )]
    pub repairs: u32,
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

/// The settings in effect, resolved once at start-up.
#[derive(Clone)]
pub struct Config {
    /// Base URL ending in `/v1`, without a trailing slash.
    pub base_url: String,
    /// The base URL as given, before `/v1` was added; `doctor` reports the difference.
    pub base_url_raw: String,
    pub model_quality: Option<String>,
    pub model_fast: Option<String>,
    pub api_key: Option<String>,
    pub home: PathBuf,
    pub workspace: PathBuf,
    pub allow_write: bool,
    pub connect_timeout: Duration,
    pub first_token_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
    pub max_output_chars: usize,
    pub max_file_bytes: u64,
    pub max_context_bytes: u64,
    pub max_concurrent: Option<usize>,
    pub temperature: Option<f64>,
    /// The user's protected-path patterns, blank entries dropped.
    pub protected: Vec<String>,
    pub max_diff_lines: usize,
    /// Send `chat_template_kwargs: {"enable_thinking": false}`.
    pub no_think: bool,
    /// User name and password taken out of the base URL: sent as basic auth, never printed.
    pub base_auth: Option<(String, Option<String>)>,
    /// Check commands, flags first, in the order given.
    pub checks: Vec<CheckCommand>,
    pub check_timeout: Duration,
    pub repairs: u32,
}

// The key must never reach a log line, so Debug is written by hand.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("model_quality", &self.model_quality)
            .field("model_fast", &self.model_fast)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("home", &self.home)
            .field("workspace", &self.workspace)
            .field("allow_write", &self.allow_write)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Config> {
        let home = match &s.home {
            Some(h) => h.clone(),
            None => dirs::home_dir()
                .ok_or_else(|| anyhow::anyhow!("no home directory; set LOCAL_EXECUTOR_HOME"))?
                .join(".local-executor-mcp"),
        };
        let workspace = match s.workspace.as_ref().or(s.claude_project_dir.as_ref()) {
            Some(w) => w.clone(),
            None => std::env::current_dir()?,
        };
        // `${LOCAL_LLM_BASE_URL:-}` in an `.mcp.json` expands to "" when unset: the default.
        let given = match s.base_url.trim() {
            "" => DEFAULT_BASE_URL,
            url => url,
        };
        let (base_url_raw, base_auth) = split_credentials(given);
        Ok(Config {
            base_url: normalize_base_url(&base_url_raw)?,
            base_url_raw,
            base_auth,
            model_quality: non_empty(&s.model_quality),
            model_fast: non_empty(&s.model_fast),
            api_key: non_empty(&s.api_key),
            home,
            workspace,
            allow_write: s.allow_write,
            connect_timeout: s.connect_timeout,
            first_token_timeout: s.first_token_timeout,
            idle_timeout: s.idle_timeout,
            total_timeout: s.total_timeout,
            max_output_chars: s.max_output_chars,
            max_file_bytes: s.max_file_bytes,
            max_context_bytes: s.max_context_bytes,
            max_concurrent: s.max_concurrent.filter(|n| *n > 0),
            temperature: s.temperature.0,
            protected: s
                .protected
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            max_diff_lines: s.max_diff_lines,
            no_think: s.think == Think::Off,
            checks: merge_checks(&s.checks, std::env::vars_os())?,
            check_timeout: s.check_timeout,
            repairs: s.repairs,
        })
    }

    /// `text` with every secret of the settings masked: the API key, and the password of a base
    /// URL (`https://user:pass@box/v1`), which some error messages quote.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Some(key) = self.api_key.as_deref().filter(|k| !k.is_empty()) {
            out = out.replace(key, "<LOCAL_LLM_API_KEY>");
        }
        if let Some((_, Some(pass))) = &self.base_auth
            && !pass.is_empty()
        {
            out = out.replace(pass.as_str(), "<password>");
        }
        out
    }

    /// The server root, for llama-swap's `/running` which lives beside `/v1`, not under it.
    pub(crate) fn root_url(&self) -> &str {
        self.base_url.strip_suffix("/v1").unwrap_or(&self.base_url)
    }

    pub(crate) fn usage_path(&self) -> PathBuf {
        self.home.join("usage.jsonl")
    }
}

// `.mcp.json` expansion of an unset `${VAR:-}` yields an empty string; treat it as unset.
fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
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

/// Accepts `http://host:port`, `http://host:port/`, `.../v1` and `.../v1/`; returns `.../v1`.
pub(crate) fn normalize_base_url(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| anyhow::anyhow!("LOCAL_LLM_BASE_URL `{trimmed}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("LOCAL_LLM_BASE_URL `{trimmed}` must start with http:// or https://");
    }
    if trimmed.ends_with("/v1") {
        Ok(trimmed.to_string())
    } else {
        Ok(format!("{trimmed}/v1"))
    }
}

/// Prefix of the environment variables naming a check command: `LOCAL_EXECUTOR_CHECK_PYTHON`.
const CHECK_ENV_PREFIX: &str = "LOCAL_EXECUTOR_CHECK_";

/// A check command the user configured for a language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCommand {
    /// Canonical language name (`python` for `py`).
    pub language: String,
    /// The command as written.
    pub command: String,
    /// The command split like a POSIX shell would, without running one.
    pub argv: Vec<String>,
}

impl CheckCommand {
    pub(crate) fn parse(language: &str, command: &str) -> Result<CheckCommand, String> {
        let language = crate::check::canonical_name(language)
            .ok_or_else(|| format!("no language before `=` in `{language}={command}`"))?;
        let argv = shlex::split(command)
            .filter(|argv| !argv.is_empty())
            .ok_or_else(|| format!("`{command}` is not a command (empty or unbalanced quotes)"))?;
        Ok(CheckCommand {
            language,
            command: command.trim().to_string(),
            argv,
        })
    }
}

fn parse_check_flag(s: &str) -> Result<CheckCommand, String> {
    let (language, command) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not LANG=COMMAND"))?;
    CheckCommand::parse(language, command)
}

/// The flags' commands, then one per `LOCAL_EXECUTOR_CHECK_<LANG>` variable whose language no
/// flag names. Blank variables (an unset `${VAR:-}` in `.mcp.json`) are skipped.
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
        let check =
            CheckCommand::parse(language, value).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
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
    fn settings_stand_before_or_after_the_subcommand_and_defaults_apply() {
        let cli = Cli::try_parse_from(["x", "--base-url", "http://a:1", "doctor"]).unwrap();
        assert_eq!(cli.settings.base_url, "http://a:1");
        assert!(matches!(cli.command, Some(Command::Doctor(_))));
        let cli = Cli::try_parse_from(["x", "doctor", "--base-url", "http://b:2", "--allow-write"])
            .unwrap();
        assert_eq!(cli.settings.base_url, "http://b:2");
        assert!(cli.settings.allow_write);
        // No flag given: the declared default, unless the environment running the tests sets
        // the variable (then the value comes from there, which the binary test covers).
        if std::env::var_os("LOCAL_LLM_FIRST_TOKEN_TIMEOUT").is_none() {
            let cli = Cli::try_parse_from(["x"]).unwrap();
            assert!(cli.command.is_none());
            assert_eq!(cli.settings.first_token_timeout, Duration::from_secs(300));
        }
        assert!(Cli::try_parse_from(["x", "--first-token-timeout", "0"]).is_err());
    }

    #[test]
    fn protected_patterns_split_on_commas() {
        let cli = Cli::try_parse_from(["x", "--protected", "*.pem, deploy/,,"]).unwrap();
        let cfg = Config::from_settings(&cli.settings).unwrap();
        assert_eq!(cfg.protected, vec!["*.pem", "deploy/"]);
        assert_eq!(cfg.max_diff_lines, 80);
        let cli = Cli::try_parse_from(["x", "--max-diff-lines", "5"]).unwrap();
        assert_eq!(cli.settings.max_diff_lines, 5);
        assert!(cli.settings.protected.is_empty());
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
        let cfg = Config::from_settings(&cli.settings).unwrap();
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
        let checks = merge_checks(&cli.settings.checks, env.into_iter()).unwrap();
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
        assert_eq!(cli.settings.check_timeout, Duration::from_secs(30));
        assert_eq!(cli.settings.repairs, 2);
        let cli = Cli::try_parse_from(["x", "--check-timeout", "1.5", "--repairs", "0"]).unwrap();
        assert_eq!(cli.settings.check_timeout, Duration::from_millis(1500));
        assert_eq!(cli.settings.repairs, 0);
    }
}
