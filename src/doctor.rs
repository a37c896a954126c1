//! `doctor`: checks the setup the way the server will use it — the base URL's shape, the backend
//! answering `/v1/models`, the configured models being served, a one-token generation on each
//! tier, llama-swap's `/running`, the usage folder, the workspace — one line a check (`✔`, `✘`
//! with a line on how to fix it, or `–` for what is only information or was skipped). It ends with
//! the `claude mcp add` line for these settings and exits 1 when a check failed. The API key is
//! never printed: every line passes through a filter that masks it, in case a backend echoes it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, BackendError};
use crate::config::{Config, DoctorCmd, Tier};
use crate::delegate::{DelegateRequest, Engine};
use crate::failure::Reason;
use crate::models;
use crate::usage::UsageRecord;

/// The test generation's prompt; one token of any answer proves the model runs.
const TEST_TASK: &str = "Reply with the single word: ok";
/// Served ids named as near matches of a model id the backend does not serve, at most.
const MAX_NEAR_MATCHES: usize = 3;
/// Served ids listed in a fix line, at most.
const MAX_LISTED: usize = 8;
/// Path endings that mark an OpenAI endpoint pasted where the base URL belongs. Not a bare
/// `/chat`: Ollama's native `/api/chat` is no OpenAI base, and `/api/v1` would be a wrong fix.
const ENDPOINTS: [&str; 3] = ["/chat/completions", "/completions", "/models"];
/// Where the usual backends listen by default.
const BACKEND_HINT: &str = "llama-swap and llama-server listen on http://127.0.0.1:8080/v1, \
Ollama on http://127.0.0.1:11434/v1, LM Studio on http://127.0.0.1:1234/v1";

/// Prints the check lines and counts the failures; masks the API key in everything it prints.
struct Report {
    failed: usize,
    secret: Option<String>,
}

impl Report {
    fn line(&self, text: &str) {
        let text = match &self.secret {
            Some(k) => text.replace(k.as_str(), "<api key>"),
            None => text.to_string(),
        };
        println!("{text}");
    }

    fn pass(&mut self, what: impl AsRef<str>) {
        self.line(&format!("✔ {}", what.as_ref()));
    }

    fn fail(&mut self, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.failed += 1;
        self.line(&format!("✘ {}\n  fix: {}", what.as_ref(), fix.as_ref()));
    }

    fn note(&mut self, what: impl AsRef<str>) {
        self.line(&format!("– {}", what.as_ref()));
    }
}

/// What the checks found, for the checks after them and the final `claude mcp add` line.
struct Found {
    /// The model that serves each tier, when it is known and served.
    quality: Option<String>,
    fast: Option<String>,
}

pub async fn run(cfg: Config, cmd: &DoctorCmd) -> ExitCode {
    let mut report = Report {
        failed: 0,
        // A one-character key would mask every such character; no real key is that short.
        secret: cfg.api_key.clone().filter(|k| k.len() >= 4),
    };
    let engine = match Engine::new(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("local-executor-mcp: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cfg = engine.cfg.clone();

    check_url_shape(&cfg, &mut report);
    let mut found = Found {
        quality: None,
        fast: None,
    };
    if let Some(served) = check_backend(&cfg, &engine.backend, &mut report).await {
        found.quality = check_model(&cfg, Tier::Quality, &served, None, &mut report);
        found.fast = check_model(
            &cfg,
            Tier::Fast,
            &served,
            found.quality.as_deref(),
            &mut report,
        );
        if cmd.no_generate {
            report.note("test generation skipped (--no-generate)");
        } else {
            check_generation(&engine, &found, &mut report).await;
        }
        check_llama_swap(&engine.backend, &cfg, &mut report).await;
    } else {
        report
            .note("models, test generation and llama-swap not checked: the backend did not answer");
    }
    check_usage_folder(&cfg.home, &cfg.usage_path(), &mut report);
    check_workspace(&cfg.workspace, cfg.allow_write, &mut report);

    let line = claude_mcp_add(&cfg, &found);
    if report.failed == 0 {
        report.line("\nAll checks passed. Add the server to Claude Code with:");
    } else {
        let n = report.failed;
        let s = if n == 1 { "" } else { "s" };
        report.line(&format!(
            "\n{n} check{s} failed. Once fixed, add the server to Claude Code with:"
        ));
    }
    report.line(&format!("  {line}"));
    if cfg.api_key.is_some() {
        report.line(
            "  (the key is read from $LOCAL_LLM_API_KEY in your shell; doctor never prints it)",
        );
    }
    if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The base URL as the server will use it; a pasted endpoint is caught here, because appending
/// `/v1` to `…/v1/chat/completions` yields a URL that answers nothing.
fn check_url_shape(cfg: &Config, report: &mut Report) {
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
fn pasted_endpoint(raw: &str) -> Option<String> {
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
async fn check_backend(
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
            format!(
                "start the backend, or set LOCAL_LLM_BASE_URL to where it listens; {BACKEND_HINT}"
            ),
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

/// The tier's model: configured and served, or the default the server would pick. An unset fast
/// tier follows what was found for the quality tier.
fn check_model(
    cfg: &Config,
    tier: Tier,
    served: &[String],
    quality: Option<&str>,
    report: &mut Report,
) -> Option<String> {
    let (configured, var) = match tier {
        Tier::Quality => (cfg.model_quality.as_deref(), "LOCAL_LLM_MODEL_QUALITY"),
        Tier::Fast => (cfg.model_fast.as_deref(), "LOCAL_LLM_MODEL_FAST"),
    };
    let name = tier.as_str();
    let Some(model) = configured else {
        if tier == Tier::Fast {
            return match quality {
                Some(q) => {
                    report.pass(format!(
                        "fast model not set: the quality model serves it ({q})"
                    ));
                    Some(q.to_string())
                }
                None => {
                    report.note("fast model not set: it follows the quality model");
                    None
                }
            };
        }
        return match models::first_suitable(served) {
            Some(m) => {
                report.pass(format!(
                    "quality model not set: the first suitable model listed serves it ({m}); {var} pins it"
                ));
                Some(m.clone())
            }
            None if served.is_empty() => {
                report.fail(
                    "the backend lists no models",
                    "load or configure a model in the backend (llama-swap's config, `ollama pull`, …)",
                );
                None
            }
            None => {
                report.fail(
                    "quality model not set, and the backend lists no model suited to code",
                    format!("set {var} to one of: {}", listed(served)),
                );
                None
            }
        };
    };
    if served.iter().any(|s| s == model) {
        match models::unsuited(model) {
            Some(why) => report.pass(format!(
                "{name} model {model} is served (warning: it looks like a {why}, unsuited to code)"
            )),
            None => report.pass(format!("{name} model {model} is served")),
        }
        return Some(model.to_string());
    }
    let near = near_matches(model, served);
    if near.is_empty() {
        report.fail(
            format!("{name} model {model} is not served by the backend"),
            format!("set {var} to one of: {}", listed(served)),
        );
    } else {
        let near: Vec<&str> = near.iter().map(|s| s.as_str()).collect();
        report.fail(
            format!(
                "{name} model {model} is not served; near matches: {}",
                near.join(", ")
            ),
            format!("set {var}={}", near[0]),
        );
    }
    None
}

fn listed(served: &[String]) -> String {
    if served.is_empty() {
        return "(the backend lists none)".into();
    }
    let mut s = served
        .iter()
        .take(MAX_LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if served.len() > MAX_LISTED {
        s.push_str(&format!(", … ({} in all)", served.len()));
    }
    s
}

/// Served ids close to `wanted`: the same once case and separators are ignored, one inside the
/// other, or a few edits apart. Closest first.
fn near_matches<'a>(wanted: &str, served: &'a [String]) -> Vec<&'a String> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let w = squash(wanted);
    if w.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(usize, &String)> = served
        .iter()
        .filter_map(|s| {
            let c = squash(s);
            let d = edit_distance(&w, &c);
            let close = d <= 3 || (!c.is_empty() && (c.contains(&w) || w.contains(&c)));
            close.then_some((d, s))
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(MAX_NEAR_MATCHES)
        .map(|(_, s)| s)
        .collect()
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One token on each tier's model (once when both tiers share it), through the same path a
/// delegation takes. Nothing is written to usage.jsonl: a check is not a delegation.
async fn check_generation(engine: &Engine, found: &Found, report: &mut Report) {
    let mut tiers: Vec<(String, Tier, &str)> = Vec::new();
    for (tier, model) in [(Tier::Quality, &found.quality), (Tier::Fast, &found.fast)] {
        let Some(model) = model.as_deref() else {
            report.note(format!(
                "test generation on {} skipped: its model is not served",
                tier.as_str()
            ));
            continue;
        };
        match tiers.iter_mut().find(|(_, _, m)| *m == model) {
            Some((label, _, _)) => label.push_str(&format!(" and {}", tier.as_str())),
            None => tiers.push((tier.as_str().to_string(), tier, model)),
        }
    }
    for (label, tier, model) in tiers {
        let req = DelegateRequest {
            task: TEST_TASK.into(),
            tier,
            max_tokens: Some(1),
            ..DelegateRequest::default()
        };
        let mut record = UsageRecord::new("doctor");
        let result = engine
            .delegate(&req, None, &CancellationToken::new(), &mut record)
            .await;
        let model = record.model.clone().unwrap_or_else(|| model.to_string());
        // One token of budget ends in finish_reason `length`: the model ran, which is the point.
        match result {
            Err(f) if f.reason != Reason::Truncated => {
                report.fail(
                    format!(
                        "test generation on {label} ({model}): {}",
                        f.to_string().lines().next().unwrap_or_default()
                    ),
                    if f.detail.starts_with("HTTP 429") {
                        "the backend, or a gateway in front of it, is rate-limiting: raise its limit \
                         for this key and model, or try again later"
                            .into()
                    } else {
                        generation_fix(f.reason, engine)
                    },
                );
            }
            _ => {
                report.pass(format!(
                    "test generation on {label} ({model}): answered in {}",
                    elapsed(record.latency_ms)
                ));
            }
        }
    }
}

fn generation_fix(reason: Reason, engine: &Engine) -> String {
    let cfg = &engine.cfg;
    match reason {
        Reason::Timeout => format!(
            "the model did not answer in time; a first load can take minutes: load it first, or raise \
             LOCAL_LLM_FIRST_TOKEN_TIMEOUT (now {} s)",
            cfg.first_token_timeout.as_secs_f64()
        ),
        Reason::Unreachable => "the backend stopped answering during the test; check that it stays up".into(),
        Reason::ModelMissing => {
            "the backend lists the model but would not run it; check the backend's log and its model config".into()
        }
        Reason::ContextTooLarge => {
            "the model's context is too small for even a short prompt; raise its context size (llama.cpp: -c)".into()
        }
        Reason::Empty => "the model returned no text; try another model for this tier".into(),
        _ => "check the backend's log for this request".into(),
    }
}

/// Milliseconds under a second, where a loaded model answers; seconds above, where a load is.
fn elapsed(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// llama-swap's `GET /running`: information only, other backends have no such endpoint.
async fn check_llama_swap(backend: &Backend, cfg: &Config, report: &mut Report) {
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

/// The folder takes a new file, and an existing usage.jsonl opens for appending. Nothing is
/// written to the log itself.
fn check_usage_folder(home: &Path, usage: &Path, report: &mut Report) {
    let result = std::fs::create_dir_all(home)
        .map_err(|e| format!("cannot create {}: {e}", home.display()))
        .and_then(|_| {
            tempfile::Builder::new()
                .prefix(".doctor-")
                .tempfile_in(home)
                .map_err(|e| format!("cannot create a file in {}: {e}", home.display()))
        })
        .and_then(
            |_| match std::fs::OpenOptions::new().append(true).open(usage) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot append to {}: {e}", usage.display())),
            },
        );
    match result {
        Ok(()) => report.pass(format!("usage log {} is writable", usage.display())),
        Err(e) => report.fail(
            format!("usage log not writable: {e}"),
            "set LOCAL_EXECUTOR_HOME to a folder you can write to",
        ),
    }
}

fn check_workspace(workspace: &Path, allow_write: bool, report: &mut Report) {
    if !workspace.is_dir() {
        report.fail(
            format!("workspace {} is not a folder", workspace.display()),
            "set LOCAL_EXECUTOR_WORKSPACE to the project folder (Claude Code sets CLAUDE_PROJECT_DIR)",
        );
        return;
    }
    if !allow_write {
        report.pass(format!(
            "workspace {}; writing files (output_path) is off, LOCAL_EXECUTOR_ALLOW_WRITE=1 turns it on",
            workspace.display()
        ));
        return;
    }
    match tempfile::Builder::new()
        .prefix(".local-executor-doctor-")
        .tempfile_in(workspace)
    {
        Ok(_) => report.pass(format!(
            "workspace {}; writing files (output_path) is on, inside it only",
            workspace.display()
        )),
        Err(e) => report.fail(
            format!(
                "workspace {}: writing is on but the folder is not writable: {e}",
                workspace.display()
            ),
            "make the workspace writable, or leave LOCAL_EXECUTOR_ALLOW_WRITE unset",
        ),
    }
}

/// `claude mcp add` for these settings: the base URL (its fix, for a pasted endpoint) and the
/// models as found, a reference to the key rather than its value, and the binary by name when it is on PATH, else by its full path.
fn claude_mcp_add(cfg: &Config, found: &Found) -> String {
    let base = pasted_endpoint(&cfg.base_url_raw).unwrap_or_else(|| cfg.base_url.clone());
    let mut env: Vec<String> = vec![format!("LOCAL_LLM_BASE_URL={base}")];
    let quality = cfg.model_quality.clone().or_else(|| found.quality.clone());
    if let Some(q) = &quality {
        env.push(format!("LOCAL_LLM_MODEL_QUALITY={q}"));
    }
    if let Some(f) = &cfg.model_fast {
        env.push(format!("LOCAL_LLM_MODEL_FAST={f}"));
    }
    if cfg.allow_write {
        env.push("LOCAL_EXECUTOR_ALLOW_WRITE=1".into());
    }
    let mut line = String::from("claude mcp add local-executor");
    for e in &env {
        line.push_str(" --env ");
        line.push_str(&shell_quote(e));
    }
    if cfg.api_key.is_some() {
        line.push_str(" --env \"LOCAL_LLM_API_KEY=$LOCAL_LLM_API_KEY\"");
    }
    line.push_str(" -- ");
    line.push_str(&shell_quote(&command_name()));
    line
}

const BIN_NAME: &str = "local-executor-mcp";

fn command_name() -> String {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|dir| dir.join(BIN_NAME).is_file()))
        .unwrap_or(false);
    if on_path {
        return BIN_NAME.into();
    }
    std::env::current_exe()
        .ok()
        .map(PathBuf::into_os_string)
        .and_then(|p| p.into_string().ok())
        .unwrap_or_else(|| BIN_NAME.into())
}

/// Single quotes for anything a POSIX shell would read differently.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
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

    #[test]
    fn near_matches_ignore_case_separators_and_small_typos() {
        let served: Vec<String> = ["qwen3-coder-30b", "gemma-3-270m", "smollm2-135m"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            near_matches("Qwen3-Coder", &served),
            vec!["qwen3-coder-30b"]
        );
        assert_eq!(
            near_matches("qwen3_coder_30b", &served),
            vec!["qwen3-coder-30b"]
        );
        assert_eq!(near_matches("smolm2-135m", &served), vec!["smollm2-135m"]);
        assert_eq!(near_matches("gemma3:270m", &served), vec!["gemma-3-270m"]);
        assert!(near_matches("llama-3.1-70b", &served).is_empty());
        assert!(near_matches("--", &served).is_empty());
    }

    #[test]
    fn short_waits_print_in_milliseconds() {
        assert_eq!(elapsed(42), "42 ms");
        assert_eq!(elapsed(6_449), "6.4 s");
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn quotes_only_what_the_shell_would_misread() {
        assert_eq!(
            shell_quote("LOCAL_LLM_BASE_URL=http://127.0.0.1:8080/v1"),
            "LOCAL_LLM_BASE_URL=http://127.0.0.1:8080/v1"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("/opt/my tools/x"), "'/opt/my tools/x'");
    }
}
