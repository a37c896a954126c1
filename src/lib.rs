//! local-executor-mcp: an MCP stdio server that hands mechanical code writing to a local model
//! behind an OpenAI-compatible API, so the planner's expensive output tokens are saved.
//!
//! How a call flows: [`server`] receives `tools/call` and parses the arguments; [`delegate`]
//! resolves the tier's model and builds the prompt; [`backend`] streams the completion (parsed
//! by [`sse`]) under the connect, first-token, idle and total timeouts while progress is reported
//! and cancellation is watched; [`clean`] turns the raw text into the artifact and checks it;
//! [`workspace`] reads `context_files` and writes `output_path` inside the workspace root;
//! [`usage`] appends one line to `usage.jsonl`. A failure anywhere becomes a [`failure::Failure`],
//! which the planner reads as `DELEGATION_FAILED (<reason>)`.

pub mod backend;
pub mod clean;
pub mod cli;
pub mod config;
pub mod delegate;
pub mod doctor;
pub mod failure;
pub mod init;
pub mod limiter;
pub mod models;
pub mod server;
pub mod sse;
pub mod stats;
pub mod usage;
pub mod workspace;
