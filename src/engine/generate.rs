//! One generation: send the request (retrying what may pass), then read the stream under the
//! first-token, idle and total deadlines while reporting progress and watching for cancellation.
//! What the stream says is gathered by a [`Collector`], which knows nothing of HTTP or time, so
//! the accounting (tokens, think blocks, the size cap, how a stream ended) is tested on its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::{Instant, Interval, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{Engine, ProgressTx, cancelled, millis, report, secs};
use crate::backend::{Backend, BackendError, ChatStream};
use crate::clean::Think;
use crate::config::Config;
use crate::failure::{Failure, Reason};
use crate::sse::StreamEvent;
use crate::usage::UsageRecord;

/// How often progress is reported, at most.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// Attempts for a call that fails before anything was generated (refused, 429, 502, 503).
const MAX_ATTEMPTS: u32 = 4;
const RETRY_BASE_DELAY: Duration = Duration::from_millis(250);
const RETRY_MAX_DELAY: Duration = Duration::from_secs(8);
/// llama-swap's `/running` is asked at this pace while a model loads, slowing to the maximum.
const LOAD_POLL_FIRST: Duration = Duration::from_secs(1);
const LOAD_POLL_MAX: Duration = Duration::from_secs(8);

/// What one generation needs besides the request body.
#[derive(Clone, Copy)]
pub(crate) struct Call<'a> {
    pub model: &'a str,
    pub progress: Option<&'a ProgressTx>,
    pub ct: &'a CancellationToken,
    /// When the whole delegation started: the total timeout and the progress clock count from it.
    pub started: Instant,
    /// Largest artifact this call may deliver, in characters.
    pub cap: usize,
}

/// What a finished stream gave, before cleaning.
#[derive(Debug)]
pub(crate) struct Generation {
    pub content: String,
    pub finish_reason: Option<String>,
    pub completion_tokens: u64,
    /// Characters the model spent thinking (`reasoning_content` or a leading `<think>` block).
    pub thought_chars: usize,
}

/// Gathers the events of one stream.
#[derive(Debug)]
pub(crate) struct Collector {
    content: String,
    content_chars: usize,
    think: Think,
    /// Characters of the content before `think`'s answer start, and that start.
    thought: (usize, usize),
    reasoning_chars: usize,
    tokens: u64,
    finish_reason: Option<String>,
    usage: Option<(u64, u64)>,
    garbage: usize,
    done: bool,
    /// A body that is not an event stream (a backend that ignored `stream: true`) is one event,
    /// whatever its length: its tokens are estimated from its characters.
    streamed: bool,
}

impl Collector {
    pub(crate) fn new(streamed: bool) -> Collector {
        Collector {
            content: String::new(),
            content_chars: 0,
            think: Think::new(usize::MAX),
            thought: (0, 0),
            reasoning_chars: 0,
            tokens: 0,
            finish_reason: None,
            usage: None,
            garbage: 0,
            done: false,
            streamed,
        }
    }

    /// Takes one event (`None` for a payload that did not parse); an error event is returned.
    pub(crate) fn push(&mut self, ev: Option<StreamEvent>) -> Result<(), BackendError> {
        let Some(ev) = ev else {
            self.garbage += 1;
            return Ok(());
        };
        if let Some(err) = ev.error {
            return Err(BackendError::Reported(err));
        }
        if !ev.content.is_empty() || !ev.reasoning.is_empty() {
            self.tokens += 1;
        }
        self.reasoning_chars += ev.reasoning.chars().count();
        if !ev.content.is_empty() {
            self.content.push_str(&ev.content);
            self.content_chars += ev.content.chars().count();
            self.track_think();
        }
        self.finish_reason = ev.finish_reason.or(self.finish_reason.take());
        self.usage = ev.usage.or(self.usage);
        self.done |= ev.done;
        Ok(())
    }

    fn track_think(&mut self) {
        self.think.scan(&self.content);
        let (chars, at) = self.thought;
        let start = self.think.answer_start();
        if start != at {
            self.thought = (chars + self.content[at..start].chars().count(), start);
        }
    }

    /// Characters held against the size cap: the content after the thinking that ended, an
    /// unfinished think block included (a backend that never closes one must not fill memory).
    pub(crate) fn capped_chars(&self) -> usize {
        self.content_chars - self.thought.0
    }

    /// Generated tokens: the backend's count when it sent one, else one per streamed event, else
    /// (a whole answer in one body) about four characters a token.
    pub(crate) fn tokens(&self) -> u64 {
        match self.usage {
            Some((_, completion)) => completion,
            None if self.streamed => self.tokens,
            None => ((self.content_chars + self.reasoning_chars) as u64).div_ceil(4),
        }
    }

    pub(crate) fn usage(&self) -> Option<(u64, u64)> {
        self.usage
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The stream ended: a generation, or why what arrived is not one. The counts stay behind
    /// for the usage record.
    pub(crate) fn finish(&mut self) -> Result<Generation, Failure> {
        if self.finish_reason.is_none() {
            // Every OpenAI-compatible backend ends a finished generation with a finish_reason;
            // without one the stream was cut. llama-cpp-python cuts a stream when another request
            // arrives (its `interrupt_requests`, on by default), and ends a stream at once, empty,
            // when the prompt overflows the context.
            let what = if !self.content.is_empty() || self.reasoning_chars > 0 {
                format!(
                    "ended the stream without a finish_reason after {} tokens: the generation was \
cut off (llama-cpp-python does this when another request arrives; set interrupt_requests to false)",
                    self.tokens()
                )
            } else if self.garbage > 0 {
                format!("sent {} unreadable stream lines and no text", self.garbage)
            } else {
                "sent an empty stream (llama-cpp-python does this when another request interrupts \
it, or when the prompt is over the context size)"
                    .to_string()
            };
            return Err(Failure::new(
                Reason::HttpError,
                format!("the backend {what}"),
            ));
        }
        // The whole text read once more as cleaning reads it, so "only thought" means the same
        // here as there (a closing tag at the very end is decided only now).
        let answer = Think::new(usize::MAX).answer_of(&self.content);
        let thought = self.content[..self.content.len() - answer.len()]
            .chars()
            .count();
        Ok(Generation {
            completion_tokens: self.tokens(),
            thought_chars: self.reasoning_chars + thought,
            content: std::mem::take(&mut self.content),
            finish_reason: self.finish_reason.clone(),
        })
    }
}

/// Asks llama-swap's `/running` in the background whether the model is loading, so that a
/// progress tick reads a flag and never waits on the network inside the cancellation `select!`.
struct LoadWatch {
    loading: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl LoadWatch {
    fn start(backend: Backend, model: String, no_running: Arc<AtomicBool>) -> LoadWatch {
        let loading = Arc::new(AtomicBool::new(false));
        let flag = loading.clone();
        let task = tokio::spawn(async move {
            let mut pause = LOAD_POLL_FIRST;
            // Only llama-swap has `/running`; once a backend answers without it, stop asking.
            while !no_running.load(Ordering::Relaxed) {
                match backend.running().await {
                    Some(list) => flag.store(
                        list.iter()
                            .any(|r| r.model == model && r.state != "ready" && !r.state.is_empty()),
                        Ordering::Relaxed,
                    ),
                    None => no_running.store(true, Ordering::Relaxed),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LOAD_POLL_MAX);
            }
        });
        LoadWatch { loading, task }
    }
}

impl Drop for LoadWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Progress while no token has come: "waiting for <model>", or "loading <model>".
struct Waiting<'a> {
    engine: &'a Engine,
    call: &'a Call<'a>,
    watch: Option<LoadWatch>,
}

impl Waiting<'_> {
    fn tick(&mut self) {
        let Some(tx) = self.call.progress else { return };
        let watch = self.watch.get_or_insert_with(|| {
            LoadWatch::start(
                self.engine.backend.clone(),
                self.call.model.to_string(),
                self.engine.no_running.clone(),
            )
        });
        let verb = if watch.loading.load(Ordering::Relaxed) {
            "loading"
        } else {
            "waiting for"
        };
        let _ = tx.send(format!(
            "{verb} {} ({} s)",
            self.call.model,
            self.call.started.elapsed().as_secs()
        ));
    }
}

/// The clocks of one generation: the first token's, which starts when the request goes out (not
/// while the call was queued), and the call's total; neither runs past the total.
struct Deadlines {
    sent: Instant,
    first_token: Instant,
    total: Instant,
}

impl Deadlines {
    fn new(cfg: &Config, started: Instant) -> Deadlines {
        let total = started + cfg.total_timeout;
        let sent = Instant::now();
        Deadlines {
            sent,
            first_token: (sent + cfg.first_token_timeout).min(total),
            total,
        }
    }

    /// When waiting for the next chunk ends: the first token's deadline until a token came, then
    /// the idle timeout from the last chunk.
    fn next(&self, first_token: bool, last_chunk: Instant, idle: Duration) -> Instant {
        if first_token {
            (last_chunk + idle).min(self.total)
        } else {
            self.first_token
        }
    }

    fn no_first_token(&self, model: &str, attempts: u32) -> Failure {
        let tries = if attempts > 1 {
            format!(" ({attempts} attempts)")
        } else {
            String::new()
        };
        Failure::new(
            Reason::Timeout,
            format!(
                "no first token from {model} within {} s{tries}",
                secs(self.first_token - self.sent)
            ),
        )
    }
}

/// One generation under way: its call, its clocks, the progress ticks and the attempts made.
struct Generating<'a> {
    engine: &'a Engine,
    call: &'a Call<'a>,
    deadlines: Deadlines,
    tick: Interval,
    waiting: Waiting<'a>,
    attempts: u32,
}

impl Generating<'_> {
    /// Sends the request, retrying what may pass (refused, 429, 502, 503) with backoff while the
    /// first token's deadline allows; each request sent counts as an attempt in `record`.
    async fn send(
        &mut self,
        body: &serde_json::Value,
        record: &mut UsageRecord,
    ) -> Result<ChatStream, Failure> {
        let (engine, ct) = (self.engine, self.call.ct);
        loop {
            self.attempts += 1;
            record.attempts += 1;
            let send = engine.backend.chat(body);
            tokio::pin!(send);
            let sent = loop {
                tokio::select! {
                    biased;
                    _ = ct.cancelled() => return Err(cancelled()),
                    _ = sleep_until(self.deadlines.first_token) => {
                        return Err(self.deadlines.no_first_token(self.call.model, self.attempts));
                    }
                    _ = self.tick.tick() => self.waiting.tick(),
                    r = &mut send => break r,
                }
            };
            match sent {
                Ok(s) => return Ok(s),
                Err(e) if e.retryable() && self.attempts < MAX_ATTEMPTS => {
                    let delay = retry_delay(self.attempts, e.retry_after());
                    if Instant::now() + delay >= self.deadlines.first_token {
                        return Err(engine.failure(e));
                    }
                    self.back_off(delay, &e).await?;
                }
                Err(e) => return Err(engine.failure(e)),
            }
        }
    }

    /// Waits `delay` before the next attempt, saying why, still cancellable.
    async fn back_off(&mut self, delay: Duration, e: &BackendError) -> Result<(), Failure> {
        let why = self.engine.redact(&e.to_string());
        tracing::info!(attempt = self.attempts, ?delay, "retrying: {why}");
        report(
            self.call.progress,
            format!(
                "retrying {} in {} s: {}",
                self.call.model,
                secs(delay),
                crate::failure::one_line(&why, 80)
            ),
        );
        let wake = tokio::time::sleep(delay);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                biased;
                _ = self.call.ct.cancelled() => return Err(cancelled()),
                _ = &mut wake => return Ok(()),
                _ = self.tick.tick() => self.waiting.tick(),
            }
        }
    }

    /// Reads the stream into `c` until it is done, under the first-token, idle and total
    /// deadlines, stopping a stream that outgrows the cap.
    async fn read(
        &mut self,
        mut stream: ChatStream,
        c: &mut Collector,
        record: &mut UsageRecord,
    ) -> Result<Generation, Failure> {
        let (engine, call) = (self.engine, self.call);
        let mut first_token = false;
        let mut last_chunk = Instant::now();
        // Content past this cannot clean down to an artifact under the cap; stop the GPU now.
        let raw_cap = call.cap.saturating_mul(2).saturating_add(16 * 1024);
        loop {
            let deadline = self
                .deadlines
                .next(first_token, last_chunk, engine.cfg.idle_timeout);
            let chunk = tokio::select! {
                biased;
                _ = call.ct.cancelled() => return Err(cancelled()),
                _ = sleep_until(deadline) => return Err(self.expired(first_token, deadline, c.tokens())),
                _ = self.tick.tick() => {
                    if first_token {
                        report(call.progress, format!("{} tokens", c.tokens()));
                    } else {
                        self.waiting.tick();
                    }
                    continue;
                }
                next = stream.next_chunk() => next,
            };
            let Some(events) = chunk.map_err(|e| engine.failure(e))? else {
                break;
            };
            last_chunk = Instant::now();
            for ev in events {
                c.push(ev).map_err(|e| engine.failure(e))?;
            }
            if !first_token && c.tokens() > 0 {
                first_token = true;
                self.waiting.watch = None;
                if record.first_token_ms.is_none() {
                    record.first_token_ms = Some(millis(last_chunk - call.started));
                }
            }
            if c.capped_chars() > raw_cap {
                return Err(super::too_large(c.capped_chars(), call.cap));
            }
            if c.is_done() {
                break;
            }
        }
        c.finish()
    }

    /// Which deadline passed while reading, in words.
    fn expired(&self, first_token: bool, deadline: Instant, tokens: u64) -> Failure {
        let (model, cfg) = (self.call.model, &self.engine.cfg);
        if !first_token {
            self.deadlines.no_first_token(model, self.attempts)
        } else if deadline == self.deadlines.total {
            Failure::new(
                Reason::Timeout,
                format!(
                    "{model} did not finish within the {} s total timeout ({tokens} tokens so far)",
                    secs(cfg.total_timeout)
                ),
            )
        } else {
            Failure::new(
                Reason::Timeout,
                format!(
                    "{model} stalled: no data for {} s after {tokens} tokens",
                    secs(cfg.idle_timeout)
                ),
            )
        }
    }
}

impl Engine {
    /// Sends `body` and reads its stream to the end. Adds what it cost to `record` (attempts,
    /// tokens, the first token's time), also when it fails; a request never sent costs nothing.
    pub(crate) async fn generate(
        &self,
        body: &serde_json::Value,
        prompt_chars: usize,
        call: &Call<'_>,
        record: &mut UsageRecord,
    ) -> Result<Generation, Failure> {
        let mut collector = None;
        let attempts = record.attempts;
        let result = self.generate_into(body, call, record, &mut collector).await;
        if record.attempts == attempts {
            return result;
        }
        let usage = collector.as_ref().and_then(Collector::usage);
        match usage {
            Some((prompt, completion)) => {
                record.prompt_tokens += prompt;
                record.completion_tokens += completion;
            }
            None => {
                // llama-cpp-python never sends usage: count here, and say so.
                record.usage_estimated = true;
                record.prompt_tokens += (prompt_chars as u64).div_ceil(4);
                record.completion_tokens += collector.as_ref().map_or(0, Collector::tokens);
            }
        }
        result
    }

    async fn generate_into(
        &self,
        body: &serde_json::Value,
        call: &Call<'_>,
        record: &mut UsageRecord,
        collector: &mut Option<Collector>,
    ) -> Result<Generation, Failure> {
        let deadlines = Deadlines::new(&self.cfg, call.started);
        if deadlines.sent >= deadlines.total {
            // Nothing is sent (a repair after checks that took the rest of the budget): no
            // attempt, no tokens, and the detail says what ran out.
            return Err(Failure::new(
                Reason::Timeout,
                format!(
                    "the {} s total timeout ran out before {} was asked",
                    secs(self.cfg.total_timeout),
                    call.model
                ),
            ));
        }
        let mut tick =
            tokio::time::interval_at(Instant::now() + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut g = Generating {
            engine: self,
            call,
            deadlines,
            tick,
            waiting: Waiting {
                engine: self,
                call,
                watch: None,
            },
            attempts: 0,
        };
        let stream = g.send(body, record).await?;
        let c = collector.insert(Collector::new(stream.is_event_stream()));
        g.read(stream, c, record).await
    }
}

/// Exponential backoff with jitter, or the backend's `Retry-After` when it gives one.
pub(crate) fn retry_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(d) = retry_after {
        return d.min(RETRY_MAX_DELAY);
    }
    let base = RETRY_BASE_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(5));
    // Jitter keeps several editors' retries from marching in step.
    let jitter = base.mul_f64(fastrand::f64() / 2.0);
    (base + jitter).min(RETRY_MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(content: &str) -> Option<StreamEvent> {
        Some(StreamEvent {
            content: content.into(),
            ..StreamEvent::default()
        })
    }

    fn finish(reason: &str) -> Option<StreamEvent> {
        Some(StreamEvent {
            finish_reason: Some(reason.into()),
            ..StreamEvent::default()
        })
    }

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
    fn counts_a_token_per_streamed_event_and_keeps_the_text() {
        let mut c = Collector::new(true);
        for p in ["def ", "f():", "\n    pass"] {
            c.push(ev(p)).unwrap();
        }
        c.push(finish("stop")).unwrap();
        assert_eq!(c.tokens(), 3);
        let g = c.finish().unwrap();
        assert_eq!(g.content, "def f():\n    pass");
        assert_eq!(g.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn a_whole_answer_in_one_body_estimates_its_tokens_from_characters() {
        let mut c = Collector::new(false);
        c.push(ev(&"x".repeat(400))).unwrap();
        c.push(finish("stop")).unwrap();
        assert_eq!(c.tokens(), 100);
    }

    #[test]
    fn reported_usage_wins() {
        let mut c = Collector::new(true);
        c.push(ev("a")).unwrap();
        c.push(Some(StreamEvent {
            usage: Some((12, 34)),
            ..StreamEvent::default()
        }))
        .unwrap();
        assert_eq!(c.tokens(), 34);
    }

    #[test]
    fn a_leading_think_block_does_not_count_toward_the_cap() {
        let mut c = Collector::new(true);
        for p in ["  <thi", "nk>", &"r".repeat(1000), "</th", "ink>", "héllo"] {
            c.push(ev(p)).unwrap();
        }
        assert_eq!(c.capped_chars(), 5);
        c.push(finish("stop")).unwrap();
        assert_eq!(c.finish().unwrap().thought_chars, 2 + 7 + 1000 + 8);
    }

    #[test]
    fn an_unclosed_think_block_is_all_thought_and_counts_toward_the_cap() {
        let mut c = Collector::new(true);
        c.push(ev("<think>")).unwrap();
        c.push(ev("ééé")).unwrap();
        // A backend that never closes the block must not stream unbounded text into memory.
        assert_eq!(c.capped_chars(), 10);
        c.push(ev(&"r".repeat(1000))).unwrap();
        assert_eq!(c.capped_chars(), 1010);
        let mut stopped = Collector::new(true);
        stopped.push(ev("<think>ééé")).unwrap();
        stopped.push(finish("length")).unwrap();
        assert_eq!(stopped.finish().unwrap().thought_chars, 10);
        c.push(ev("</think>\nx")).unwrap();
        assert_eq!(c.capped_chars(), 2);
    }

    #[test]
    fn the_collector_and_cleaning_agree_on_where_thinking_ends() {
        // An orphan closing tag (Qwen3's template opens the block in the prompt), split across
        // events, and a second leading block.
        let raw = "plan it\n</thi|nk>\n<think>more</think>\nx = 1\n";
        let mut c = Collector::new(true);
        for p in raw.split('|') {
            c.push(ev(p)).unwrap();
        }
        c.push(finish("stop")).unwrap();
        let whole = raw.replace('|', "");
        let answer = crate::clean::strip_think(&whole);
        assert_eq!(answer, "\nx = 1\n");
        assert_eq!(c.capped_chars(), answer.chars().count());
        let g = c.finish().unwrap();
        assert_eq!(g.thought_chars, raw.len() - 1 - answer.len());
    }

    #[test]
    fn the_cap_counts_characters_not_bytes() {
        let mut c = Collector::new(true);
        c.push(ev(&"é".repeat(100))).unwrap();
        assert_eq!(c.capped_chars(), 100);
    }

    #[test]
    fn reasoning_content_is_thought() {
        let mut c = Collector::new(true);
        c.push(Some(StreamEvent {
            reasoning: "hmm".into(),
            ..StreamEvent::default()
        }))
        .unwrap();
        c.push(finish("length")).unwrap();
        let g = c.finish().unwrap();
        assert_eq!(g.thought_chars, 3);
        assert!(g.content.is_empty());
    }

    #[test]
    fn a_stream_without_finish_reason_was_cut() {
        let mut c = Collector::new(true);
        c.push(ev("partial")).unwrap();
        let f = c.finish().unwrap_err();
        assert_eq!(f.reason, Reason::HttpError);
        assert!(f.detail.contains("cut off"), "{}", f.detail);
        assert!(f.detail.contains("interrupt_requests"), "{}", f.detail);
        let f = Collector::new(true).finish().unwrap_err();
        assert!(f.detail.contains("empty stream"), "{}", f.detail);
    }

    #[test]
    fn an_error_event_is_returned() {
        let mut c = Collector::new(true);
        let e = c
            .push(Some(StreamEvent {
                error: Some("boom".into()),
                ..StreamEvent::default()
            }))
            .unwrap_err();
        assert!(e.to_string().contains("boom"));
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let mut c = Collector::new(true);
        c.push(None).unwrap();
        let f = c.finish().unwrap_err();
        assert!(f.detail.contains("1 unreadable"), "{}", f.detail);
    }
}
