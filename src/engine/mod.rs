//! One delegation, in the order it happens: the request is checked and its files read; the
//! tier's model is resolved; the model writes ([`generate`]) from the prompt ([`prompt`]); the
//! answer is cleaned and checked; a failed check goes back to the model for a corrected answer,
//! and a `fast` call that still fails is tried once on `quality`; then the artifact is delivered
//! inline or written to disk, with a footer of facts. The MCP tools and the `delegate`
//! subcommand all run through [`Engine::delegate`].

pub(crate) mod files;
pub(crate) mod generate;
pub(crate) mod prompt;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, BackendError};
use crate::check::{self, Checker, Language};
use crate::clean;
use crate::config::{Config, Tier};
use crate::edit;
use crate::failure::{Failure, Reason};
use crate::limiter::{Limiter, Permit};
use crate::models;
use crate::request::{CodeRequest, FileTask, FilesRequest};
use crate::usage::{UsageRecord, Verdict};
use crate::workspace::Workspace;
use generate::{Call, Generation, PROGRESS_INTERVAL};
use prompt::Message;

/// A model list this fresh is reused to resolve the default model.
const MODEL_LIST_TTL: Duration = Duration::from_secs(30);
/// Largest artifact written to disk; inline results have the smaller configured cap.
pub(crate) const MAX_WRITTEN_CHARS: usize = 2 * 1024 * 1024;
/// Longest checker message in a DELEGATION_FAILED detail.
const MAX_CHECK_DETAIL_CHARS: usize = 240;

/// Progress messages go out through this channel, in order, to whoever forwards them.
pub(crate) type ProgressTx = UnboundedSender<String>;

/// What every step of one delegation shares: where progress goes, the caller's cancellation, the
/// usage record being filled (on success and failure alike), and when the call started, which the
/// total timeout and the progress clock count from.
pub(crate) struct CallCtx<'a> {
    pub progress: Option<&'a ProgressTx>,
    pub ct: &'a CancellationToken,
    pub record: &'a mut UsageRecord,
    pub started: Instant,
}

/// What one delegation asks the model for, and how its answer is judged.
#[derive(Clone, Copy)]
pub(crate) struct Job<'a> {
    pub req: &'a CodeRequest,
    pub shape: Shape<'a>,
    pub language: Option<&'a Language>,
    /// Largest artifact this call may deliver, in characters.
    pub cap: usize,
    /// Where the artifact will live, relative to the workspace root: its checks see it there.
    pub path: Option<&'a std::path::Path>,
}

/// A successful delegation: the artifact (or, when written to disk, its receipt) and the footer.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub artifact: String,
    pub footer: String,
}

pub(crate) struct Engine {
    pub cfg: Arc<Config>,
    pub backend: Backend,
    model_list: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
    limiter: Option<Limiter>,
    /// The backend answered `/running` with something other than llama-swap's list.
    no_running: Arc<AtomicBool>,
    pub(crate) checker: Checker,
}

/// What the model's answer is turned into.
#[derive(Clone, Copy)]
pub(crate) enum Shape<'a> {
    /// A whole artifact: cleaned, then checked.
    Whole,
    /// The whole new content of an existing file ([`edit::whole`]): laid on the original's
    /// shape; coming back unchanged is a failure, and so is one that drops most of the file
    /// when `task` removes nothing.
    WholeEdit { original: &'a str, task: &'a str },
    /// SEARCH/REPLACE blocks for the file at `path`, applied to the original
    /// ([`edit::apply_answer`]).
    Blocks { original: &'a str, path: &'a str },
    /// The changed definitions of a file in `lang`, spliced in by their tree-sitter nodes
    /// ([`crate::symbols::apply_answer`]).
    Symbols {
        original: &'a str,
        lang: check::Lang,
    },
}

/// An artifact that passed, with what it took.
pub(crate) struct Checked {
    pub(crate) artifact: String,
    /// The tier it started on, when a `fast` call was escalated to `quality`.
    pub(crate) escalated_from: Option<Tier>,
}

impl Shape<'_> {
    /// The new content from the model's raw answer (`cleaned` is that answer cleaned as an
    /// artifact), or what is wrong with it.
    fn apply(
        &self,
        cleaned: &str,
        raw: &str,
        language: Option<&Language>,
    ) -> Result<String, edit::EditError> {
        match self {
            Shape::Whole => Ok(cleaned.to_string()),
            Shape::WholeEdit { original, task } => {
                edit::whole(original, raw, language.map(Language::name), task)
            }
            Shape::Blocks { original, path } => edit::apply_answer(original, path, raw),
            Shape::Symbols { original, lang } => crate::symbols::apply_answer(original, raw, *lang),
        }
    }

    /// What a repair turn asks for; `result` is the content that failed a check, when the
    /// answer could be applied at all.
    fn redo<'r>(&self, result: Option<&'r str>) -> prompt::Redo<'r> {
        match self {
            Shape::Whole => prompt::Redo::Artifact,
            Shape::WholeEdit { .. } => prompt::Redo::File,
            Shape::Blocks { .. } => prompt::Redo::Blocks { result },
            Shape::Symbols { .. } => prompt::Redo::Symbols { result },
        }
    }
}

impl Engine {
    pub(crate) fn new(cfg: Config) -> anyhow::Result<Engine> {
        let backend = Backend::new(&cfg)?;
        Ok(Engine {
            checker: Checker::new(&cfg),
            limiter: cfg.max_concurrent.map(Limiter::new),
            cfg: Arc::new(cfg),
            backend,
            model_list: Mutex::new(None),
            no_running: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The backend's model ids, cached briefly; the lock is never held across the request.
    pub(crate) async fn model_list(&self) -> Result<Arc<Vec<String>>, BackendError> {
        if let Some((at, list)) = self.lock_model_list().as_ref()
            && at.elapsed() < MODEL_LIST_TTL
        {
            return Ok(list.clone());
        }
        let list = Arc::new(self.backend.models().await?);
        *self.lock_model_list() = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    fn lock_model_list(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<Vec<String>>)>> {
        // A poisoned cache is still a valid cache: it holds whole values only.
        self.model_list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configured model id of a tier, without asking the backend.
    pub(crate) fn configured(&self, tier: Tier) -> Option<&str> {
        match tier {
            Tier::Quality => self.cfg.model_quality.as_deref(),
            Tier::Fast => self
                .cfg
                .model_fast
                .as_deref()
                .or(self.cfg.model_quality.as_deref()),
        }
    }

    /// The model id that serves `tier`: the configured one, else the first suitable model listed.
    pub(crate) async fn resolve_model(&self, tier: Tier) -> Result<String, Failure> {
        if let Some(m) = self.configured(tier) {
            // Some backends (llama-cpp-python) quietly serve another model for an id they do not
            // know, so the list is the only place to catch it.
            return match self.model_list().await {
                Ok(list) if !list.is_empty() && !models::is_served(m, &list) => {
                    Err(not_served(m, &list))
                }
                // A host whose connect timed out (off, or firewalled) will not take the chat
                // request either: say so now rather than spend the connect timeout again. A
                // refused connection goes on to the chat request, whose retries give a server
                // that is restarting time to come up.
                Err(
                    e @ BackendError::Unreachable {
                        timed_out: true, ..
                    },
                ) => Err(self.failure(e)),
                // Any other answer (no list endpoint, a proxy that hides it): the chat request
                // itself will say what is wrong.
                _ => Ok(m.to_string()),
            };
        }
        let list = self.model_list().await.map_err(|e| self.failure(e))?;
        models::first_suitable(&list).cloned().ok_or_else(|| {
            Failure::new(
                Reason::ModelMissing,
                format!(
                    "{} lists no model suited to code; set LOCAL_LLM_MODEL_QUALITY",
                    self.backend.base_url()
                ),
            )
        })
    }

    /// The workspace root with the configured caps, protected paths and readable secrets.
    pub(crate) fn workspace(&self) -> Result<Workspace, Failure> {
        Ok(Workspace::new(
            &self.cfg.workspace,
            self.cfg.max_file_bytes,
            self.cfg.max_context_bytes,
        )?
        .with_protected(&self.cfg.protected)
        .with_read_secrets(&self.cfg.read_secrets)
        .with_guards(
            self.checker
                .guards()
                .iter()
                .map(|g| (g.pattern.clone(), g.reason.clone()))
                .collect(),
        ))
    }

    /// The failure a backend error means, with the API key masked: some backends echo it back
    /// ("Invalid API key: sk-…"), and the detail reaches the planner and the log.
    pub(crate) fn failure(&self, e: BackendError) -> Failure {
        Failure::new(e.reason(), self.redact(&e.to_string()))
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        self.cfg.redact(text)
    }

    /// Runs one delegation. Fills `record` with what happened, on success and on failure alike.
    pub(crate) async fn delegate(
        &self,
        req: &CodeRequest,
        progress: Option<&ProgressTx>,
        ct: &CancellationToken,
        record: &mut UsageRecord,
    ) -> Result<Delivered, Failure> {
        let started = Instant::now();
        record.tier = Some(req.tier.as_str().to_string());
        let mut cx = CallCtx {
            progress,
            ct,
            record,
            started,
        };
        let result = self.run(req, None, &mut cx).await;
        record.latency_ms = millis(started.elapsed());
        record.ok = result.is_ok();
        record.reason = result.as_ref().err().map(|f| f.reason);
        result
    }

    /// One delegation; `shared_files` is the framed text of `context_files` when the caller
    /// already read them for several delegations (`delegate_files`), which are then not read again.
    pub(crate) async fn run(
        &self,
        req: &CodeRequest,
        shared_files: Option<&str>,
        cx: &mut CallCtx<'_>,
    ) -> Result<Delivered, Failure> {
        if req.task.trim().is_empty() {
            return Err(Failure::new(Reason::BadRequest, "`task` is empty"));
        }
        if req.max_tokens == Some(0) {
            return Err(Failure::new(
                Reason::BadRequest,
                "`max_tokens` must be at least 1",
            ));
        }
        let language = check::resolve(req.language(), req.output_path());
        cx.record.language = language.as_ref().map(|l| l.name().to_string());
        // Workspace checks come first: a refused path must not cost a generation.
        let reads = shared_files.is_none() && !req.context_files.is_empty();
        let workspace = if req.output_path().is_some() || reads {
            Some(self.workspace()?)
        } else {
            None
        };
        if let (Some(path), Some(ws)) = (req.output_path(), &workspace) {
            if !self.cfg.allow_write {
                return Err(Failure::new(
                    Reason::BadRequest,
                    "writing files is off; start the server with LOCAL_EXECUTOR_ALLOW_WRITE=1 (or --allow-write) to turn it on",
                ));
            }
            ws.check_output(path, req.overwrite)?;
        }
        let files = match (shared_files, &workspace) {
            (Some(shared), _) => shared.to_string(),
            (None, Some(ws)) if reads => {
                let (text, bytes) = ws.read_context(&req.context_files)?;
                cx.record.context_bytes = bytes;
                text
            }
            _ => String::new(),
        };
        // An existing file is never regenerated from the task alone: `overwrite` rewrites it
        // whole from its current text, as `delegate_files` does.
        if let (Some(path), Some(ws)) = (req.output_path(), &workspace)
            && req.overwrite
            && ws.root().join(ws.check_write_path(path)?).is_file()
        {
            let src = ws.read_for_edit(path)?;
            let file = FileTask {
                path: path.to_string(),
                task: req.task.clone(),
                language: req.language.clone(),
            };
            let call = FilesRequest {
                context: req.context.clone(),
                tier: req.tier,
                overwrite: true,
                ..FilesRequest::default()
            };
            return self.edit(&file, &call, src, &files, cx).await;
        }
        let build = |files: &str| {
            prompt::messages(
                &prompt::Spec {
                    task: &req.task,
                    context: req.context(),
                    language: language.as_ref().map(Language::name),
                    files,
                },
                req.output_path(),
            )
        };
        let cap = if req.output_path().is_some() {
            MAX_WRITTEN_CHARS
        } else {
            self.cfg.max_output_chars
        };
        let rel = match (req.output_path(), &workspace) {
            (Some(path), Some(ws)) => Some(ws.check_write_path(path)?),
            _ => None,
        };
        let job = Job {
            req,
            shape: Shape::Whole,
            language: language.as_ref(),
            cap,
            path: rel.as_deref(),
        };
        // The prompt is fitted to the model's window first (crate::context).
        let checked = self
            .produce_fitting(job, &files, req.max_tokens, build, cx)
            .await?;
        let record = &mut *cx.record;
        let artifact = match (req.output_path(), &workspace) {
            (Some(path), Some(ws)) => {
                let receipt = ws.write(path, &checked.artifact, req.overwrite)?;
                record.output_path = Some(receipt.path.clone());
                record.bytes_written = Some(receipt.bytes);
                record.disk_chars = record.output_chars;
                receipt.render()
            }
            _ => checked.artifact,
        };
        let footer = footer(checked.escalated_from, req.tier, record);
        Ok(Delivered { artifact, footer })
    }

    /// Generates, cleans and checks on the request's tier, repairing what a check finds, and
    /// escalates a `fast` call that still fails to `quality` once, while the call's total budget
    /// leaves room for it.
    pub(crate) async fn produce(
        &self,
        job: Job<'_>,
        messages: Vec<Message>,
        cx: &mut CallCtx<'_>,
    ) -> Result<Checked, Failure> {
        let req = job.req;
        let model = tokio::select! {
            biased;
            _ = cx.ct.cancelled() => return Err(cancelled()),
            m = self.resolve_model(req.tier) => m?,
        };
        cx.record.model = Some(model.clone());
        let first = self.on_model(&model, &job, messages.clone(), cx).await;
        let failure = match first {
            Ok(artifact) => {
                return Ok(Checked {
                    artifact,
                    escalated_from: None,
                });
            }
            Err(f) => f,
        };
        if req.tier != Tier::Fast || !escalates(failure.reason) {
            return Err(failure);
        }
        let left = (cx.started + self.cfg.total_timeout).saturating_duration_since(Instant::now());
        if left < self.escalation_minimum() {
            // What is left could not carry a generation: the quality model would only time out,
            // and the failure would blame a model that never ran.
            tracing::info!(from = %model, left_ms = millis(left), "not escalating: the total budget is spent");
            return Err(failure);
        }
        let quality = match self.resolve_model(Tier::Quality).await {
            Ok(m) if m != model => m,
            _ => return Err(failure),
        };
        tracing::info!(from = %model, to = %quality, "escalating: {}", failure.detail);
        report(
            cx.progress,
            format!("fast failed ({}); trying {quality}", failure.reason),
        );
        cx.record.escalated_from = Some(Tier::Fast.as_str().to_string());
        cx.record.model = Some(quality.clone());
        cx.record.checks.clear();
        let artifact = self.on_model(&quality, &job, messages, cx).await?;
        Ok(Checked {
            artifact,
            escalated_from: Some(Tier::Fast),
        })
    }

    /// The least of the total budget an escalation needs left to start: one connect timeout. Less
    /// than that cannot be told apart from a host that is off, let alone hold a generation.
    fn escalation_minimum(&self) -> Duration {
        self.cfg.connect_timeout
    }

    /// Generation, cleaning, checks and repairs on one model.
    async fn on_model(
        &self,
        model: &str,
        job: &Job<'_>,
        mut messages: Vec<Message>,
        cx: &mut CallCtx<'_>,
    ) -> Result<String, Failure> {
        let Job {
            req,
            shape,
            language,
            cap,
            path,
        } = *job;
        let (progress, ct, started) = (cx.progress, cx.ct, cx.started);
        let record = &mut *cx.record;
        let _permit = match &self.limiter {
            Some(limiter) => Some(
                self.wait_for_slot(limiter, model, progress, ct, started)
                    .await?,
            ),
            None => None,
        };
        let call = Call {
            model,
            progress,
            ct,
            started,
            cap,
        };
        let mut repairs_left = self.cfg.repairs;
        loop {
            let body = prompt::body(&self.cfg, model, &messages, req.max_tokens);
            let generation = self
                .generate(&body, prompt::chars(&messages), &call, record)
                .await;
            let generation = match generation {
                Ok(g) => g,
                Err(f) => return Err(self.explain_missing_model(f, model).await),
            };
            // An answer cut at the token limit is continued while the window has room.
            let generation = self
                .continue_cut(generation, &messages, req, language, &call, record)
                .await?;
            record.finish_reason = generation.finish_reason.clone();
            let artifact = self.accept(&generation, model, req, (shape, language), cap, record)?;
            let (problem, result) = match shape.apply(&artifact, &generation.content, language) {
                Ok(artifact) => {
                    let deadline = started + self.cfg.total_timeout;
                    let verdicts = self
                        .checker
                        .check(&artifact, language, path, ct, deadline)
                        .await;
                    if ct.is_cancelled() {
                        return Err(cancelled());
                    }
                    record.checks = verdicts.records();
                    record.checked = verdicts.checked();
                    match verdicts.failure() {
                        None => return Ok(artifact),
                        Some(o) => {
                            let problem = format!("{}: {}", o.name, o.message);
                            // A fence or explanation line where code was expected: say so.
                            let fault = match shape {
                                Shape::Blocks { .. } | Shape::Symbols { .. } => None,
                                _ => clean::shape_fault(&artifact, language.map(Language::name)),
                            };
                            let problem = match fault {
                                Some(found) => format!("{problem}\n{}", prompt::shape_note(&found)),
                                None => problem,
                            };
                            (problem, Some(artifact))
                        }
                    }
                }
                Err(e) if e.problem == edit::Problem::Emptied => {
                    return Err(Failure::new(Reason::InvalidOutput, e.message));
                }
                Err(e) => (e.message, None),
            };
            if repairs_left == 0 {
                return Err(Failure::new(
                    Reason::InvalidOutput,
                    crate::failure::one_line(&problem, MAX_CHECK_DETAIL_CHARS),
                ));
            }
            repairs_left -= 1;
            record.repairs += 1;
            report(
                progress,
                format!("repairing: {}", crate::failure::one_line(&problem, 60)),
            );
            messages = prompt::repair(
                messages,
                &generation.content,
                &problem,
                shape.redo(result.as_deref()),
            );
        }
    }

    /// Turns a finished generation into a cleaned artifact, or says why it is none.
    fn accept(
        &self,
        g: &Generation,
        model: &str,
        req: &CodeRequest,
        (shape, language): (Shape<'_>, Option<&Language>),
        cap: usize,
        record: &mut UsageRecord,
    ) -> Result<String, Failure> {
        let artifact = clean::clean(&g.content, language.map(Language::name));
        record.output_chars = artifact.chars().count() as u64;
        // An edit reads its answer itself (a `</think>` line may be the file's own): it has none
        // only when there is no text, or the thinking never ended.
        let empty = match shape {
            Shape::Whole => artifact.is_empty(),
            Shape::WholeEdit { .. } | Shape::Blocks { .. } | Shape::Symbols { .. } => {
                g.content.trim().is_empty() || clean::still_thinking(&g.content)
            }
        };
        if g.finish_reason.as_deref() == Some("length") {
            if empty && g.thought_chars > 0 {
                return Err(Failure::new(
                    Reason::Truncated,
                    format!(
                        "{model} spent its whole budget of {} tokens thinking and wrote no answer; \
set LOCAL_LLM_THINK=off for mechanical work, or raise max_tokens",
                        g.completion_tokens
                    ),
                ));
            }
            return Err(Failure::new(
                Reason::Truncated,
                format!(
                    "{model} stopped at the token limit after {} tokens{}{}; ask for less or raise max_tokens",
                    g.completion_tokens,
                    req.max_tokens
                        .map(|n| format!(" (max_tokens {n})"))
                        .unwrap_or_default(),
                    match record.continued {
                        0 => String::new(),
                        n => format!(", continued {n} times"),
                    }
                ),
            ));
        }
        if empty {
            let detail = if g.thought_chars > 0 {
                format!("{model} only thought and wrote no answer; LOCAL_LLM_THINK=off may help")
            } else {
                format!("{model} returned no text after cleaning")
            };
            return Err(Failure::new(Reason::Empty, detail));
        }
        let chars = artifact.chars().count();
        if chars > cap {
            return Err(too_large(chars, cap));
        }
        Ok(artifact)
    }

    /// Queues for a backend slot under `LOCAL_LLM_MAX_CONCURRENT`, within the total timeout.
    async fn wait_for_slot(
        &self,
        limiter: &Limiter,
        model: &str,
        progress: Option<&ProgressTx>,
        ct: &CancellationToken,
        started: Instant,
    ) -> Result<Permit, Failure> {
        let acquire = limiter.acquire(model);
        tokio::pin!(acquire);
        let mut tick = tokio::time::interval_at(started + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
        loop {
            tokio::select! {
                biased;
                _ = ct.cancelled() => return Err(cancelled()),
                _ = sleep_until(started + self.cfg.total_timeout) => return Err(Failure::new(
                    Reason::Timeout,
                    format!("still queued for a backend slot after the {} s total timeout", secs(self.cfg.total_timeout)),
                )),
                _ = tick.tick() => report(progress, format!("queued ({} waiting)", limiter.queued())),
                permit = &mut acquire => return Ok(permit),
            }
        }
    }

    /// For a model the backend does not serve, name the ones it does.
    async fn explain_missing_model(&self, f: Failure, model: &str) -> Failure {
        if f.reason != Reason::ModelMissing {
            return f;
        }
        match self.backend.models().await {
            Ok(list) if !models::is_served(model, &list) => not_served(model, &list),
            _ => f,
        }
    }
}

/// `[local-executor ok · quality · 812 tok out · checked: python syntax]`: in a few tokens (the
/// planner reads one on every result), what vouches for the artifact — the checks that passed, the
/// repairs it took, an escalation — or `unchecked`, so the planner knows what it must read. The
/// model and the time are in the usage line.
pub(crate) fn footer(escalated_from: Option<Tier>, tier: Tier, record: &UsageRecord) -> String {
    let tier = match escalated_from {
        Some(from) => format!("{}→{}", from.as_str(), Tier::Quality.as_str()),
        None => tier.as_str().to_string(),
    };
    let names: Vec<&str> = record.checks.iter().map(|c| c.name.as_str()).collect();
    // A check that could not judge (a program missing, a timeout) leaves the artifact
    // unchecked, and the planner should know which.
    let unjudged: Vec<String> = record
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{} {}", c.name, verdict_word(c.verdict)))
        .collect();
    let checks = if record.checked {
        format!("checked: {}", names.join(", "))
    } else if unjudged.is_empty() {
        "unchecked".to_string()
    } else {
        format!("unchecked: {}", unjudged.join(", "))
    };
    let repairs = match record.repairs {
        0 => String::new(),
        1 => " · 1 repair".to_string(),
        n => format!(" · {n} repairs"),
    };
    let continued = match record.continued {
        0 => String::new(),
        n => format!(" · continued {n}"),
    };
    format!(
        "[local-executor ok · {tier} · {}{} tok out · {checks}{repairs}{continued}]",
        if record.usage_estimated { "~" } else { "" },
        record.completion_tokens,
    )
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "passed",
        Verdict::Fail => "failed",
        Verdict::Missing => "missing",
        Verdict::Timeout => "timed out",
        Verdict::Error => "crashed",
    }
}

/// Failures a `fast` call hands on to `quality`: the model's own, not the backend's or the
/// request's.
fn escalates(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::InvalidOutput | Reason::Truncated | Reason::Empty | Reason::Timeout
    )
}

pub(crate) fn report(progress: Option<&ProgressTx>, message: String) {
    if let Some(tx) = progress {
        let _ = tx.send(message);
    }
}

fn not_served(model: &str, served: &[String]) -> Failure {
    Failure::new(
        Reason::ModelMissing,
        format!(
            "{model} is not served by the backend; it serves: {}",
            served.join(", ")
        ),
    )
}

pub(crate) fn cancelled() -> Failure {
    Failure::new(
        Reason::Cancelled,
        "the call was cancelled; the generation was stopped",
    )
}

pub(crate) fn too_large(chars: usize, cap: usize) -> Failure {
    Failure::new(
        Reason::TooLarge,
        format!(
            "the artifact has {chars} characters, over the {cap} cap; write it to a file (delegate_files) or split the task"
        ),
    )
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_print_short() {
        assert_eq!(secs(Duration::from_secs(300)), "300");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5");
    }

    #[test]
    fn the_longest_footer_stays_under_30_tokens() {
        let mut record = UsageRecord {
            usage_estimated: true,
            completion_tokens: 1812,
            checked: true,
            repairs: 2,
            ..UsageRecord::default()
        };
        for name in ["python syntax", "ruff"] {
            record.checks.push(crate::usage::CheckRecord {
                name: name.into(),
                verdict: Verdict::Pass,
            });
        }
        let footer = footer(Some(Tier::Fast), Tier::Fast, &record);
        assert_eq!(
            footer,
            "[local-executor ok · fast→quality · ~1812 tok out · checked: python syntax, ruff · 2 repairs]"
        );
        let tokens = tiktoken_rs::o200k_base()
            .unwrap()
            .encode_with_special_tokens(&footer)
            .len();
        eprintln!("the longest footer: {tokens} tokens (o200k)");
        assert!(tokens < 30, "{tokens} tokens: {footer}");
    }

    #[test]
    fn a_continued_answer_says_so_in_the_footer() {
        let record = UsageRecord {
            completion_tokens: 900,
            continued: 1,
            ..UsageRecord::default()
        };
        assert_eq!(
            footer(None, Tier::Quality, &record),
            "[local-executor ok · quality · 900 tok out · unchecked · continued 1]"
        );
    }

    #[test]
    fn only_the_models_own_failures_escalate() {
        assert!(escalates(Reason::InvalidOutput));
        assert!(escalates(Reason::Timeout));
        assert!(!escalates(Reason::Cancelled));
        assert!(!escalates(Reason::BadRequest));
        assert!(!escalates(Reason::Unreachable));
    }
}
