//! local-executor-mcp: an MCP stdio server that hands mechanical code writing to a local model
//! behind an OpenAI-compatible API, so the planner's expensive output tokens are saved.
//!
//! How a call flows: [`server`] (or the `delegate` subcommand) parses a [`request`]; the
//! [`engine`] resolves the tier's model, builds the prompt, and has [`backend`] stream the
//! completion (parsed by [`sse`]) under the connect, first-token, idle and total timeouts while
//! progress is reported and cancellation is watched; [`clean`] turns the raw text into the
//! artifact, which is checked and, when a check fails, sent back to the model for repair;
//! [`workspace`] reads `context_files` and writes or edits files inside the workspace root, and
//! [`edit`] parses and applies a model's edit and renders its diff, keeping each file's line
//! endings, BOM and final newline through [`text`];
//! [`usage`] appends one line to `usage.jsonl`. A failure anywhere becomes a [`failure::Failure`],
//! which the planner reads as `DELEGATION_FAILED (<reason>)`.

pub mod backend;
pub mod check;
pub mod clean;
pub mod cli;
pub mod config;
pub mod context;
pub mod doctor;
pub mod edit;
pub mod engine;
pub mod failure;
pub mod init;
pub mod limiter;
pub mod models;
pub mod request;
pub mod server;
pub mod sse;
pub mod stats;
pub mod symbols;
pub mod text;
pub mod usage;
pub mod workspace;
