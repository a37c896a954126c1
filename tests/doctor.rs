//! `doctor` against the mock backend in each broken setup it must diagnose: the real binary, a
//! hermetic environment, the exact stdout and exit code (only the latency figures of a test
//! generation vary, and those lines are checked up to them).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;

use common::{Mock, Reply, Step, bin};
use serde_json::json;

const QUALITY: &str = "qwen3-coder-30b";
const FAST: &str = "smollm2-135m";

/// Runs `doctor` with a hermetic environment: temp home (the server's and the user's, where
/// Claude Code keeps its settings) and workspace, and a PATH that holds no `local-executor-mcp`,
/// so the `claude mcp add` line names the binary by its full path.
struct Doctor {
    home: tempfile::TempDir,
    workspace: tempfile::TempDir,
    empty_path: tempfile::TempDir,
    user_home: tempfile::TempDir,
}

impl Doctor {
    fn new() -> Doctor {
        Doctor {
            home: tempfile::tempdir().unwrap(),
            workspace: tempfile::tempdir().unwrap(),
            empty_path: tempfile::tempdir().unwrap(),
            user_home: tempfile::tempdir().unwrap(),
        }
    }

    async fn run(&self, base_url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.env_clear()
            .env("PATH", self.empty_path.path())
            .env("HOME", self.user_home.path())
            .env("LOCAL_LLM_BASE_URL", base_url)
            .env("LOCAL_EXECUTOR_HOME", self.home.path())
            .env("LOCAL_EXECUTOR_WORKSPACE", self.workspace.path())
            .env("LOCAL_EXECUTOR_LOG", "off")
            .env("LOCAL_LLM_CONNECT_TIMEOUT", "2")
            .env("LOCAL_LLM_FIRST_TOKEN_TIMEOUT", "10")
            .env("LOCAL_LLM_TIMEOUT", "20")
            .arg("doctor")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().await.unwrap()
    }

    fn usage(&self) -> String {
        self.home.path().join("usage.jsonl").display().to_string()
    }

    fn ws(&self) -> String {
        self.workspace.path().display().to_string()
    }
}

/// `head`, the lines every run in this harness ends its checks with, and `tail`.
fn with_client_lines(head: Vec<String>, tail: Vec<String>) -> Vec<String> {
    [head, path_and_permission_lines(), tail].concat()
}

/// The lines every run in this harness ends its checks with: the binary is not on its PATH, and
/// no Claude Code settings grant the tools.
fn path_and_permission_lines() -> Vec<String> {
    vec![
        "– local-executor-mcp is not on PATH: a project's .mcp.json (as `init` writes it) and the Claude Code plugin start it by that name, and fail without it".into(),
        format!(
            "  fix: cargo install --locked --path {} (builds it again in release mode, a few minutes)",
            env!("CARGO_MANIFEST_DIR")
        ),
        ASKS_ALL.into(),
        ASKS_ALL_FIX.into(),
    ]
}

const ASKS_ALL: &str = "– Claude Code asks before each call of delegate_code, delegate_files, list_local_models (headless, `claude -p` refuses it): no permissions.allow rule covers it";
const ASKS_ALL_FIX: &str = "  fix: run `local-executor-mcp init` in the project (it adds the rules to .claude/settings.json), or add \"mcp__local-executor__delegate_code\", \"mcp__local-executor__delegate_files\", \"mcp__local-executor__list_local_models\" to permissions.allow there";

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn models_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LOCAL_LLM_MODEL_QUALITY", QUALITY),
        ("LOCAL_LLM_MODEL_FAST", FAST),
    ]
}

/// The root of a mock URL (`http://127.0.0.1:PORT`).
fn root(url: &str) -> &str {
    url.strip_suffix("/v1").unwrap()
}

/// Asserts the lines of `out`, where an expected line ending in `*` matches any line it starts.
fn assert_lines(out: &str, expected: &[String]) {
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), expected.len(), "{out}");
    for (g, e) in got.iter().zip(expected) {
        match e.strip_suffix('*') {
            Some(prefix) => assert!(g.starts_with(prefix), "{g:?} !~ {e:?}\n{out}"),
            None => assert_eq!(g, e, "\n{out}"),
        }
    }
}

/// A backend that answers fixed routes: `(path, status, body)`, 404 for the rest.
fn route_server(routes: Vec<(&'static str, u16, String)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf);
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let (status, body) = routes
                .iter()
                .find(|(p, _, _)| *p == path)
                .map(|(_, s, b)| (*s, b.clone()))
                .unwrap_or((404, "{\"error\":\"not found\"}".into()));
            let _ = write!(
                sock,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn model_list(ids: &[&str]) -> String {
    let data: Vec<_> = ids.iter().map(|id| json!({"id": id})).collect();
    json!({"object": "list", "data": data}).to_string()
}

#[tokio::test]
async fn doctor_passes_a_working_setup_and_prints_the_claude_mcp_add_line() {
    let mock = Mock::start(&[QUALITY, FAST]).await;
    let d = Doctor::new();
    let out = d.run(&mock.url, &[], &models_env()).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let root = root(&mock.url);
    assert_lines(
        &stdout(&out),
        &with_client_lines(
            vec![
                format!("✔ base URL {}", mock.url),
                format!("✔ backend answers GET {}/models: 2 models", mock.url),
                format!("✔ quality model {QUALITY} is served"),
                format!("✔ fast model {FAST} is served"),
                format!("✔ test generation on quality ({QUALITY}): answered in *"),
                format!("✔ test generation on fast ({FAST}): answered in *"),
                "– context window: *".into(),
                format!("– llama-swap not detected (no {root}/running); fine for other backends"),
                format!("✔ usage log {} is writable", d.usage()),
                format!(
                    "✔ workspace {}; writing files (delegate_files) is off, LOCAL_EXECUTOR_ALLOW_WRITE=1 turns it on",
                    d.ws()
                ),
            ],
            vec![
                String::new(),
                "All checks passed. Add the server to Claude Code with:".into(),
                format!(
                    "  claude mcp add local-executor --env LOCAL_LLM_BASE_URL={} --env LOCAL_LLM_MODEL_QUALITY={QUALITY} --env LOCAL_LLM_MODEL_FAST={FAST} --env LOCAL_EXECUTOR_ALLOW_WRITE=1 -- {}",
                    mock.url,
                    bin()
                ),
            ],
        ),
    );
    // One token on each tier's model, and nothing written to the usage log.
    let chats = mock.chats();
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0].body["model"], QUALITY);
    assert_eq!(chats[1].body["model"], FAST);
    assert!(chats.iter().all(|c| c.body["max_tokens"] == 1));
    assert!(!d.home.path().join("usage.jsonl").exists());
}

#[tokio::test]
async fn doctor_adds_v1_detects_llama_swap_and_skips_generation_when_asked() {
    let mock = Mock::start(&[QUALITY, "qwen2.5-vl-7b"]).await;
    mock.running(json!({"running": [{"model": QUALITY, "state": "ready"}]}));
    let d = Doctor::new();
    let root = root(&mock.url);
    let out = d
        .run(
            root,
            &["--no-generate"],
            &[
                ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
                ("LOCAL_LLM_MODEL_FAST", "qwen2.5-vl-7b"),
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let expected = format!(
        "✔ base URL {url} (given as {root}; /v1 was added)
✔ backend answers GET {url}/models: 2 models
✔ quality model not set: the first suitable model listed serves it ({QUALITY}); LOCAL_LLM_MODEL_QUALITY pins it
✔ fast model qwen2.5-vl-7b is served (warning: it looks like a vision model, unsuited to code)
– test generation skipped (--no-generate)
– context window: quality ({QUALITY}) 4096 tokens (default; set LOCAL_LLM_CONTEXT_QUALITY) · fast (qwen2.5-vl-7b) 4096 tokens (default; set LOCAL_LLM_CONTEXT_FAST)
✔ llama-swap detected at {root}/running: {QUALITY} (ready)
✔ usage log {usage} is writable
✔ workspace {ws}; writing files (delegate_files) is on, inside it only
{client}
All checks passed. Add the server to Claude Code with:
  claude mcp add local-executor --env LOCAL_LLM_BASE_URL={url} --env LOCAL_LLM_MODEL_QUALITY={QUALITY} --env LOCAL_LLM_MODEL_FAST=qwen2.5-vl-7b --env LOCAL_EXECUTOR_ALLOW_WRITE=1 -- {bin}
",
        url = mock.url,
        usage = d.usage(),
        ws = d.ws(),
        bin = bin(),
        client = path_and_permission_lines()
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    assert_eq!(stdout(&out), expected);
    assert!(mock.chats().is_empty());
    // The check leaves no file behind in the home or the workspace.
    assert_eq!(std::fs::read_dir(d.home.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(d.workspace.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn doctor_fails_when_the_backend_is_not_up() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let d = Doctor::new();
    let out = d.run(&url, &[], &models_env()).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_lines(
        &stdout(&out),
        &with_client_lines(
            vec![
                format!("✔ base URL {url}"),
                format!("✘ backend at {url} does not answer: *"),
                // On this machine, this project's own start command comes before other products' ports.
                "  fix: start the backend: the demo's, from a checkout of local-executor-mcp, with `scripts/backend.sh start` (it listens on http://127.0.0.1:8091/v1 and prints the settings to export); or yours, or set LOCAL_LLM_BASE_URL to where it listens; llama-swap and llama-server listen on http://127.0.0.1:8080/v1, Ollama on http://127.0.0.1:11434/v1, LM Studio on http://127.0.0.1:1234/v1".into(),
                "– models, test generation and llama-swap not checked: the backend did not answer".into(),
                format!("✔ usage log {} is writable", d.usage()),
                "✔ workspace *".into(),
            ],
            vec![
                String::new(),
                "1 check failed. Once fixed, add the server to Claude Code with:".into(),
                format!(
                    "  claude mcp add local-executor --env LOCAL_LLM_BASE_URL={url} --env LOCAL_LLM_MODEL_QUALITY={QUALITY} --env LOCAL_LLM_MODEL_FAST={FAST} --env LOCAL_EXECUTOR_ALLOW_WRITE=1 -- {}",
                    bin()
                ),
            ],
        ),
    );
}

#[tokio::test]
async fn doctor_names_near_matches_for_a_model_the_backend_does_not_serve() {
    let mock = Mock::start(&[QUALITY, "gemma-3-270m", FAST]).await;
    let d = Doctor::new();
    let out = d
        .run(
            &mock.url,
            &[],
            &[
                ("LOCAL_LLM_MODEL_QUALITY", "Qwen3-Coder"),
                ("LOCAL_LLM_MODEL_FAST", "llama-3.1-8b"),
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_lines(
        &stdout(&out),
        &with_client_lines(
            vec![
                format!("✔ base URL {}", mock.url),
                format!("✔ backend answers GET {}/models: 3 models", mock.url),
                format!("✘ quality model Qwen3-Coder is not served; near matches: {QUALITY}"),
                format!("  fix: set LOCAL_LLM_MODEL_QUALITY={QUALITY}"),
                "✘ fast model llama-3.1-8b is not served by the backend".into(),
                format!(
                    "  fix: set LOCAL_LLM_MODEL_FAST to one of: {QUALITY}, gemma-3-270m, {FAST}"
                ),
                "– test generation on quality skipped: its model is not served".into(),
                "– test generation on fast skipped: its model is not served".into(),
                "– llama-swap not detected*".into(),
                "✔ usage log*".into(),
                "✔ workspace*".into(),
            ],
            vec![
                String::new(),
                "2 checks failed. Once fixed, add the server to Claude Code with:".into(),
                "  claude mcp add local-executor*".into(),
            ],
        ),
    );
    assert!(mock.chats().is_empty());
}

#[tokio::test]
async fn doctor_says_when_the_server_answers_without_v1() {
    let url = route_server(vec![("/models", 200, model_list(&[QUALITY]))]);
    let d = Doctor::new();
    let out = d.run(&url, &[], &models_env()).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_lines(
        &stdout(&out),
        &with_client_lines(
            vec![
                format!("✔ base URL {url}/v1 (given as {url}; /v1 was added)"),
                format!(
                    "✘ GET {url}/v1/models is not found, but {url}/models lists 1 models: this server serves the API without /v1"
                ),
                "  fix: local-executor-mcp always calls <base>/v1/…; serve the API under a path ending in /v1, or put a proxy that does (LiteLLM, llama-swap) in front".into(),
                "– models, test generation and llama-swap not checked: the backend did not answer".into(),
                "✔ usage log*".into(),
                "✔ workspace*".into(),
            ],
            vec![
                String::new(),
                "1 check failed. Once fixed, add the server to Claude Code with:".into(),
                "  claude mcp add local-executor*".into(),
            ],
        ),
    );
}

#[tokio::test]
async fn doctor_says_when_nothing_openai_compatible_answers() {
    let url = route_server(vec![]);
    let d = Doctor::new();
    let out = d.run(&format!("{url}/v1"), &["--no-generate"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✘ GET {url}/v1/models is not found (HTTP 404): no OpenAI-compatible API here\n  fix: set LOCAL_LLM_BASE_URL to the server's OpenAI-compatible base; "
        )),
        "{text}"
    );
}

#[tokio::test]
async fn doctor_flags_an_endpoint_pasted_as_the_base_url() {
    let mock = Mock::start(&[QUALITY]).await;
    let d = Doctor::new();
    let pasted = format!("{}/chat/completions", mock.url);
    let out = d.run(&pasted, &["--no-generate"], &models_env()[..1]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!("✘ base URL {pasted} is an endpoint, not the base"),
            format!("  fix: set LOCAL_LLM_BASE_URL={}", mock.url),
        ]
    );
    // The suggested line carries the fixed base URL.
    assert_eq!(
        lines.last().unwrap().to_string(),
        format!(
            "  claude mcp add local-executor --env LOCAL_LLM_BASE_URL={} --env LOCAL_LLM_MODEL_QUALITY={QUALITY} --env LOCAL_EXECUTOR_ALLOW_WRITE=1 -- {}",
            mock.url,
            bin()
        )
    );
}

#[tokio::test]
async fn doctor_counts_a_one_token_truncation_as_a_working_model() {
    let mock = Mock::start(&[QUALITY]).await;
    mock.always(Reply::tokens(&["o"], "length"));
    let d = Doctor::new();
    let out = d
        .run(&mock.url, &[], &[("LOCAL_LLM_MODEL_QUALITY", QUALITY)])
        .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✔ fast model not set: the quality model serves it ({QUALITY})\n✔ test generation on quality and fast ({QUALITY}): answered in "
        )),
        "{text}"
    );
    // Both tiers share the model: one generation.
    assert_eq!(mock.chats().len(), 1);
}

#[tokio::test]
async fn doctor_reports_a_failed_test_generation() {
    let mock = Mock::start(&[QUALITY, FAST]).await;
    mock.push(Reply::text("ok"));
    mock.push(Reply::status(
        500,
        r#"{"error":{"message":"failed to load model"}}"#,
    ));
    let d = Doctor::new();
    let out = d.run(&mock.url, &[], &models_env()).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✘ test generation on fast ({FAST}): DELEGATION_FAILED (http_error): HTTP 500 from the backend: failed to load model\n  fix: check the backend's log for this request\n"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "✔ test generation on quality ({QUALITY}): answered in "
    )));
}

#[tokio::test]
async fn doctor_reports_an_unwritable_usage_folder_and_a_missing_workspace() {
    let mock = Mock::start(&[QUALITY]).await;
    let d = Doctor::new();
    // A folder under a regular file cannot be created, whoever runs the test.
    let blocker = d.home.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let home = blocker.join("home");
    let workspace = d.workspace.path().join("gone");
    let out = d
        .run(
            &mock.url,
            &["--no-generate"],
            &[
                ("LOCAL_EXECUTOR_HOME", home.to_str().unwrap()),
                ("LOCAL_EXECUTOR_WORKSPACE", workspace.to_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✘ usage log not writable: cannot create {}: ",
            home.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("\n  fix: set LOCAL_EXECUTOR_HOME to a folder you can write to\n"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "✘ workspace {} is not a folder\n  fix: set LOCAL_EXECUTOR_WORKSPACE to the project folder (Claude Code sets CLAUDE_PROJECT_DIR)\n",
        workspace.display()
    )));
    assert!(text.contains("\n2 checks failed."), "{text}");
}

#[tokio::test]
async fn doctor_never_prints_the_api_key() {
    const KEY: &str = "sk-local-7f3a9c";
    // A backend that refuses the key and, carelessly, echoes it.
    let url = route_server(vec![(
        "/v1/models",
        401,
        json!({"error": {"message": format!("invalid api key {KEY}")}}).to_string(),
    )]);
    let d = Doctor::new();
    let out = d
        .run(
            &format!("{url}/v1"),
            &[],
            &[
                ("LOCAL_LLM_API_KEY", KEY),
                ("LOCAL_LLM_MODEL_QUALITY", QUALITY),
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(!text.contains(KEY), "{text}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(KEY));
    assert!(
        text.contains(&format!(
            "✘ GET {url}/v1/models answered HTTP 401: invalid api key <api key>\n  fix: the backend refuses LOCAL_LLM_API_KEY: check its value\n"
        )),
        "{text}"
    );
    assert!(text.ends_with(&format!(
        "  claude mcp add local-executor --env LOCAL_LLM_BASE_URL={url}/v1 --env LOCAL_LLM_MODEL_QUALITY={QUALITY} --env LOCAL_EXECUTOR_ALLOW_WRITE=1 --env \"LOCAL_LLM_API_KEY=$LOCAL_LLM_API_KEY\" -- {}\n  (the key is read from $LOCAL_LLM_API_KEY in your shell; doctor never prints it)\n",
        bin()
    )));
}

#[tokio::test]
async fn doctor_names_the_binary_bare_when_it_is_on_path() {
    let mock = Mock::start(&[QUALITY]).await;
    let d = Doctor::new();
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::write(bin_dir.path().join("local-executor-mcp"), "").unwrap();
    let out = d
        .run(
            &mock.url,
            &["--no-generate"],
            &[("PATH", bin_dir.path().to_str().unwrap())],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).ends_with(&format!(
        "  claude mcp add local-executor --env LOCAL_LLM_BASE_URL={} --env LOCAL_LLM_MODEL_QUALITY={QUALITY} --env LOCAL_EXECUTOR_ALLOW_WRITE=1 -- local-executor-mcp\n",
        mock.url
    )));
}

#[tokio::test]
async fn doctor_accepts_an_ollama_id_without_its_latest_tag_as_the_server_does() {
    // Ollama lists `name:latest` and answers to plain `name`; the server's pre-check accepts it.
    let mock = Mock::start(&["qwen2.5-coder:latest", "gemma3:latest"]).await;
    let d = Doctor::new();
    let out = d
        .run(
            &mock.url,
            &[],
            &[
                ("LOCAL_LLM_MODEL_QUALITY", "qwen2.5-coder"),
                ("LOCAL_LLM_MODEL_FAST", "gemma3:latest"),
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_lines(
        &stdout(&out),
        &with_client_lines(
            vec![
                format!("✔ base URL {}", mock.url),
                format!("✔ backend answers GET {}/models: 2 models", mock.url),
                "✔ quality model qwen2.5-coder is served".into(),
                "✔ fast model gemma3:latest is served".into(),
                "✔ test generation on quality (qwen2.5-coder): answered in *".into(),
                "✔ test generation on fast (gemma3:latest): answered in *".into(),
                "– context window: *".into(),
                "– llama-swap not detected*".into(),
                "✔ usage log*".into(),
                "✔ workspace*".into(),
            ],
            vec![
                String::new(),
                "All checks passed. Add the server to Claude Code with:".into(),
                format!(
                    "  claude mcp add local-executor --env LOCAL_LLM_BASE_URL={} --env LOCAL_LLM_MODEL_QUALITY=qwen2.5-coder --env LOCAL_LLM_MODEL_FAST=gemma3:latest --env LOCAL_EXECUTOR_ALLOW_WRITE=1 -- {}",
                    mock.url,
                    bin()
                ),
            ],
        ),
    );
    // The test generation reached the backend under the id as configured.
    let chats = mock.chats();
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0].body["model"], "qwen2.5-coder");
    // The other direction is no match for the server either: `name:latest` is not `name`.
    let mock = Mock::start(&["qwen2.5-coder"]).await;
    let out = d
        .run(
            &mock.url,
            &["--no-generate"],
            &[("LOCAL_LLM_MODEL_QUALITY", "qwen2.5-coder:latest")],
        )
        .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out).contains(
            "✘ quality model qwen2.5-coder:latest is not served; near matches: qwen2.5-coder\n"
        ),
        "{}",
        stdout(&out)
    );
}

/// `doctor --no-generate` with exactly this environment (nothing inherited), from `cwd`.
async fn doctor_with(
    cwd: &std::path::Path,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> String {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.env_clear().current_dir(cwd).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    stdout(&out)
}

/// The part of `line` after `prefix`, for the one output line that starts with it.
fn after<'a>(out: &'a str, prefix: &str) -> &'a str {
    let found: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix(prefix)).collect();
    assert_eq!(found.len(), 1, "{prefix:?} in\n{out}");
    found[0]
}

#[tokio::test]
async fn doctor_shows_each_setting_taken_from_the_flag_over_the_env_over_the_default() {
    // Each setting is observed in doctor's output: the base URL and the models on their lines,
    // the home in the usage log's path, the workspace and allow-write on the workspace line.
    let mock = Mock::start(&[QUALITY, FAST]).await;
    let dirs: Vec<tempfile::TempDir> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let [user_home, env_home, flag_home, cwd, env_ws, flag_ws] =
        [0, 1, 2, 3, 4, 5].map(|i| dirs[i].path().as_os_str());
    let dead = std::ffi::OsString::from("http://127.0.0.1:9/v1");
    let url = std::ffi::OsString::from(&mock.url);
    let p = |s: &std::ffi::OsStr| s.to_str().unwrap().to_string();
    let ws_line = |ws: &std::ffi::OsStr, on: bool| {
        if on {
            format!(
                "{}; writing files (delegate_files) is on, inside it only",
                p(ws)
            )
        } else {
            format!(
                "{}; writing files (delegate_files) is off, LOCAL_EXECUTOR_ALLOW_WRITE=1 turns it on",
                p(ws)
            )
        }
    };

    // Defaults: the home under $HOME, the workspace the working directory, writing off, no
    // model pinned (the first suitable one serves).
    let out = doctor_with(
        std::path::Path::new(cwd),
        &["doctor", "--no-generate", "--base-url", &mock.url],
        &[("HOME", user_home)],
    )
    .await;
    assert_eq!(
        after(&out, "✔ usage log "),
        format!(
            "{}/.local-executor-mcp/usage.jsonl is writable",
            p(user_home)
        )
    );
    assert_eq!(after(&out, "✔ workspace "), ws_line(cwd, false));
    assert_eq!(
        after(
            &out,
            "✔ quality model not set: the first suitable model listed serves it ("
        ),
        format!("{QUALITY}); LOCAL_LLM_MODEL_QUALITY pins it")
    );

    // The environment over the defaults, with each boolish spelling of allow-write.
    for (value, on) in [("1", true), ("true", true), ("0", false), ("off", false)] {
        let out = doctor_with(
            std::path::Path::new(cwd),
            &["doctor", "--no-generate"],
            &[
                ("HOME", user_home),
                ("LOCAL_LLM_BASE_URL", &url),
                ("LOCAL_LLM_MODEL_QUALITY", std::ffi::OsStr::new(FAST)),
                ("LOCAL_EXECUTOR_HOME", env_home),
                ("LOCAL_EXECUTOR_WORKSPACE", env_ws),
                ("LOCAL_EXECUTOR_ALLOW_WRITE", std::ffi::OsStr::new(value)),
            ],
        )
        .await;
        assert_eq!(after(&out, "✔ base URL "), mock.url);
        assert_eq!(
            after(&out, "✔ usage log "),
            format!("{}/usage.jsonl is writable", p(env_home))
        );
        assert_eq!(after(&out, "✔ workspace "), ws_line(env_ws, on), "{value}");
        assert_eq!(after(&out, "✔ quality model "), format!("{FAST} is served"));
    }

    // The flags over the environment.
    let out = doctor_with(
        std::path::Path::new(cwd),
        &[
            "doctor",
            "--base-url",
            &mock.url,
            "--home",
            &p(flag_home),
            "--no-generate",
            "--workspace",
            &p(flag_ws),
            "--model-quality",
            QUALITY,
            "--allow-write",
        ],
        &[
            ("HOME", user_home),
            ("LOCAL_LLM_BASE_URL", &dead),
            ("LOCAL_LLM_MODEL_QUALITY", std::ffi::OsStr::new(FAST)),
            ("LOCAL_EXECUTOR_HOME", env_home),
            ("LOCAL_EXECUTOR_WORKSPACE", env_ws),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", std::ffi::OsStr::new("0")),
        ],
    )
    .await;
    assert_eq!(after(&out, "✔ base URL "), mock.url);
    assert_eq!(
        after(&out, "✔ usage log "),
        format!("{}/usage.jsonl is writable", p(flag_home))
    );
    assert_eq!(after(&out, "✔ workspace "), ws_line(flag_ws, true));
    assert_eq!(
        after(&out, "✔ quality model "),
        format!("{QUALITY} is served")
    );
}

#[tokio::test]
async fn doctor_lists_each_check_command_and_fails_a_missing_program() {
    let mock = Mock::start(&[QUALITY]).await;
    let d = Doctor::new();
    // PATH holds nothing: a relative program under the workspace is found there, `ruff` is not.
    let script = d.workspace.path().join("lint.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = d
        .run(
            &mock.url,
            &["--no-generate"],
            &[
                ("LOCAL_LLM_MODEL_QUALITY", QUALITY),
                ("LOCAL_EXECUTOR_CHECK_PYTHON", "ruff check {file}"),
                ("LOCAL_EXECUTOR_CHECK_SH", "./lint.sh {file}"),
                ("LOCAL_EXECUTOR_CHECK_TS", "./lint.sh --project ."),
            ],
        )
        .await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "✘ check for python: `ruff check {file}` — ruff is not installed or not on PATH"
        ),
        "{text}"
    );
    assert!(
        text.contains("fix: install ruff, or remove LOCAL_EXECUTOR_CHECK_PYTHON"),
        "{text}"
    );
    assert!(
        text.contains("✔ check for bash: `./lint.sh {file}` ("),
        "{text}"
    );
    // Without `{file}` a command checks the whole staged project: doctor says so.
    assert!(
        text.contains("✔ check for typescript: `./lint.sh --project .` (project-wide, "),
        "{text}"
    );
}

/// The fast tier is tested on its own model: a fast model that cannot answer is a failure, never
/// passed on the quality model's answer by escalation.
#[tokio::test]
async fn doctor_fails_a_fast_model_that_times_out_without_escalating() {
    let mock = Mock::start(&[QUALITY, FAST]).await;
    mock.push(Reply::text("ok"));
    // The fast model never sends its head: the first-token timeout ends the wait.
    mock.push(Reply::text("ok").before_head(vec![Step::Hang]));
    mock.always(Reply::text("ok"));
    let d = Doctor::new();
    let mut env = models_env();
    env.push(("LOCAL_LLM_FIRST_TOKEN_TIMEOUT", "1"));
    let out = d.run(&mock.url, &[], &env).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✔ test generation on quality ({QUALITY}): answered in "
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "✘ test generation on fast ({FAST}): DELEGATION_FAILED (timeout)"
        )),
        "{text}"
    );
    assert!(!text.contains("✔ test generation on fast"), "{text}");
    let models: Vec<String> = mock
        .chats()
        .iter()
        .map(|c| c.body["model"].as_str().unwrap().to_string())
        .collect();
    assert!(
        models.iter().all(|m| m == QUALITY || m == FAST),
        "{models:?}"
    );
    assert_eq!(
        models.iter().filter(|m| *m == QUALITY).count(),
        1,
        "{models:?}"
    );
}

#[tokio::test]
async fn doctor_fails_a_fast_model_that_stops_at_the_limit_without_a_token() {
    let mock = Mock::start(&[QUALITY, FAST]).await;
    mock.push(Reply::tokens(&["o"], "length"));
    mock.push(Reply::tokens(&[], "length"));
    mock.always(Reply::text("ok"));
    let d = Doctor::new();
    let out = d.run(&mock.url, &[], &models_env()).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "✔ test generation on quality ({QUALITY}): answered in "
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "✘ test generation on fast ({FAST}): DELEGATION_FAILED (truncated)"
        )) && text
            .contains("  fix: the model produced no answer; try another model for this tier\n"),
        "{text}"
    );
    // Two generations, one a tier: no escalation to the quality model.
    let chats = mock.chats();
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[1].body["model"], FAST);
}

#[tokio::test]
async fn doctor_says_which_tools_claude_code_will_ask_before() {
    let mock = Mock::start(&[QUALITY]).await;
    let d = Doctor::new();
    let ws = d.workspace.path();
    std::fs::create_dir(ws.join(".claude")).unwrap();
    // The project allows one tool; the user allows another and denies the third.
    std::fs::write(
        ws.join(".claude/settings.json"),
        r#"{"permissions": {"allow": ["mcp__local-executor__list_local_models"]}}"#,
    )
    .unwrap();
    std::fs::create_dir(d.user_home.path().join(".claude")).unwrap();
    std::fs::write(
        d.user_home.path().join(".claude/settings.json"),
        r#"{"permissions": {"allow": ["mcp__local-executor__delegate_code"], "deny": ["mcp__local-executor__delegate_files"]}}"#,
    )
    .unwrap();
    let out = d.run(&mock.url, &["--no-generate"], &[]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "✔ Claude Code calls delegate_code without asking (allowed in ~/.claude/settings.json)\n",
        // The project's rule counts only in a trusted folder.
        "– Claude Code asks before each call of list_local_models until you trust this folder: the allow rules in .claude/settings.json count only then\n  fix: start `claude` in the folder once and accept the trust prompt (Claude Code records it in ~/.claude.json)\n",
        "– Claude Code refuses delegate_files: a deny rule in ~/.claude/settings.json covers it\n  fix: remove that rule from permissions.deny in ~/.claude/settings.json to let the planner delegate with it\n",
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    assert!(!text.contains("no permissions.allow rule covers"), "{text}");

    // Trusted (as Claude Code records it), and the user's deny gone, the whole server allowed:
    // every tool runs, each credited to the first file that allows it.
    let real = ws.canonicalize().unwrap();
    std::fs::write(
        d.user_home.path().join(".claude.json"),
        json!({"projects": {real.to_str().unwrap(): {"hasTrustDialogAccepted": true}}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        d.user_home.path().join(".claude/settings.json"),
        r#"{"permissions": {"allow": ["mcp__local-executor"]}}"#,
    )
    .unwrap();
    std::fs::write(
        ws.join(".claude/settings.local.json"),
        r#"{"permissions": {"allow": ["mcp__local-executor__delegate_code"]}}"#,
    )
    .unwrap();
    let text = stdout(&d.run(&mock.url, &["--no-generate"], &[]).await);
    assert!(
        text.contains("✔ Claude Code calls delegate_code, delegate_files, list_local_models without asking (allowed in .claude/settings.local.json, ~/.claude/settings.json, .claude/settings.json)\n"),
        "{text}"
    );
    assert!(
        !text.contains("trust") && !text.contains("refuses"),
        "{text}"
    );

    // A settings file Claude Code could not parse either is named, its rules not counted.
    std::fs::write(ws.join(".claude/settings.local.json"), "{").unwrap();
    let text = stdout(&d.run(&mock.url, &["--no-generate"], &[]).await);
    assert!(
        text.contains("– Claude Code settings .claude/settings.local.json could not be read (")
            && text.contains("✔ Claude Code calls delegate_code, delegate_files, list_local_models without asking (allowed in ~/.claude/settings.json, .claude/settings.json)\n"),
        "{text}"
    );
}

#[tokio::test]
async fn doctor_says_when_the_binary_is_on_path() {
    let mock = Mock::start(&[QUALITY]).await;
    let d = Doctor::new();
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::write(bin_dir.path().join("local-executor-mcp"), "").unwrap();
    let out = d
        .run(
            &mock.url,
            &["--no-generate"],
            &[("PATH", bin_dir.path().to_str().unwrap())],
        )
        .await;
    let text = stdout(&out);
    assert!(
        text.contains("\n✔ local-executor-mcp is on PATH\n"),
        "{text}"
    );
    assert!(!text.contains("not on PATH"), "{text}");
}
