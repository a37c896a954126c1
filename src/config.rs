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
    #[arg(long)]
    pub json: bool,
    /// Frontier output price in USD per million tokens, for the savings estimate.
    #[arg(long, env = "LOCAL_EXECUTOR_PRICE_PER_MTOK", default_value_t = 15.0)]
    pub price_per_mtok: f64,
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
    /// Corrected answers asked for when a check fails, before giving up.
    #[arg(
        long,
        env = "LOCAL_EXECUTOR_REPAIRS",
        default_value_t = 2,
        global = true
    )]
    pub max_repairs: u32,
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
    pub max_repairs: u32,
    /// User name and password taken out of the base URL: sent as basic auth, never printed.
    pub base_auth: Option<(String, Option<String>)>,
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
        let (base_url_raw, base_auth) = split_credentials(s.base_url.trim());
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
            max_repairs: s.max_repairs,
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

    #[test]
    fn flag_beats_env_beats_default() {
        let cli = Cli::try_parse_from(["x", "--base-url", "http://a:1", "doctor"]).unwrap();
        assert_eq!(cli.settings.base_url, "http://a:1");
        assert!(matches!(cli.command, Some(Command::Doctor(_))));
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.settings.first_token_timeout, Duration::from_secs(300));
    }

    #[test]
    fn allow_write_reads_boolish_env_values() {
        use clap::FromArgMatches;
        let cases = [
            ("LOCAL_EXECUTOR_TEST_AW_1", "1", true),
            ("LOCAL_EXECUTOR_TEST_AW_TRUE", "true", true),
            ("LOCAL_EXECUTOR_TEST_AW_0", "0", false),
            ("LOCAL_EXECUTOR_TEST_AW_OFF", "off", false),
        ];
        for (var, value, expected) in cases {
            // SAFETY: a variable name unique to this test; no other thread reads it.
            unsafe { std::env::set_var(var, value) };
            let cmd =
                <Cli as clap::CommandFactory>::command().mut_arg("allow_write", |a| a.env(var));
            let cli = Cli::from_arg_matches(&cmd.get_matches_from(["x"])).unwrap();
            assert_eq!(cli.settings.allow_write, expected, "{value}");
        }
        assert!(
            Cli::try_parse_from(["x", "--allow-write"])
                .unwrap()
                .settings
                .allow_write
        );
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
}
