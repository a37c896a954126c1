//! The MCP face: an rmcp `ServerHandler` with the two tools, their compact schemas, the server
//! instructions, progress forwarding and one usage line per call.
//!
//! The handler is written by hand rather than with `#[tool_router]` so that `tools/list` carries
//! schemas trimmed to what a client needs: every token of it is paid on every planner turn.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Tier;
use crate::engine::{Engine, ProgressTx};
use crate::failure::{Failure, Reason};
use crate::models;
use crate::request::{CodeRequest, FilesRequest};
use crate::usage::{self, UsageRecord};

/// Codex shows a server to its model as one line and cuts the instructions after about 250
/// characters, so the first sentences (under 200 characters) carry the whole rule on their own.
pub(crate) const INSTRUCTIONS: &str = "Delegate mechanical writing (boilerplate, CRUD, test stubs, \
conversions) to a local model: delegate_files writes or edits files, delegate_code returns text. \
On DELEGATION_FAILED, do it yourself. It pays only when the result is several times longer than \
your spec: pass inputs by path in context_files, review the receipt. Keep logic, debugging and \
security-sensitive code.";

const DELEGATE_DESCRIPTION: &str = "Have a local model write mechanical code or text from a \
precise, self-contained spec: boilerplate, scaffolding, CRUD, test stubs, format conversions. \
Returns the checked artifact and a one-line footer. Pass files as context_files, not pasted. On \
DELEGATION_FAILED, do the task yourself.";

const FILES_DESCRIPTION: &str = "Have a local model write files in the workspace: new files from \
a spec, or edits to existing ones, several side by side. Each is checked, then written; you get a \
short receipt (a diff for edits) per file and a DELEGATION_FAILED line per file to write yourself.";

const LIST_DESCRIPTION: &str =
    "List the local models: tier, loaded or not, and warnings for models unsuited to code.";

#[derive(Clone)]
pub struct Server {
    engine: Arc<Engine>,
    tools: Arc<Vec<Tool>>,
    /// Fires when the session ends, cancelling every call still in flight.
    shutdown: CancellationToken,
    in_flight: TaskTracker,
}

impl Server {
    pub(crate) fn new(engine: Arc<Engine>) -> Server {
        // Hints true to what each tool does: Claude Code and Codex run several calls of one turn
        // side by side only for read-only tools, and plan mode allows only those.
        let reads = |title: &str| {
            ToolAnnotations::with_title(title)
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false)
        };
        let mut tools = vec![
            Tool::new(
                "delegate_code",
                DELEGATE_DESCRIPTION,
                compact_schema(schemars::schema_for!(CodeRequest).to_value()),
            )
            // A check command runs on every artifact: read-only only while it cannot write.
            .with_annotations(
                reads("Delegate code to the local model").read_only(engine.checker.is_read_only()),
            ),
            Tool::new(
                "list_local_models",
                LIST_DESCRIPTION,
                compact_schema(serde_json::json!({"type": "object", "properties": {}})),
            )
            .with_annotations(reads("List the local models")),
        ];
        if engine.cfg.allow_write {
            tools.insert(
                1,
                Tool::new(
                    "delegate_files",
                    FILES_DESCRIPTION,
                    compact_schema(schemars::schema_for!(FilesRequest).to_value()),
                )
                // Edits replace what a file held; a second call would edit again.
                .with_annotations(
                    ToolAnnotations::with_title("Write files with the local model")
                        .read_only(false)
                        .destructive(true)
                        .idempotent(false)
                        .open_world(false),
                ),
            );
        }
        Server {
            engine,
            tools: Arc::new(tools),
            shutdown: CancellationToken::new(),
            in_flight: TaskTracker::new(),
        }
    }

    /// The token that cancels every call in flight when the session ends.
    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Cancels the calls in flight and waits, at most `grace`, for them to write their usage lines.
    pub(crate) async fn drain(&self, grace: std::time::Duration) {
        self.shutdown.cancel();
        self.in_flight.close();
        if tokio::time::timeout(grace, self.in_flight.wait())
            .await
            .is_err()
        {
            tracing::warn!("calls still in flight at exit");
        }
    }

    /// A token that fires on the client's `notifications/cancelled` or at shutdown.
    fn call_token(&self, ctx: &RequestContext<RoleServer>) -> CancellationToken {
        let token = self.shutdown.child_token();
        let (request, call) = (ctx.ct.clone(), token.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = request.cancelled() => call.cancel(),
                _ = call.cancelled() => {}
            }
        });
        token
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    fn record(
        &self,
        tool: &str,
        ctx: &RequestContext<RoleServer>,
        args: &Option<JsonObject>,
    ) -> UsageRecord {
        let mut record = UsageRecord::new(tool);
        record.client = ctx.client_info().map(|i| i.name);
        record.planner_chars = args
            .as_ref()
            .map(|a| {
                serde_json::to_string(a)
                    .map(|s| s.chars().count() as u64)
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        record
    }

    async fn delegate_code(
        &self,
        args: Option<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let mut record = self.record("delegate_code", &ctx, &args);
        let parsed = serde_json::from_value::<CodeRequest>(Value::Object(args.unwrap_or_default()));
        let result = match parsed {
            Err(e) => {
                record.reason = Some(Reason::BadRequest);
                Err(Failure::new(
                    Reason::BadRequest,
                    format!("invalid arguments: {e}"),
                ))
            }
            // delegate_code stays read-only, so clients may run it side by side; files are
            // written by delegate_files.
            Ok(req) if req.output_path().is_some() => {
                record.reason = Some(Reason::BadRequest);
                Err(Failure::new(
                    Reason::BadRequest,
                    if self.engine.cfg.allow_write {
                        "delegate_code returns text; write files with delegate_files"
                    } else {
                        "delegate_code returns text; writing files is off (LOCAL_EXECUTOR_ALLOW_WRITE=1 turns on delegate_files)"
                    },
                ))
            }
            Ok(req) => {
                let progress = progress_forwarder(&ctx);
                let ct = self.call_token(&ctx);
                let result = self
                    .engine
                    .delegate(&req, progress.as_ref(), &ct, &mut record)
                    .await;
                // Ends the watcher task of call_token.
                ct.cancel();
                result
            }
        };
        let result = match result {
            Ok(d) => CallToolResult::success(vec![ContentBlock::text(format!(
                "{}{}",
                d.artifact, d.footer
            ))]),
            Err(f) => {
                tracing::info!(reason = %f.reason, "delegation failed: {}", f.detail);
                CallToolResult::error(vec![ContentBlock::text(f.to_string())])
            }
        };
        record.result_chars = result_chars(&result);
        usage::append(&self.engine.cfg.usage_path(), &record);
        result
    }

    async fn delegate_files(
        &self,
        args: Option<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let mut record = self.record("delegate_files", &ctx, &args);
        let parsed =
            serde_json::from_value::<FilesRequest>(Value::Object(args.unwrap_or_default()));
        let result = match parsed {
            Err(e) => {
                record.reason = Some(Reason::BadRequest);
                CallToolResult::error(vec![ContentBlock::text(
                    Failure::new(Reason::BadRequest, format!("invalid arguments: {e}")).to_string(),
                )])
            }
            Ok(req) => {
                let progress = progress_forwarder(&ctx);
                let ct = self.call_token(&ctx);
                let outcome = self
                    .engine
                    .delegate_files(&req, progress.as_ref(), &ct, &mut record)
                    .await;
                ct.cancel();
                match outcome {
                    // Some files landed: the receipts are real, the failed ones are listed.
                    Ok(o) if o.failed < req.files.len() => {
                        CallToolResult::success(vec![ContentBlock::text(o.text)])
                    }
                    Ok(o) => CallToolResult::error(vec![ContentBlock::text(o.text)]),
                    Err(f) => CallToolResult::error(vec![ContentBlock::text(f.to_string())]),
                }
            }
        };
        record.result_chars = result_chars(&result);
        usage::append(&self.engine.cfg.usage_path(), &record);
        result
    }

    async fn list_local_models(
        &self,
        args: Option<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let started = std::time::Instant::now();
        let mut record = self.record("list_local_models", &ctx, &args);
        let engine = &self.engine;
        let (list, running) = tokio::join!(engine.backend.models(), engine.backend.running());
        let result = match list {
            Ok(ids) => {
                let quality = match engine.configured(Tier::Quality) {
                    Some(m) => Some(m.to_string()),
                    None => models::first_suitable(&ids).cloned(),
                };
                let fast = engine
                    .configured(Tier::Fast)
                    .map(str::to_string)
                    .or_else(|| quality.clone());
                record.ok = true;
                let mut text = models::render(
                    &ids,
                    running.as_deref(),
                    quality.as_deref(),
                    fast.as_deref(),
                );
                if let Some(line) = engine
                    .windows_line(quality.as_deref(), fast.as_deref())
                    .await
                {
                    text.push_str(&line);
                    text.push('\n');
                }
                CallToolResult::success(vec![ContentBlock::text(text)])
            }
            Err(e) => {
                let f = engine.failure(e);
                record.reason = Some(f.reason);
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "LIST_FAILED ({}): {}",
                    f.reason, f.detail
                ))])
            }
        };
        record.latency_ms = started.elapsed().as_millis() as u64;
        record.result_chars = result_chars(&result);
        usage::append(&engine.cfg.usage_path(), &record);
        result
    }
}

fn result_chars(result: &CallToolResult) -> u64 {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text())
        .map(|t| t.text.chars().count() as u64)
        .sum()
}

/// When the call carries a progress token, a task that turns messages into ordered
/// `notifications/progress`; it ends when the sender is dropped with the call.
fn progress_forwarder(ctx: &RequestContext<RoleServer>) -> Option<ProgressTx> {
    let token = ctx.meta.get_progress_token()?;
    let peer = ctx.peer.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut step = 0.0;
        while let Some(message) = rx.recv().await {
            step += 1.0;
            let param = ProgressNotificationParam::new(token.clone(), step).with_message(message);
            if let Err(e) = peer.notify_progress(param).await {
                tracing::debug!("progress not sent: {e}");
                break;
            }
        }
    });
    Some(tx)
}

/// schemars' output trimmed to what clients read: no `$schema` or title, `Option<T>` as plain
/// `T` (optional already means "may be absent"), no `format` that clients warn about, enums
/// inlined instead of `$defs` references, no `null` defaults.
pub(crate) fn compact_schema(mut schema: Value) -> JsonObject {
    let defs = schema
        .as_object_mut()
        .and_then(|o| o.remove("$defs"))
        .unwrap_or(Value::Null);
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        // The struct's own doc is for developers; the tool description speaks to the planner.
        o.remove("description");
        if let Some(Value::Object(props)) = o.get_mut("properties") {
            for prop in props.values_mut() {
                compact_property(prop, &defs);
            }
        }
    }
    match schema {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

fn compact_property(prop: &mut Value, defs: &Value) {
    let Some(o) = prop.as_object_mut() else {
        return;
    };
    if let Some(Value::String(r)) = o.remove("$ref") {
        let name = r.rsplit('/').next().unwrap_or_default();
        if let Some(Value::Object(def)) = defs.get(name) {
            // A struct's own doc is for developers; an enum's says what its values mean.
            let is_struct = def.contains_key("properties");
            for (k, v) in def {
                if k != "description" || !(o.contains_key("description") || is_struct) {
                    o.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    if let Some(items) = o.get_mut("items") {
        compact_property(items, defs);
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for prop in props.values_mut() {
            compact_property(prop, defs);
        }
    }
    if let Some(Value::Array(types)) = o.get("type") {
        let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if non_null.len() == 1 {
            o.insert("type".into(), non_null[0].clone());
        }
    }
    o.remove("format");
    if o.get("minimum") == Some(&Value::from(0)) {
        o.remove("minimum");
    }
    // Defaults that say nothing beyond "optional" cost tokens on every planner turn.
    if matches!(o.get("default"), Some(Value::Null | Value::Bool(false)))
        || o.get("default")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        o.remove("default");
    }
    if let Some(Value::Array(variants)) = o.get("oneOf").cloned() {
        // A unit enum with per-variant docs comes out as oneOf of consts; a plain enum is smaller.
        let consts: Option<Vec<Value>> = variants.iter().map(|v| v.get("const").cloned()).collect();
        if let Some(consts) = consts {
            o.remove("oneOf");
            o.insert("type".into(), "string".into());
            o.insert("enum".into(), Value::Array(consts));
        }
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "local-executor-mcp",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let _in_flight = self.in_flight.token();
        let result = match request.name.as_ref() {
            "delegate_code" => self.delegate_code(request.arguments, ctx).await,
            "delegate_files" if self.engine.cfg.allow_write => {
                self.delegate_files(request.arguments, ctx).await
            }
            "list_local_models" => self.list_local_models(request.arguments, ctx).await,
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool: {other}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_compact() {
        let s = Value::Object(compact_schema(
            schemars::schema_for!(CodeRequest).to_value(),
        ));
        let text = s.to_string();
        assert!(!text.contains("$schema"), "{text}");
        assert!(!text.contains("null"), "{text}");
        assert!(!text.contains("$ref") && !text.contains("$defs"), "{text}");
        assert!(
            !text.contains("\"format\"") && !text.contains("minimum"),
            "{text}"
        );
        assert!(
            !text.contains("\"default\":[]") && !text.contains("\"default\":false"),
            "{text}"
        );
        assert_eq!(s["properties"]["tier"]["default"], "quality");
        assert!(s.get("description").is_none());
        assert_eq!(
            s["properties"]["tier"]["enum"],
            serde_json::json!(["quality", "fast"])
        );
        assert_eq!(s["properties"]["max_tokens"]["type"], "integer");
        assert_eq!(s["required"], serde_json::json!(["task"]));
    }

    #[test]
    fn texts_stay_within_their_budgets() {
        assert!(INSTRUCTIONS.len() < 400, "{}", INSTRUCTIONS.len());
        // Codex cuts after about 250 characters: the first 200 end on a sentence and hold the rule.
        let head = &INSTRUCTIONS[..=INSTRUCTIONS[..200].rfind('.').unwrap()];
        for needed in [
            "delegate_files",
            "delegate_code",
            "DELEGATION_FAILED",
            "yourself",
        ] {
            assert!(
                head.contains(needed),
                "{needed} not in the first sentences: {head}"
            );
        }
        assert!(DELEGATE_DESCRIPTION.len() < 700);
        assert!(LIST_DESCRIPTION.len() < 700);
    }
}
