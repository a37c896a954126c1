//! Context that fits the model's window, and answers that finish.
//!
//! The window of each model is learned once per process: from the backend where it says so
//! (llama.cpp's `/props`, llama-swap's `/upstream/<model>/props`, vLLM's `max_model_len` in
//! `/v1/models`, LM Studio's `/api/v0/models`, Ollama's `/api/ps` and `/api/show`), else from
//! `LOCAL_LLM_CONTEXT_QUALITY` / `_FAST`, else a conservative [`DEFAULT_WINDOW`]; a setting smaller
//! than the backend's figure wins, since the user may run fewer tokens than the model allows.
//! Before a generation the prompt is counted (an estimate that errs high; llama.cpp's
//! `/tokenize` when the estimate does not fit) against the window less the room the answer
//! needs. A prompt that does not fit gets its context files reduced ([`outline`]), largest
//! first, and one that still does not fit fails as `context_too_large` before any generation.
//! A backend that says the context was exceeded gets one more try with every file reduced.
//! An answer cut at the token limit is continued ([`cont`]).

pub(crate) mod cont;
pub mod outline;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::config::Tier;
use crate::engine::prompt::Message;
use crate::engine::{CallCtx, Checked, Engine, Job, cancelled};
use crate::failure::{Failure, Reason};

/// The window assumed when neither the backend nor a setting says: small enough for any model
/// a code server runs, so a prompt is never sent to be cut silently.
pub(crate) const DEFAULT_WINDOW: u32 = 4096;
/// Room kept for an answer when the call sets no `max_tokens`.
pub(crate) const DEFAULT_ANSWER_ROOM: u32 = 1024;
/// Tokens a chat template adds around each message (role markers, separators), at most.
const MESSAGE_OVERHEAD: u64 = 8;

/// Where a window's size came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// The backend said so, at this endpoint.
    Backend(&'static str),
    /// The user's setting, by its variable.
    Setting(&'static str),
    Default,
}

/// A model's context window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    pub tokens: u32,
    pub source: Source,
    /// The backend's `/tokenize` for this model, when it has one.
    pub tokenizer: Option<String>,
}

impl Window {
    /// `8192 tokens (llama.cpp /props)`, `4096 tokens (default; set LOCAL_LLM_CONTEXT_QUALITY)`.
    pub(crate) fn describe(&self, tier: Tier) -> String {
        let from = match &self.source {
            Source::Backend(what) => what.to_string(),
            Source::Setting(var) => var.to_string(),
            Source::Default => format!("default; set {}", setting_name(tier)),
        };
        format!("{} tokens ({from})", self.tokens)
    }
}

fn setting_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Quality => "LOCAL_LLM_CONTEXT_QUALITY",
        Tier::Fast => "LOCAL_LLM_CONTEXT_FAST",
    }
}

/// What the backend said of a model's window (`None`: nothing), per base URL and model.
type Probed = Option<(u32, &'static str, Option<String>)>;

fn cache() -> &'static Mutex<HashMap<(String, String), Probed>> {
    static CACHE: OnceLock<Mutex<HashMap<(String, String), Probed>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Asks every kind of server at once; the first in this order that answers decides. With
/// `may_load` false, llama-swap's upstream is not asked, since asking loads the model. The flag
/// says whether the answer may be kept: Ollama knows the window of a model only once it is loaded.
async fn probe(backend: &Backend, model: &str, may_load: bool) -> (Probed, bool) {
    let root = backend.root_url();
    let base = backend.base_url();
    let props_url = reqwest::Url::parse_with_params(&format!("{root}/props"), [("model", model)])
        .map(String::from)
        .unwrap_or_else(|_| format!("{root}/props"));
    let upstream = format!("{root}/upstream/{model}");
    let show = json!({ "model": model });
    let (up_url, list_url) = (format!("{upstream}/props"), format!("{base}/models"));
    let (lms_url, show_url) = (format!("{root}/api/v0/models"), format!("{root}/api/show"));
    let ps_url = format!("{root}/api/ps");
    let (props, up, listed, lms, ollama, ps) = tokio::join!(
        backend.lookup(&props_url, None),
        async {
            if may_load {
                backend.lookup(&up_url, None).await
            } else {
                None
            }
        },
        backend.lookup(&list_url, None),
        backend.lookup(&lms_url, None),
        backend.lookup(&show_url, Some(&show)),
        backend.lookup(&ps_url, None),
    );
    let keep = ollama.is_none();
    let answers = Answers {
        props,
        up,
        listed,
        lms,
        ollama,
        ps,
    };
    (decide(model, root, &upstream, answers), keep)
}

/// What each kind of server answered about the model's window (`None`: no answer).
struct Answers {
    /// llama.cpp's `/props`.
    props: Option<Value>,
    /// llama-swap's upstream `/props`.
    up: Option<Value>,
    /// The OpenAI model list (vLLM's `max_model_len`).
    listed: Option<Value>,
    /// LM Studio's `/api/v0/models`.
    lms: Option<Value>,
    /// Ollama's `/api/show`.
    ollama: Option<Value>,
    /// Ollama's `/api/ps`.
    ps: Option<Value>,
}

/// The window the answers say, in order of trust.
fn decide(model: &str, root: &str, upstream: &str, answers: Answers) -> Probed {
    let Answers {
        props,
        up,
        listed,
        lms,
        ollama,
        ps,
    } = answers;
    if let Some(n) = props.as_ref().and_then(n_ctx) {
        return Some((n, "llama.cpp /props", Some(format!("{root}/tokenize"))));
    }
    if let Some(n) = up.as_ref().and_then(n_ctx) {
        return Some((
            n,
            "llama-swap upstream /props",
            Some(format!("{upstream}/tokenize")),
        ));
    }
    if let Some(n) = listed
        .as_ref()
        .and_then(|v| entry(v, model))
        .and_then(|e| number(&e["max_model_len"]))
    {
        return Some((n, "vLLM max_model_len", None));
    }
    if let Some(e) = lms.as_ref().and_then(|v| entry(v, model)) {
        // The context it was loaded with, else the most it can load with.
        if let Some(n) = number(&e["loaded_context_length"]) {
            return Some((n, "LM Studio loaded_context_length", None));
        }
        if let Some(n) = number(&e["max_context_length"]) {
            return Some((n, "LM Studio max_context_length", None));
        }
    }
    // Ollama runs a model with the window `ollama ps` shows once it is loaded: its `num_ctx`
    // parameter, else OLLAMA_CONTEXT_LENGTH, else a default set by the GPU's memory (4K under
    // 24 GiB). The `context_length` of /api/show is what the model was trained for, not that.
    let loaded = ps.as_ref().and_then(|v| {
        v["models"].as_array()?.iter().find_map(|e| {
            let named = [&e["name"], &e["model"]].iter().any(|n| {
                n.as_str()
                    .is_some_and(|n| n == model || n.strip_suffix(":latest") == Some(model))
            });
            if named {
                number(&e["context_length"])
            } else {
                None
            }
        })
    });
    if let Some(n) = loaded {
        return Some((n, "Ollama /api/ps", None));
    }
    if let Some(v) = ollama {
        let num_ctx = v["parameters"].as_str().and_then(|p| {
            p.lines().find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("num_ctx"))
                    .then(|| w.next()?.parse::<u32>().ok())
                    .flatten()
            })
        });
        if let Some(n) = num_ctx {
            return Some((n, "Ollama num_ctx", None));
        }
    }
    None
}

fn n_ctx(props: &Value) -> Option<u32> {
    number(&props["default_generation_settings"]["n_ctx"]).or_else(|| number(&props["n_ctx"]))
}

fn number(v: &Value) -> Option<u32> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// The entry of `model` in a `{"data": [{"id": …}]}` list.
fn entry<'a>(list: &'a Value, model: &str) -> Option<&'a Value> {
    list["data"]
        .as_array()?
        .iter()
        .find(|e| e["id"].as_str() == Some(model))
}

/// Tokens of `text`, estimated high: three bytes a token (code and English run nearer four
/// characters a token; a CJK character is three bytes and about one token).
pub fn estimate(text: &str) -> u64 {
    (text.len() as u64).div_ceil(3)
}

pub(crate) fn estimate_messages(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|m| estimate(&m.content) + MESSAGE_OVERHEAD)
        .sum()
}

/// The messages to send, and whether their context files can still be reduced.
pub(crate) struct Fitted {
    pub messages: Vec<Message>,
    /// Every context file that could be reduced is.
    pub all_reduced: bool,
}

impl Engine {
    /// The window of `model` (serving `tier`): learned once per process. `may_load` allows the
    /// look-ups that load a model (llama-swap's upstream), as a delegation's are about to.
    pub(crate) async fn window(&self, tier: Tier, model: &str, may_load: bool) -> Window {
        let key = (self.backend.base_url().to_string(), model.to_string());
        let cached = cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let probed = match cached {
            Some(p) => p,
            None => {
                let (p, keep) = probe(&self.backend, model, may_load).await;
                if p.is_some() || (may_load && keep) {
                    cache()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, p.clone());
                }
                p
            }
        };
        let setting = match tier {
            Tier::Quality => self
                .cfg
                .context_quality
                .map(|n| (n, "LOCAL_LLM_CONTEXT_QUALITY")),
            Tier::Fast => self
                .cfg
                .context_fast
                .map(|n| (n, "LOCAL_LLM_CONTEXT_FAST"))
                .or(self
                    .cfg
                    .context_quality
                    .map(|n| (n, "LOCAL_LLM_CONTEXT_QUALITY"))),
        };
        match (probed, setting) {
            (Some((n, _, tokenizer)), Some((s, var))) if s < n => Window {
                tokens: s,
                source: Source::Setting(var),
                tokenizer,
            },
            (Some((n, what, tokenizer)), _) => Window {
                tokens: n,
                source: Source::Backend(what),
                tokenizer,
            },
            (None, Some((s, var))) => Window {
                tokens: s,
                source: Source::Setting(var),
                tokenizer: None,
            },
            (None, None) => Window {
                tokens: DEFAULT_WINDOW,
                source: Source::Default,
                tokenizer: None,
            },
        }
    }

    /// Tokens of `messages`: the estimate when it fits in `room`, else the backend's count where
    /// it has a tokenizer (a count that is off by a little only decides whether files are
    /// reduced), else the estimate.
    async fn count(&self, window: &Window, messages: &[Message], room: u64) -> u64 {
        let estimated = estimate_messages(messages);
        if estimated <= room {
            return estimated;
        }
        let Some(url) = &window.tokenizer else {
            return estimated;
        };
        let text: String = messages.iter().map(|m| m.content.as_str()).collect();
        let counted = self
            .backend
            .lookup(url, Some(&json!({ "content": text })))
            .await
            .and_then(|v| v["tokens"].as_array().map(Vec::len));
        match counted {
            Some(n) => n as u64 + MESSAGE_OVERHEAD * messages.len() as u64,
            None => estimated,
        }
    }

    /// The messages `build` makes of the context files `files`, reduced file by file (largest
    /// first) until the prompt leaves `answer` tokens of the window; `all` reduces every file
    /// at once (the retry after a backend said the context was exceeded).
    pub(crate) async fn fit(
        &self,
        tier: Tier,
        files: &str,
        answer: Option<u32>,
        all: bool,
        build: impl Fn(&str) -> Vec<Message>,
        cx: &mut CallCtx<'_>,
    ) -> Result<Fitted, Failure> {
        let (ct, record) = (cx.ct, &mut *cx.record);
        let model = tokio::select! {
            biased;
            _ = ct.cancelled() => return Err(cancelled()),
            m = self.resolve_model(tier) => m?,
        };
        let window = tokio::select! {
            biased;
            _ = ct.cancelled() => return Err(cancelled()),
            w = self.window(tier, &model, true) => w,
        };
        record.context_window = Some(window.tokens);
        let answer = u64::from(
            answer
                .unwrap_or(DEFAULT_ANSWER_ROOM)
                .min(window.tokens / 2)
                .max(1),
        );
        let room = u64::from(window.tokens).saturating_sub(answer);
        let mut sections = outline::sections(files).unwrap_or_default();
        let mut messages = build(files);
        let mut prompt = self.count(&window, &messages, room).await;
        let mut reduced = 0;
        // Largest first: the fewest files lose their bodies.
        let mut order: Vec<usize> = (0..sections.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sections[i].body.len()));
        for i in order {
            if prompt <= room && !all {
                break;
            }
            if let Some(r) = sections[i].reduced() {
                sections[i] = r;
                reduced += 1;
                messages = build(&outline::render(&sections));
                prompt = self.count(&window, &messages, room).await;
            }
        }
        record.context_reduced = reduced;
        if prompt > room {
            return Err(too_large(prompt, &window, tier, answer, reduced > 0));
        }
        Ok(Fitted {
            messages,
            all_reduced: sections.iter().all(|s| s.reduced().is_none()),
        })
    }
}

impl Engine {
    /// [`Engine::produce`] on the messages `build` makes of `files`, fitted to the window; when
    /// the backend still says the context was exceeded, once more with every file reduced.
    pub(crate) async fn produce_fitting(
        &self,
        job: Job<'_>,
        files: &str,
        answer: Option<u32>,
        build: impl Fn(&str) -> Vec<Message>,
        cx: &mut CallCtx<'_>,
    ) -> Result<Checked, Failure> {
        let fitted = self
            .fit(job.req.tier, files, answer, false, &build, cx)
            .await?;
        match self.produce(job, fitted.messages, cx).await {
            Err(f) if f.reason == Reason::ContextTooLarge && !fitted.all_reduced => {
                tracing::info!("the backend says the context was exceeded; reducing the files");
                crate::engine::report(cx.progress, "context exceeded; outlining the files".into());
                let fitted = self
                    .fit(job.req.tier, files, answer, true, &build, cx)
                    .await?;
                self.produce(job, fitted.messages, cx).await
            }
            other => other,
        }
    }
}

impl Engine {
    /// `context window: quality (m) 8192 tokens (llama.cpp /props) · fast (n) …`, for
    /// `list_local_models` and `doctor`; asks nothing that would load a model.
    pub(crate) async fn windows_line(
        &self,
        quality: Option<&str>,
        fast: Option<&str>,
    ) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(q) = quality {
            let w = self.window(Tier::Quality, q, false).await;
            parts.push(format!("quality ({q}) {}", w.describe(Tier::Quality)));
        }
        if let Some(f) = fast.filter(|f| Some(*f) != quality || self.cfg.context_fast.is_some()) {
            let w = self.window(Tier::Fast, f, false).await;
            parts.push(format!("fast ({f}) {}", w.describe(Tier::Fast)));
        }
        (!parts.is_empty()).then(|| format!("context window: {}", parts.join(" · ")))
    }
}

impl Engine {
    /// How an edit of `content` is asked of `tier`'s model: as `edit::mode_for` picks, except
    /// that a whole-file answer that would take more than half the window is asked as blocks
    /// (`true` then, for the receipt to say so).
    pub(crate) async fn edit_mode(
        &self,
        tier: Tier,
        content: &str,
        (lang, task): (Option<crate::check::Lang>, &str),
        ct: &CancellationToken,
    ) -> Result<(crate::edit::Mode, bool), Failure> {
        let mode = crate::edit::mode_for(content, lang, task, self.cfg.edit_format);
        if mode != crate::edit::Mode::WholeFile {
            return Ok((mode, false));
        }
        let model = tokio::select! {
            biased;
            _ = ct.cancelled() => return Err(cancelled()),
            m = self.resolve_model(tier) => m?,
        };
        let window = self.window(tier, &model, true).await;
        if edit_answer_room(content, mode) > window.tokens / 2 {
            return Ok((crate::edit::Mode::Blocks, true));
        }
        Ok((mode, false))
    }
}

/// The line a receipt gets when an edit was asked as blocks because the window is small.
pub(crate) const BLOCKS_FOR_WINDOW: &str =
    "(asked as SEARCH/REPLACE blocks: the whole file would not fit the model's window)";

/// The room the answer of an edit needs: a whole file comes back whole (the file's tokens and a
/// fifth more for the change); blocks carry only the changed lines with a few around them, so a
/// quarter of the file, and never less than the default room.
pub(crate) fn edit_answer_room(content: &str, mode: crate::edit::Mode) -> u32 {
    let file = estimate(content);
    let room = match mode {
        crate::edit::Mode::WholeFile => file + file / 5 + 64,
        crate::edit::Mode::Blocks => (file / 4).max(u64::from(DEFAULT_ANSWER_ROOM)),
        // A definition may be a whole class: half the file.
        crate::edit::Mode::Symbols => (file / 2).max(u64::from(DEFAULT_ANSWER_ROOM)),
    };
    u32::try_from(room).unwrap_or(u32::MAX)
}

/// `context_too_large`, with the sizes and what the planner can do.
fn too_large(prompt: u64, window: &Window, tier: Tier, answer: u64, reduced: bool) -> Failure {
    Failure::new(
        Reason::ContextTooLarge,
        format!(
            "the prompt is ~{prompt} tokens{}, the window {} and the answer needs {answer}; \
pass line ranges (path:START-END), fewer files, or run the model with a larger window",
            if reduced { " with files outlined" } else { "" },
            window.describe(tier),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_errs_high() {
        // o200k counts this at about 20 tokens.
        let code = "def total(items):\n    return sum(i.price * i.qty for i in items)\n";
        assert!(estimate(code) >= 20, "{}", estimate(code));
        assert_eq!(estimate("日本語"), 3);
    }

    #[test]
    fn reads_each_backends_window() {
        let v = json!({"default_generation_settings": {"n_ctx": 8192}});
        assert_eq!(n_ctx(&v), Some(8192));
        assert_eq!(n_ctx(&json!({"n_ctx": 2048})), Some(2048));
        assert_eq!(n_ctx(&json!({"n_ctx": 0})), None);
        let list = json!({"data": [{"id": "a", "max_model_len": 32768}]});
        assert_eq!(
            entry(&list, "a").and_then(|e| number(&e["max_model_len"])),
            Some(32768)
        );
        assert!(entry(&list, "b").is_none());
    }
}
