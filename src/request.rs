//! The one request type of a delegation. The MCP tool (serde + schemars), the `delegate`
//! subcommand (clap) and the engine all read this struct, so a new argument is declared once and
//! its `///` line is both the schema the planner reads and the `--help` a person reads.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Tier;

/// Arguments of `delegate_code` and of `local-executor-mcp delegate`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, clap::Args)]
pub struct CodeRequest {
    /// Precise, self-contained spec of what to write.
    pub task: String,
    /// Inline code or text the model needs.
    #[serde(default)]
    #[arg(long)]
    pub context: Option<String>,
    /// Workspace files the server reads for the model (`path` or `path:START-END`); do not paste them.
    #[serde(default)]
    #[arg(long = "context-file")]
    pub context_files: Vec<String>,
    /// Expected language or format; steers the prompt and the checks.
    #[serde(default)]
    #[arg(long)]
    pub language: Option<String>,
    /// Which model serves the call.
    #[serde(default)]
    #[arg(long, value_enum, default_value_t = Tier::Quality)]
    pub tier: Tier,
    /// Write the artifact to this workspace path (needs --allow-write).
    // Not in the MCP schema: files are written by `delegate_files`, so `delegate_code` stays a
    // read-only tool that clients run side by side. A client that sends it anyway is told so.
    #[serde(default)]
    #[schemars(skip)]
    #[arg(long)]
    pub output_path: Option<String>,
    /// Rewrite an existing file at --output-path whole, from its current text.
    #[serde(default)]
    #[schemars(skip)]
    #[arg(long)]
    pub overwrite: bool,
    /// Upper bound on generated tokens.
    #[serde(default)]
    #[arg(long)]
    pub max_tokens: Option<u32>,
}

impl CodeRequest {
    // A client (or an `.mcp.json` `${VAR:-}` default) may send "" for an optional string; it
    // means "not given", whichever front end built the request.
    pub(crate) fn language(&self) -> Option<&str> {
        non_blank(&self.language)
    }

    pub(crate) fn output_path(&self) -> Option<&str> {
        non_blank(&self.output_path)
    }

    pub(crate) fn context(&self) -> Option<&str> {
        non_blank(&self.context)
    }
}

fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.trim().is_empty())
}

/// Arguments of `delegate_files`: several files, each with its own spec, sharing the context.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct FilesRequest {
    /// One entry per file; generated side by side.
    pub files: Vec<FileTask>,
    /// Inline code or text every file needs.
    #[serde(default)]
    pub context: Option<String>,
    /// Workspace files the server reads for the model (`path` or `path:START-END`).
    #[serde(default)]
    pub context_files: Vec<String>,
    #[serde(default)]
    pub tier: Tier,
    /// Rewrite existing files whole (the model gets each file) rather than by blocks.
    #[serde(default)]
    pub overwrite: bool,
}

/// One file of a `delegate_files` call.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct FileTask {
    /// Workspace path. A missing file is created; an existing one is edited.
    pub path: String,
    /// Its spec, or for an existing file the change to make.
    pub task: String,
    /// When the extension does not say.
    #[serde(default)]
    pub language: Option<String>,
}
