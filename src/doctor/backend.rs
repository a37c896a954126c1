//! The checks of the backend: the base URL's shape, the backend answering `/v1/models`, and
//! llama-swap's `/running`.

use super::Report;
use crate::backend::{Backend, BackendError};
use crate::config::Config;

/// Path endings that mark an OpenAI endpoint pasted where the base URL belongs. Not a bare
/// `/chat`: Ollama's native `/api/chat` is no OpenAI base, and `/api/v1` would be a wrong fix.
const ENDPOINTS: [&str; 3] = ["/chat/completions", "/completions", "/models"];
/// Where the usual backends listen by default.
const BACKEND_HINT: &str = "llama-swap and llama-server listen on http://127.0.0.1:8080/v1, \
Ollama on http://127.0.0.1:11434/v1, LM Studio on http://127.0.0.1:1234/v1";

/// This project's own start command for the demo's backend (llama-cpp-python on loopback).
const DEMO_START: &str = "scripts/backend.sh start";

/// Whether the URL's host is this machine, where the demo's backend listens.
fn is_loopback(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The base URL as the server will use it; a pasted endpoint is caught here, because appending
/// `/v1` to `…/v1/chat/completions` yields a URL that answers nothing.
pub(super) fn check_url_shape(cfg: &Config, report: &mut Report) {
    let raw = cfg.base_url_raw.trim_end_matches('/');
    if let Some(base) = pasted_endpoint(raw) {
        report.fail(
            format!("base URL {raw} is an endpoint, not the base"),
            format!("set LOCAL_LLM_BASE_URL={base}"),
        );
    } else if raw == cfg.base_url {
        report.pass(format!("base URL {}", cfg.base_url));
    } else if raw.ends_with("/v1") {
        report.pass(format!("base URL {} (given as {raw})", cfg.base_url));
    } else {
        report.pass(format!(
            "base URL {} (given as {raw}; /v1 was added)",
            cfg.base_url
        ));
    }
}

/// The base a pasted endpoint URL should have been: `…/v1/chat/completions` -> `…/v1`.
pub(super) fn pasted_endpoint(raw: &str) -> Option<String> {
    let raw = raw.trim_end_matches('/');
    let end = ENDPOINTS.iter().find(|e| raw.ends_with(*e))?;
    let base = raw.strip_suffix(end)?.trim_end_matches('/');
    let base = if base.ends_with("/v1") {
        base.to_string()
    } else {
        format!("{base}/v1")
    };
    // What is left must still be a URL with a host: `http://h/models` is, `http:/models` is not.
    reqwest::Url::parse(&base).ok()?.host()?;
    Some(base)
}

/// `GET /v1/models`; the list when the backend answered with one.
pub(super) async fn check_backend(
    cfg: &Config,
    backend: &Backend,
    report: &mut Report,
) -> Option<Vec<String>> {
    let base = &cfg.base_url;
    let err = match backend.models().await {
        Ok(list) => {
            let n = list.len();
            let s = if n == 1 { "" } else { "s" };
            report.pass(format!("backend answers GET {base}/models: {n} model{s}"));
            return Some(list);
        }
        Err(e) => e,
    };
    match &err {
        BackendError::Unreachable { cause, .. } => report.fail(
            format!("backend at {base} does not answer: {cause}"),
            if is_loopback(base) {
                format!(
                    "start the backend: the demo's, from a checkout of local-executor-mcp, with \
`{DEMO_START}` (it listens on http://127.0.0.1:8091/v1 and prints the settings to export); or yours, or set LOCAL_LLM_BASE_URL to where it \
listens; {BACKEND_HINT}"
                )
            } else {
                format!(
                    "start the backend, or set LOCAL_LLM_BASE_URL to where it listens; {BACKEND_HINT}"
                )
            },
        ),
        // LiteLLM's proxy without a database answers any key but its master key with HTTP 400
        // "No connected db." (it would look the key up there).
        BackendError::Status {
            status: code,
            message,
            ..
        } if matches!(code, 401 | 403) || (*code == 400 && message.contains("No connected db")) => {
            let fix = if cfg.api_key.is_some() {
                "the backend refuses LOCAL_LLM_API_KEY: check its value"
            } else {
                "the backend wants a key: set LOCAL_LLM_API_KEY"
            };
            report.fail(
                format!("GET {base}/models answered HTTP {code}: {message}"),
                fix,
            );
        }
        BackendError::Status { status: 404, .. } => {
            let root = cfg.root_url();
            match without_v1(cfg).await {
                Some(n) => report.fail(
                    format!(
                        "GET {base}/models is not found, but {root}/models lists {n} models: \
                         this server serves the API without /v1"
                    ),
                    "local-executor-mcp always calls <base>/v1/…; serve the API under a path \
                     ending in /v1, or put a proxy that does (LiteLLM, llama-swap) in front",
                ),
                None => report.fail(
                    format!(
                        "GET {base}/models is not found (HTTP 404): no OpenAI-compatible API here"
                    ),
                    format!("set LOCAL_LLM_BASE_URL to the server's OpenAI-compatible base; {BACKEND_HINT}"),
                ),
            }
        }
        BackendError::Status {
            status, message, ..
        } => report.fail(
            format!("GET {base}/models answered HTTP {status}: {message}"),
            "check the backend's log; it is up but failed the request",
        ),
        BackendError::Request(m) | BackendError::Stream(m) | BackendError::Reported(m) => report
            .fail(
                m.clone(),
                format!(
                    "check that LOCAL_LLM_BASE_URL is an OpenAI-compatible API; {BACKEND_HINT}"
                ),
            ),
    }
    None
}

/// How many models `<root>/models` lists, when the server answers there (no `/v1` prefix).
async fn without_v1(cfg: &Config) -> Option<usize> {
    let mut root = cfg.clone();
    root.base_url = cfg.root_url().to_string();
    let backend = Backend::new(&root).ok()?;
    backend.models().await.ok().map(|l| l.len())
}

/// llama-swap's `GET /running`: information only, other backends have no such endpoint.
pub(super) async fn check_llama_swap(backend: &Backend, cfg: &Config, report: &mut Report) {
    let root = cfg.root_url();
    match backend.running().await {
        Some(running) if running.is_empty() => report.pass(format!(
            "llama-swap detected at {root}/running: no model loaded"
        )),
        Some(running) => {
            let loaded: Vec<String> = running
                .iter()
                .map(|r| {
                    if r.state.is_empty() {
                        r.model.clone()
                    } else {
                        format!("{} ({})", r.model, r.state)
                    }
                })
                .collect();
            report.pass(format!(
                "llama-swap detected at {root}/running: {}",
                loaded.join(", ")
            ));
        }
        None => report.note(format!(
            "llama-swap not detected (no {root}/running); fine for other backends"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spots_an_endpoint_pasted_as_the_base() {
        assert_eq!(
            pasted_endpoint("http://h:8080/v1/chat/completions").as_deref(),
            Some("http://h:8080/v1")
        );
        assert_eq!(
            pasted_endpoint("http://h:11434/v1/models/").as_deref(),
            Some("http://h:11434/v1")
        );
        assert_eq!(
            pasted_endpoint("http://h:8080/completions").as_deref(),
            Some("http://h:8080/v1")
        );
        assert_eq!(pasted_endpoint("http://h:8080/v1"), None);
        assert_eq!(pasted_endpoint("http://h:8080"), None);
        assert_eq!(pasted_endpoint("http://h:11434/api/chat"), None);
    }
}
