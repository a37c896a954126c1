//! The OpenAI-compatible client: list models, llama-swap's `/running`, and a streamed chat
//! completion read chunk by chunk. Wire types stay private here; callers see model ids,
//! [`StreamEvent`]s and a [`BackendError`] whose kind decides the DELEGATION_FAILED reason.

use std::time::Duration;

use serde::Deserialize;

use crate::config::Config;
use crate::failure::Reason;
use crate::sse::{self, SseParser, StreamEvent};

/// Cap on a non-streamed body (an error page, a model list, a backend that ignores `stream`).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Quick look-ups (`/v1/models`, `/running`) never wait for a model load.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    #[error("cannot reach {url}: {cause}")]
    Unreachable {
        url: String,
        cause: String,
        /// The connect timed out (a host that is off or firewalled) rather than being refused
        /// (a host that is up, its server not listening yet).
        timed_out: bool,
    },
    #[error("HTTP {status} from the backend: {message}")]
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The request failed before any response arrived (a reset or a closed pooled connection).
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Stream(String),
    #[error("the backend reported an error: {0}")]
    Reported(String),
}

impl BackendError {
    pub(crate) fn reason(&self) -> Reason {
        match self {
            BackendError::Unreachable { .. } => Reason::Unreachable,
            BackendError::Status { message, .. } => {
                // A bare 404 is a wrong path far more often than a missing model.
                if mentions_missing_model(message) {
                    Reason::ModelMissing
                } else if mentions_context_overflow(message) {
                    Reason::ContextTooLarge
                } else {
                    Reason::HttpError
                }
            }
            BackendError::Reported(message) => {
                if mentions_missing_model(message) {
                    Reason::ModelMissing
                } else if mentions_context_overflow(message) {
                    Reason::ContextTooLarge
                } else {
                    Reason::HttpError
                }
            }
            BackendError::Request(_) | BackendError::Stream(_) => Reason::HttpError,
        }
    }

    /// Worth another attempt: nothing was generated and the backend may be back in a moment.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            // A refused connection is a server restarting or still starting; a connect that
            // timed out is a host that is off, and each new attempt costs the whole timeout.
            BackendError::Unreachable { timed_out, .. } => !timed_out,
            BackendError::Request(_) => true,
            BackendError::Status { status, .. } => matches!(status, 429 | 502 | 503),
            _ => false,
        }
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            BackendError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

// Wordings seen from llama-swap ("could not find suitable handler"), Ollama ("model \"x\" not
// found, try pulling it first"), vLLM ("The model `x` does not exist") and OpenAI
// ("model_not_found").
fn mentions_missing_model(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("model_not_found")
        || (m.contains("model")
            && (m.contains("not found")
                || m.contains("does not exist")
                || m.contains("could not find")
                || m.contains("unknown model")
                || m.contains("no such model")
                || m.contains("not available")))
}

// What each backend says when a prompt does not fit its window (the engine then reduces the
// context files once and retries, see crate::context):
// - llama.cpp's server: 400 "the request exceeds the available context size, try increasing it"
//   (type `exceed_context_size_error`); verified against its source and the mock tests.
// - llama-cpp-python: 400 "Requested tokens (n) exceed context window of m" (code
//   `context_length_exceeded`), non-streamed only; verified (scripts/backend.sh measured it).
//   Streamed it ends an empty stream instead, which says nothing: the setting
//   LOCAL_LLM_CONTEXT_QUALITY is what keeps prompts in its window.
// - vLLM and OpenAI: "This model's maximum context length is n tokens. However, you requested
//   m tokens …"; from their documentation and issues, not run here.
// - Ollama: "the input length exceeds the context length" (with `truncate: false`; by default
//   its chat endpoint cuts an overlong prompt silently); from its issues, not run here.
// - LM Studio: "… the model is loaded with context length of only n tokens, which is not
//   enough"; from its issues, not run here.
fn mentions_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("context_length_exceeded")
        || m.contains("context size")
        || m.contains("context window")
        || m.contains("context length")
        || m.contains("exceed_context")
        || m.contains("n_ctx")
        || m.contains("too many tokens")
        || m.contains("prompt is too long")
}

/// One HTTP client for the life of the process; connections are pooled across calls.
#[derive(Clone)]
pub(crate) struct Backend {
    http: reqwest::Client,
    base: String,
    root: String,
    api_key: Option<String>,
    basic: Option<(String, Option<String>)>,
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

#[derive(Deserialize)]
struct RunningList {
    #[serde(default)]
    running: Vec<RunningEntry>,
}

#[derive(Deserialize)]
struct RunningEntry {
    model: String,
    #[serde(default)]
    state: String,
}

/// A model llama-swap reports in `/running`, with its state (`ready`, `starting`, ...).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Running {
    pub model: String,
    pub state: String,
}

impl Backend {
    pub(crate) fn new(cfg: &Config) -> anyhow::Result<Backend> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("local-executor-mcp/", env!("CARGO_PKG_VERSION")));
        // A corporate HTTP(S)_PROXY cannot reach this machine's own loopback: a backend on
        // 127.0.0.1 would fail through it.
        if is_loopback(&cfg.base_url) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?;
        Ok(Backend {
            http,
            base: cfg.base_url.clone(),
            root: cfg.root_url().to_string(),
            api_key: cfg.api_key.clone(),
            basic: cfg.base_auth.clone(),
        })
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.api_key, &self.basic) {
            (Some(k), _) => req.bearer_auth(k),
            (None, Some((user, pass))) => req.basic_auth(user, pass.as_ref()),
            (None, None) => req,
        }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.auth(self.http.get(url).timeout(LOOKUP_TIMEOUT))
    }

    /// The model ids of `GET /v1/models`, in the backend's order.
    pub(crate) async fn models(&self) -> Result<Vec<String>, BackendError> {
        let url = format!("{}/models", self.base);
        let resp = self
            .get(&url)
            .send()
            .await
            .map_err(|e| send_error(&url, e))?;
        let body = read_ok_body(resp).await?;
        let list: ModelList = serde_json::from_slice(&body).map_err(|e| {
            BackendError::Stream(format!("{url} did not answer with a model list: {e}"))
        })?;
        Ok(list.data.into_iter().map(|m| m.id).collect())
    }

    /// llama-swap's `GET /running`; `None` when the backend has no such endpoint.
    pub(crate) async fn running(&self) -> Option<Vec<Running>> {
        let url = format!("{}/running", self.root);
        let resp = self.get(&url).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let list: RunningList = resp.json().await.ok()?;
        Some(
            list.running
                .into_iter()
                .map(|r| Running {
                    model: r.model,
                    state: r.state,
                })
                .collect(),
        )
    }

    /// The server root (the base URL without `/v1`), where llama.cpp's `/props`, Ollama's `/api`
    /// and LM Studio's `/api/v0` live.
    pub(crate) fn root_url(&self) -> &str {
        &self.root
    }

    /// A quick JSON look-up (`GET`, or `POST` with `body`): `None` for any failure, since the
    /// callers ask several servers' endpoints and only one of them will answer.
    pub(crate) async fn lookup(
        &self,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Option<serde_json::Value> {
        let req = match body {
            None => self.get(url),
            Some(b) => self.auth(self.http.post(url).timeout(LOOKUP_TIMEOUT).json(b)),
        };
        let resp = req.send().await.ok()?;
        let body = read_ok_body(resp).await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// Sends a streamed chat completion; returns once the response headers are in.
    pub(crate) async fn chat(&self, body: &serde_json::Value) -> Result<ChatStream, BackendError> {
        let url = format!("{}/chat/completions", self.base);
        let resp = self
            .auth(self.http.post(&url).json(body))
            .send()
            .await
            .map_err(|e| send_error(&url, e))?;
        if !resp.status().is_success() {
            return Err(status_error(resp).await);
        }
        let sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| !ct.starts_with("application/json"));
        Ok(ChatStream {
            resp,
            sse,
            parser: SseParser::default(),
            body: Vec::new(),
        })
    }
}

/// A chat completion being received.
pub(crate) struct ChatStream {
    resp: reqwest::Response,
    sse: bool,
    parser: SseParser,
    body: Vec<u8>,
}

impl ChatStream {
    /// An event stream, one event per token; otherwise one JSON body holding the whole answer.
    pub(crate) fn is_event_stream(&self) -> bool {
        self.sse
    }

    /// The events of the next network chunk (`None` for a payload that did not parse), or `None`
    /// at the end of the body. Cancel-safe: the only await is the body read.
    pub(crate) async fn next_chunk(
        &mut self,
    ) -> Result<Option<Vec<Option<StreamEvent>>>, BackendError> {
        let chunk =
            self.resp.chunk().await.map_err(|e| {
                BackendError::Stream(format!("the stream broke: {}", root_cause(&e)))
            })?;
        let mut payloads = Vec::new();
        match chunk {
            Some(bytes) if self.sse => {
                self.parser
                    .push(&bytes, &mut payloads)
                    .map_err(|e| BackendError::Stream(e.to_string()))?;
            }
            Some(bytes) => {
                if self.body.len() + bytes.len() > MAX_BODY_BYTES {
                    return Err(BackendError::Stream(format!(
                        "the response body exceeded {} MiB",
                        MAX_BODY_BYTES / (1024 * 1024)
                    )));
                }
                self.body.extend_from_slice(&bytes);
            }
            None if self.sse => {
                self.parser.finish(&mut payloads);
                if payloads.is_empty() {
                    return Ok(None);
                }
            }
            None if self.body.is_empty() => return Ok(None),
            None => {
                payloads.push(String::from_utf8_lossy(&std::mem::take(&mut self.body)).into_owned())
            }
        }
        Ok(Some(payloads.iter().map(|p| sse::parse_event(p)).collect()))
    }
}

fn send_error(url: &str, e: reqwest::Error) -> BackendError {
    if e.is_connect() {
        let timed_out = e.is_timeout();
        BackendError::Unreachable {
            url: url.to_string(),
            cause: if timed_out {
                "the connection timed out (is the host on?)".to_string()
            } else {
                root_cause(&e)
            },
            timed_out,
        }
    } else {
        BackendError::Request(format!("the request to {url} failed: {}", root_cause(&e)))
    }
}

/// reqwest's own message is "error sending request"; the useful words are at the bottom.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A base URL whose host is this machine.
fn is_loopback(base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

async fn read_ok_body(resp: reqwest::Response) -> Result<Vec<u8>, BackendError> {
    if !resp.status().is_success() {
        return Err(status_error(resp).await);
    }
    read_capped(resp).await
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, BackendError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BackendError::Stream(format!("the body broke: {}", root_cause(&e))))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BackendError::Stream(
                "the response body is too large".into(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn status_error(resp: reqwest::Response) -> BackendError {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)));
    let body = read_capped(resp).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => sse::error_message(&v),
        Err(_) => text.trim().to_string(),
    };
    BackendError::Status {
        status,
        message: crate::failure::one_line(&message, 200),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> BackendError {
        BackendError::Status {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn classifies_backend_wordings() {
        assert_eq!(status(404, "Not Found").reason(), Reason::HttpError);
        assert_eq!(
            status(404, "The model `x` does not exist.").reason(),
            Reason::ModelMissing
        );
        assert_eq!(
            status(400, "could not find suitable handler for model qwen").reason(),
            Reason::ModelMissing
        );
        assert_eq!(
            status(400, "Requested tokens (9000) exceed context window of 2048").reason(),
            Reason::ContextTooLarge
        );
        assert_eq!(
            status(400, "the request exceeds the available context size").reason(),
            Reason::ContextTooLarge
        );
        for overflow in [
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens",
            "the input length exceeds the context length",
            "Trying to keep the first 5133 tokens when context the overflows. However, the model is loaded with context length of only 4096 tokens, which is not enough.",
            r#"{"code": "context_length_exceeded"}"#,
        ] {
            assert_eq!(
                status(400, overflow).reason(),
                Reason::ContextTooLarge,
                "{overflow}"
            );
        }
        assert_eq!(status(500, "boom").reason(), Reason::HttpError);
        assert_eq!(
            BackendError::Reported("model \"x\" not found, try pulling it first".into()).reason(),
            Reason::ModelMissing
        );
    }

    #[test]
    fn retries_only_what_may_pass() {
        assert!(status(503, "loading").retryable());
        assert!(status(429, "slow down").retryable());
        assert!(status(502, "bad gateway").retryable());
        assert!(!status(500, "boom").retryable());
        assert!(!status(404, "nope").retryable());
        assert!(!BackendError::Stream("reset".into()).retryable());
        assert!(BackendError::Request("reset before the headers".into()).retryable());
        let unreachable = |timed_out| BackendError::Unreachable {
            url: "u".into(),
            cause: "c".into(),
            timed_out,
        };
        assert!(unreachable(false).retryable());
        assert!(!unreachable(true).retryable());
    }

    #[test]
    fn knows_loopback_hosts() {
        assert!(is_loopback("http://127.0.0.1:8080/v1"));
        assert!(is_loopback("http://127.9.9.9/v1"));
        assert!(is_loopback("http://localhost:11434/v1"));
        assert!(is_loopback("http://[::1]:8080/v1"));
        assert!(!is_loopback("http://gpu-box:8080/v1"));
        assert!(!is_loopback("http://192.168.1.5:8080/v1"));
    }
}
