//! The settings in effect: plain data that every part of the program reads and that imports
//! nothing of the program. The command line (`crate::cli`) fills it from flags and environment
//! variables; the defaults live here, so a subcommand that takes no backend flags still gets a
//! whole, sensible `Config`.

use std::path::PathBuf;
use std::time::Duration;

pub(crate) const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/v1";
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(900);
pub(crate) const DEFAULT_TEMPERATURE: f64 = 0.2;
pub(crate) const DEFAULT_MAX_OUTPUT_CHARS: usize = 40_000;
pub(crate) const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024;
pub(crate) const DEFAULT_MAX_CONTEXT_BYTES: u64 = 1024 * 1024;
pub(crate) const DEFAULT_MAX_DIFF_LINES: usize = 80;
pub(crate) const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_REPAIRS: u32 = 2;
pub(crate) const DEFAULT_CONTINUATIONS: u32 = 2;

/// Which configured model serves a call.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
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
    /// The user's patterns of secret-holding files that may be read anyway.
    pub read_secrets: Vec<String>,
    pub max_diff_lines: usize,
    /// Send `chat_template_kwargs: {"enable_thinking": false}`.
    pub no_think: bool,
    /// User name and password taken out of the base URL: sent as basic auth, never printed.
    pub base_auth: Option<(String, Option<String>)>,
    /// Check commands, flags first, in the order given.
    pub checks: Vec<CheckCommand>,
    pub check_timeout: Duration,
    pub repairs: u32,
    /// The context window of each tier's model in tokens, when the user states it.
    pub context_quality: Option<u32>,
    pub context_fast: Option<u32>,
    /// Continuations asked of a model whose answer stopped at the token limit.
    pub continuations: u32,
    /// How an existing file is asked to be edited.
    pub edit_format: EditFormat,
}

/// How an edit of an existing file is asked of the model (`LOCAL_EXECUTOR_EDIT_FORMAT`): `auto`
/// routes each edit by [`crate::edit::mode_for`]'s rule; the others ask every edit so (symbols
/// only where the language has them, else blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EditFormat {
    #[default]
    Auto,
    Blocks,
    Whole,
    Symbols,
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
    /// Every setting at its default, with the state folder and workspace given.
    pub(crate) fn with_defaults(home: PathBuf, workspace: PathBuf) -> Config {
        Config {
            base_url: DEFAULT_BASE_URL.to_string(),
            base_url_raw: DEFAULT_BASE_URL.to_string(),
            model_quality: None,
            model_fast: None,
            api_key: None,
            home,
            workspace,
            allow_write: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_token_timeout: DEFAULT_FIRST_TOKEN_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            max_output_chars: DEFAULT_MAX_OUTPUT_CHARS,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_context_bytes: DEFAULT_MAX_CONTEXT_BYTES,
            max_concurrent: None,
            temperature: Some(DEFAULT_TEMPERATURE),
            protected: Vec::new(),
            read_secrets: Vec::new(),
            max_diff_lines: DEFAULT_MAX_DIFF_LINES,
            no_think: false,
            base_auth: None,
            checks: Vec::new(),
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            repairs: DEFAULT_REPAIRS,
            context_quality: None,
            context_fast: None,
            edit_format: EditFormat::Auto,
            continuations: DEFAULT_CONTINUATIONS,
        }
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
