//! One delegation, from the planner's request to a cleaned artifact or a [`Failure`]: resolve the
//! tier's model, build the prompt, stream the completion under the four timeouts while reporting
//! progress and watching for cancellation, then clean and check the result. The MCP tool and the
//! `delegate` subcommand both run through [`Engine::delegate`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, BackendError};
use crate::clean;
use crate::config::{Config, Tier};
use crate::failure::{Failure, Reason};
use crate::limiter::{Limiter, Permit};
use crate::models;
use crate::usage::UsageRecord;
use crate::workspace::Workspace;

/// How often progress is reported, at most.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// A model list this fresh is reused to resolve the default model.
const MODEL_LIST_TTL: Duration = Duration::from_secs(30);
/// Attempts for a call that fails before anything was generated (refused, 429, 502, 503).
const MAX_ATTEMPTS: u32 = 4;
const RETRY_BASE_DELAY: Duration = Duration::from_millis(250);
const RETRY_MAX_DELAY: Duration = Duration::from_secs(8);

/// Progress messages go out through this channel, in order, to whoever forwards them.
pub(crate) type ProgressTx = UnboundedSender<String>;

#[derive(Debug, Clone, Default)]
pub(crate) struct DelegateRequest {
    pub task: String,
    pub context: Option<String>,
    pub context_files: Vec<String>,
    pub language: Option<String>,
    pub tier: Tier,
    pub output_path: Option<String>,
    pub overwrite: bool,
    pub max_tokens: Option<u32>,
}

impl DelegateRequest {
    // A client (or an `.mcp.json` `${VAR:-}` default) may send "" for an optional string; it
    // means "not given", whichever front end built the request.
    fn language(&self) -> Option<&str> {
        non_blank(&self.language)
    }

    fn output_path(&self) -> Option<&str> {
        non_blank(&self.output_path)
    }
}

fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.trim().is_empty())
}

/// Largest artifact written to `output_path`; inline results have the smaller configured cap.
const MAX_WRITTEN_CHARS: usize = 2 * 1024 * 1024;

/// A successful delegation: the artifact (or, when written to disk, its receipt) and the footer.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub artifact: String,
    pub footer: String,
}

/// What one streamed call needs besides the request body.
#[derive(Clone, Copy)]
struct Call<'a> {
    model: &'a str,
    progress: Option<&'a ProgressTx>,
    ct: &'a CancellationToken,
    started: Instant,
    /// Largest artifact this call may deliver, in characters.
    cap: usize,
}

/// What a finished stream gave, before cleaning.
struct Generation {
    content: String,
    finish_reason: Option<String>,
    completion_tokens: u64,
}

pub(crate) struct Engine {
    pub cfg: Arc<Config>,
    pub backend: Backend,
    model_list: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
    limiter: Option<Limiter>,
    /// The backend answered `/running` with something other than llama-swap's list.
    no_running: AtomicBool,
}

impl Engine {
    pub(crate) fn new(cfg: Config) -> anyhow::Result<Engine> {
        let backend = Backend::new(&cfg)?;
        Ok(Engine {
            limiter: cfg.max_concurrent.map(Limiter::new),
            cfg: Arc::new(cfg),
            backend,
            model_list: Mutex::new(None),
            no_running: AtomicBool::new(false),
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

    /// The configured model ids of both tiers, without asking the backend.
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
            // know, so the list is the only place to catch it. When the list cannot be had, the
            // chat request itself will say what is wrong.
            if let Ok(list) = self.model_list().await
                && !list.is_empty()
                && !models::is_served(m, &list)
            {
                return Err(not_served(m, &list));
            }
            return Ok(m.to_string());
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

    /// The failure a backend error means, with the API key masked: some backends echo it back
    /// ("Invalid API key: sk-…"), and the detail reaches the planner and the log.
    pub(crate) fn failure(&self, e: BackendError) -> Failure {
        Failure::new(e.reason(), self.redact(&e.to_string()))
    }

    fn redact(&self, text: &str) -> String {
        match &self.cfg.api_key {
            Some(key) => text.replace(key.as_str(), "<LOCAL_LLM_API_KEY>"),
            None => text.to_string(),
        }
    }

    /// Runs one delegation. Fills `record` with what happened, on success and on failure alike.
    pub(crate) async fn delegate(
        &self,
        req: &DelegateRequest,
        progress: Option<&ProgressTx>,
        ct: &CancellationToken,
        record: &mut UsageRecord,
    ) -> Result<Delivered, Failure> {
        let started = Instant::now();
        record.tier = Some(req.tier.as_str().to_string());
        let result = self
            .delegate_inner(req, progress, ct, record, started)
            .await;
        record.latency_ms = millis(started.elapsed());
        record.ok = result.is_ok();
        record.reason = result.as_ref().err().map(|f| f.reason);
        result
    }

    async fn delegate_inner(
        &self,
        req: &DelegateRequest,
        progress: Option<&ProgressTx>,
        ct: &CancellationToken,
        record: &mut UsageRecord,
        started: Instant,
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
        // Workspace checks come first: a refused path must not cost a generation.
        let workspace = if req.output_path().is_some() || !req.context_files.is_empty() {
            Some(Workspace::new(
                &self.cfg.workspace,
                self.cfg.max_file_bytes,
                self.cfg.max_context_bytes,
            )?)
        } else {
            None
        };
        if let (Some(path), Some(ws)) = (req.output_path(), &workspace) {
            if !self.cfg.allow_write {
                return Err(Failure::new(
                    Reason::BadRequest,
                    "output_path is disabled; start the server with LOCAL_EXECUTOR_ALLOW_WRITE=1 (or --allow-write) to enable it",
                ));
            }
            ws.check_output(path, req.overwrite)?;
        }
        let files = match &workspace {
            Some(ws) if !req.context_files.is_empty() => {
                let (text, bytes) = ws.read_context(&req.context_files)?;
                record.context_bytes = bytes;
                text
            }
            _ => String::new(),
        };
        let model = tokio::select! {
            biased;
            _ = ct.cancelled() => return Err(cancelled()),
            m = self.resolve_model(req.tier) => m?,
        };
        record.model = Some(model.clone());

        let messages = prompt(req, &files);
        let prompt_chars: usize = messages.iter().map(|(_, text)| text.chars().count()).sum();
        let mut body = serde_json::json!({
            "model": model,
            "messages": messages.iter().map(|(role, content)| serde_json::json!({"role": role, "content": content})).collect::<Vec<_>>(),
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = n.into();
        }
        if let Some(t) = self.cfg.temperature {
            body["temperature"] = t.into();
        }

        let cap = if req.output_path().is_some() {
            MAX_WRITTEN_CHARS
        } else {
            self.cfg.max_output_chars
        };
        let _permit = match &self.limiter {
            Some(limiter) => Some(
                self.wait_for_slot(limiter, &model, progress, ct, started)
                    .await?,
            ),
            None => None,
        };
        let generation = self
            .stream(
                &body,
                &Call {
                    model: &model,
                    progress,
                    ct,
                    started,
                    cap,
                },
                record,
            )
            .await
            .map_err(|f| self.explain_missing_model(f, &model));
        // The estimate stands when the backend sent no usage (llama-cpp-python never does).
        if record.usage_estimated {
            record.prompt_tokens = (prompt_chars as u64).div_ceil(4);
        }
        let generation = match generation {
            Ok(g) => g,
            Err(f) => return Err(f.await),
        };
        record.finish_reason = generation.finish_reason.clone();

        if generation.finish_reason.as_deref() == Some("length") {
            return Err(Failure::new(
                Reason::Truncated,
                format!(
                    "{model} stopped at the token limit after {} tokens{}; ask for less or raise max_tokens",
                    generation.completion_tokens,
                    req.max_tokens
                        .map(|n| format!(" (max_tokens {n})"))
                        .unwrap_or_default()
                ),
            ));
        }
        let artifact = clean::clean(&generation.content, req.language());
        record.output_chars = artifact.chars().count() as u64;
        if artifact.is_empty() {
            return Err(Failure::new(
                Reason::Empty,
                format!("{model} returned no text after cleaning"),
            ));
        }
        clean::validate(&artifact, req.language())
            .map_err(|e| Failure::new(Reason::InvalidOutput, e))?;
        if artifact.chars().count() > cap {
            return Err(too_large(artifact.chars().count(), cap));
        }
        let artifact = match (req.output_path(), &workspace) {
            (Some(path), Some(ws)) => {
                let receipt = ws.write(path, &artifact, req.overwrite)?;
                record.output_path = Some(receipt.path.clone());
                record.bytes_written = Some(receipt.bytes);
                receipt.render()
            }
            _ => artifact,
        };
        let footer = format!(
            "[local-executor ok · {} · {} · {}{} tok out · {:.1} s]",
            req.tier.as_str(),
            model,
            if record.usage_estimated { "~" } else { "" },
            record.completion_tokens,
            started.elapsed().as_secs_f64()
        );
        Ok(Delivered { artifact, footer })
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

    /// Sends the request (retrying what may pass) and reads the stream to its end.
    async fn stream(
        &self,
        body: &serde_json::Value,
        call: &Call<'_>,
        record: &mut UsageRecord,
    ) -> Result<Generation, Failure> {
        let Call {
            model,
            progress,
            ct,
            started,
            cap,
        } = *call;
        let cfg = &self.cfg;
        let total_deadline = started + cfg.total_timeout;
        // The first-token clock starts when the request goes out, not while the call was queued.
        let sent = Instant::now();
        let first_deadline = (sent + cfg.first_token_timeout).min(total_deadline);
        let mut tick = tokio::time::interval_at(started + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        record.usage_estimated = true;

        let mut stream = loop {
            record.attempts += 1;
            let send = self.backend.chat(body);
            tokio::pin!(send);
            let sent = loop {
                tokio::select! {
                    biased;
                    _ = ct.cancelled() => return Err(cancelled()),
                    _ = sleep_until(first_deadline) => return Err(no_first_token(model, first_deadline - sent, record.attempts)),
                    _ = tick.tick() => self.report_waiting(progress, model, started).await,
                    r = &mut send => break r,
                }
            };
            match sent {
                Ok(s) => break s,
                Err(e) if e.retryable() && record.attempts < MAX_ATTEMPTS => {
                    let delay = retry_delay(record.attempts, e.retry_after());
                    if Instant::now() + delay >= first_deadline {
                        return Err(self.failure(e));
                    }
                    tracing::info!(
                        attempt = record.attempts,
                        ?delay,
                        "retrying: {}",
                        self.redact(&e.to_string())
                    );
                    tokio::select! {
                        biased;
                        _ = ct.cancelled() => return Err(cancelled()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Err(e) => return Err(self.failure(e)),
            }
        };

        let mut content = String::new();
        let mut finish_reason = None;
        let mut usage = None;
        let mut tokens: u64 = 0;
        let mut first_token: Option<Instant> = None;
        let mut last_chunk = Instant::now();
        let mut garbage = 0usize;
        // Content past this cannot clean down to an artifact under the cap; stop the GPU now.
        let raw_cap = cap.saturating_mul(2).saturating_add(16 * 1024);
        loop {
            let deadline = match first_token {
                Some(_) => (last_chunk + cfg.idle_timeout).min(total_deadline),
                None => first_deadline,
            };
            let chunk = tokio::select! {
                biased;
                _ = ct.cancelled() => return Err(cancelled()),
                _ = sleep_until(deadline) => {
                    return Err(match first_token {
                        None => no_first_token(model, first_deadline - sent, record.attempts),
                        Some(_) if deadline == total_deadline => Failure::new(Reason::Timeout, format!(
                            "{model} did not finish within the {} s total timeout ({tokens} tokens so far)",
                            secs(cfg.total_timeout))),
                        Some(_) => Failure::new(Reason::Timeout, format!(
                            "{model} stalled: no data for {} s after {tokens} tokens", secs(cfg.idle_timeout))),
                    });
                }
                _ = tick.tick() => {
                    match first_token {
                        Some(_) => report(progress, format!("{tokens} tokens")),
                        None => self.report_waiting(progress, model, started).await,
                    }
                    continue;
                }
                c = stream.next_chunk() => c,
            };
            let events = match chunk.map_err(|e| self.failure(e))? {
                Some(events) => events,
                None => break,
            };
            last_chunk = Instant::now();
            let mut done = false;
            for ev in events {
                let Some(ev) = ev else {
                    garbage += 1;
                    continue;
                };
                if let Some(err) = ev.error {
                    return Err(self.failure(BackendError::Reported(err)));
                }
                if !ev.content.is_empty() || !ev.reasoning.is_empty() {
                    tokens += 1;
                    if first_token.is_none() {
                        first_token = Some(last_chunk);
                        record.first_token_ms = Some(millis(last_chunk - started));
                    }
                }
                content.push_str(&ev.content);
                finish_reason = ev.finish_reason.or(finish_reason);
                usage = ev.usage.or(usage);
                done |= ev.done;
            }
            record.completion_tokens = tokens;
            if content.len() > raw_cap {
                return Err(too_large(content.chars().count(), cap));
            }
            if done {
                break;
            }
        }
        if let Some((prompt, completion)) = usage {
            record.prompt_tokens = prompt;
            record.completion_tokens = completion;
            record.usage_estimated = false;
        }
        if finish_reason.is_none() {
            // Every OpenAI-compatible backend ends a finished generation with a finish_reason;
            // without one the stream was cut (llama-cpp-python cuts a stream when another
            // request arrives, and ends it silently when the prompt overflows the context).
            let what = if !content.is_empty() {
                format!(
                    "ended the stream without a finish_reason after {tokens} tokens: the generation was cut off"
                )
            } else if garbage > 0 {
                format!("sent {garbage} unreadable stream lines and no text")
            } else {
                "sent an empty stream (with llama-cpp-python, often a prompt over the context size)"
                    .to_string()
            };
            return Err(Failure::new(
                Reason::HttpError,
                format!("the backend {what}"),
            ));
        }
        Ok(Generation {
            content,
            finish_reason,
            completion_tokens: record.completion_tokens,
        })
    }

    /// "waiting for <model>", or "loading <model>" when llama-swap's `/running` says so.
    async fn report_waiting(&self, progress: Option<&ProgressTx>, model: &str, started: Instant) {
        let Some(tx) = progress else { return };
        let waited = started.elapsed().as_secs();
        let mut loading = false;
        // Only llama-swap has `/running`; once a backend answers without it, stop asking.
        if !self.no_running.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(500), self.backend.running()).await {
                Ok(Some(r)) => {
                    loading = r
                        .iter()
                        .any(|r| r.model == model && r.state != "ready" && !r.state.is_empty());
                }
                Ok(None) => self.no_running.store(true, Ordering::Relaxed),
                Err(_) => {}
            }
        }
        let verb = if loading { "loading" } else { "waiting for" };
        let _ = tx.send(format!("{verb} {model} ({waited} s)"));
    }
}

fn report(progress: Option<&ProgressTx>, message: String) {
    if let Some(tx) = progress {
        let _ = tx.send(message);
    }
}

/// The system and user messages.
fn prompt(req: &DelegateRequest, files: &str) -> Vec<(&'static str, String)> {
    let lang = req
        .language()
        .map(|l| format!(" in {l}"))
        .unwrap_or_default();
    let system = format!(
        "You write code and text artifacts to a precise specification. Reply with the artifact{lang} \
only: no explanation, no markdown fences, no text before or after it. Follow the specification \
exactly and completely."
    );
    let mut user = req.task.trim().to_string();
    if let Some(ctx) = req.context.as_deref().filter(|c| !c.trim().is_empty()) {
        user.push_str("\n\nContext:\n");
        user.push_str(ctx);
    }
    if !files.is_empty() {
        user.push_str("\n\nFiles:");
        user.push_str(files);
    }
    vec![("system", system), ("user", user)]
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

fn cancelled() -> Failure {
    Failure::new(
        Reason::Cancelled,
        "the call was cancelled; the generation was stopped",
    )
}

fn too_large(chars: usize, cap: usize) -> Failure {
    Failure::new(
        Reason::TooLarge,
        format!(
            "the artifact has {chars} characters, over the {cap} cap; pass output_path or split the task"
        ),
    )
}

fn no_first_token(model: &str, waited: Duration, attempts: u32) -> Failure {
    let tries = if attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    };
    Failure::new(
        Reason::Timeout,
        format!(
            "no first token from {model} within {} s{tries}",
            secs(waited)
        ),
    )
}

/// Exponential backoff with jitter, or the backend's `Retry-After` when it gives one.
fn retry_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(d) = retry_after {
        return d.min(RETRY_MAX_DELAY);
    }
    let base = RETRY_BASE_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(5));
    // Jitter without a random-number crate: the clock's nanoseconds are unpredictable enough to
    // keep several editors' retries from marching in step.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 1000) / 2000.0);
    (base + jitter).min(RETRY_MAX_DELAY)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn secs(d: Duration) -> String {
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
    fn retry_delay_grows_and_honours_retry_after() {
        assert!(retry_delay(1, None) >= RETRY_BASE_DELAY);
        assert!(retry_delay(3, None) >= RETRY_BASE_DELAY * 4);
        assert!(retry_delay(30, None) <= RETRY_MAX_DELAY);
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(999))),
            RETRY_MAX_DELAY
        );
    }

    #[test]
    fn prompt_carries_task_context_and_language() {
        let req = DelegateRequest {
            task: "write f".into(),
            context: Some("def g(): pass".into()),
            language: Some("python".into()),
            ..DelegateRequest::default()
        };
        let m = prompt(&req, "");
        assert!(m[0].1.contains("in python"));
        assert_eq!(m[1].1, "write f\n\nContext:\ndef g(): pass");
    }

    #[test]
    fn seconds_print_short() {
        assert_eq!(secs(Duration::from_secs(300)), "300");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5");
    }
}
