//! Test harness: a programmable OpenAI-compatible mock on 127.0.0.1:0 that can stream, stall,
//! drip, reset and hang, and records what it received; and the real binary driven over stdio by
//! rmcp's client, with every path it writes pointed into a temp dir.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, JsonObject, ProgressNotificationParam,
    Request,
};
use rmcp::service::{PeerRequestOptions, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc};

/// One step of a scripted response body.
#[derive(Debug, Clone)]
pub enum Step {
    /// Raw bytes onto the wire.
    Send(Vec<u8>),
    /// Wait before the next step.
    Wait(Duration),
    /// Stop writing and wait until the client closes the connection.
    Hang,
    /// Abort the connection with a TCP reset.
    Reset,
    /// Wait until the test opens the gate (`Gate::open`).
    Gate(Gate),
}

/// A gate scripted responses wait on: each `open` lets one waiting response through, whether it
/// comes before or after that response reached the gate. It counts (a semaphore, not a `Notify`,
/// whose stored wake-up is one however often it is given), so three opens release three answers
/// even on a multi-thread runtime, where a test's opens can come before the mock's tasks wait.
#[derive(Debug, Clone)]
pub struct Gate(Arc<Semaphore>);

impl Default for Gate {
    fn default() -> Gate {
        Gate(Arc::new(Semaphore::new(0)))
    }
}

impl Gate {
    pub fn open(&self) {
        self.0.add_permits(1);
    }

    async fn pass(&self) {
        // The semaphore is never closed.
        if let Ok(permit) = self.0.acquire().await {
            permit.forget();
        }
    }
}

/// A scripted answer to one chat request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Steps before the status line is even sent (a backend loading a model, or hanging).
    pub before_head: Vec<Step>,
    pub body: Vec<Step>,
}

impl Reply {
    /// A 200 SSE stream of these content pieces, then `finish_reason`, then `[DONE]`.
    pub fn tokens(pieces: &[&str], finish: &str) -> Reply {
        let mut body: Vec<Step> = vec![Step::Send(sse(
            &json!({"choices":[{"delta":{"role":"assistant"}}]}),
        ))];
        for p in pieces {
            body.push(Step::Send(sse(
                &json!({"choices":[{"delta":{"content":p}}]}),
            )));
        }
        body.push(Step::Send(sse(
            &json!({"choices":[{"delta":{},"finish_reason":finish}]}),
        )));
        body.push(Step::Send(b"data: [DONE]\n\n".to_vec()));
        Reply::stream(body)
    }

    pub fn text(text: &str) -> Reply {
        Reply::tokens(&[text], "stop")
    }

    pub fn stream(body: Vec<Step>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/event-stream".into())],
            before_head: vec![],
            body,
        }
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            before_head: vec![],
            body: vec![Step::Send(body.as_bytes().to_vec())],
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn before_head(mut self, steps: Vec<Step>) -> Reply {
        self.before_head = steps;
        self
    }
}

/// One `data:` event.
pub fn sse(v: &Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

/// What the mock saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    fallback: Option<Reply>,
    models: Vec<String>,
    running: Option<Value>,
    /// Extra JSON routes by path, query left out (`/props`, `/tokenize`, `/api/show`).
    routes: Vec<(String, Value)>,
    seen: Vec<Seen>,
    closed_by_client: usize,
    chats_received: usize,
}

#[derive(Clone)]
pub struct Mock {
    pub url: String,
    state: Arc<Mutex<State>>,
    closed: Arc<Notify>,
    chat_arrived: Arc<Notify>,
}

impl Mock {
    pub async fn start(models: &[&str]) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let mock = Mock {
            url,
            state: Arc::new(Mutex::new(State {
                models: models.iter().map(|m| m.to_string()).collect(),
                ..State::default()
            })),
            closed: Arc::new(Notify::new()),
            chat_arrived: Arc::new(Notify::new()),
        };
        let m = mock.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let m = m.clone();
                tokio::spawn(async move { m.serve(sock).await });
            }
        });
        mock
    }

    /// Queues the answer to the next chat request.
    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().replies.push_back(reply);
    }

    /// The answer to every chat request once the queue is empty.
    pub fn always(&self, reply: Reply) {
        self.state.lock().unwrap().fallback = Some(reply);
    }

    /// Serves llama-swap's `/running` with this JSON.
    pub fn running(&self, v: Value) {
        self.state.lock().unwrap().running = Some(v);
    }

    /// Serves this JSON at `path` (any method; the query is ignored), as llama.cpp's `/props`
    /// or `/tokenize`, llama-swap's `/upstream/<model>/props` or Ollama's `/api/show` would.
    pub fn route(&self, path: &str, v: Value) {
        self.state
            .lock()
            .unwrap()
            .routes
            .push((path.to_string(), v));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn chats(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.ends_with("/chat/completions"))
            .collect()
    }

    pub fn closed_by_client(&self) -> usize {
        self.state.lock().unwrap().closed_by_client
    }

    /// Resolves once a hanging response saw the client close its connection.
    pub async fn wait_closed_by_client(&self) {
        self.wait_closed(1).await;
    }

    /// Resolves once `n` hanging responses saw the client close their connections.
    pub async fn wait_closed(&self, n: usize) {
        loop {
            let notified = self.closed.notified();
            if self.closed_by_client() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once `n` chat requests have arrived. Race-free on any runtime: a `Notified` is
    /// woken by `notify_waiters` from the moment it is created, and it is created before the count
    /// is read.
    pub async fn wait_chats(&self, n: usize) {
        loop {
            let notified = self.chat_arrived.notified();
            if self.state.lock().unwrap().chats_received >= n {
                return;
            }
            notified.await;
        }
    }

    async fn serve(&self, mut sock: TcpStream) {
        let Some(seen) = read_request(&mut sock).await else {
            return;
        };
        let path = seen.path.clone();
        let method = seen.method.clone();
        self.state.lock().unwrap().seen.push(seen);
        let bare = path.split('?').next().unwrap_or_default().to_string();
        let routed = {
            let st = self.state.lock().unwrap();
            st.routes
                .iter()
                .find(|(p, _)| *p == bare)
                .map(|(_, v)| v.clone())
        };
        let reply = if let Some(v) = routed {
            Reply::status(200, &v.to_string())
        } else if path.ends_with("/chat/completions") && method == "POST" {
            let reply = {
                let mut st = self.state.lock().unwrap();
                st.chats_received += 1;
                st.replies
                    .pop_front()
                    .or_else(|| st.fallback.clone())
                    .unwrap_or_else(|| Reply::text("ok"))
            };
            self.chat_arrived.notify_waiters();
            reply
        } else if path.ends_with("/v1/models") {
            let ids = self.state.lock().unwrap().models.clone();
            let data: Vec<Value> = ids
                .iter()
                .map(|id| json!({"id": id, "object": "model"}))
                .collect();
            Reply::status(200, &json!({"object": "list", "data": data}).to_string())
        } else if path == "/running" {
            match self.state.lock().unwrap().running.clone() {
                Some(v) => Reply::status(200, &v.to_string()),
                None => Reply::status(404, "not found"),
            }
        } else {
            Reply::status(404, "{\"error\":\"no such route\"}")
        };
        self.respond(sock, reply).await;
    }

    async fn respond(&self, mut sock: TcpStream, reply: Reply) {
        if !self.run_steps(&mut sock, &reply.before_head).await {
            return;
        }
        let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if sock.write_all(head.as_bytes()).await.is_err() {
            return self.mark_closed();
        }
        if self.run_steps(&mut sock, &reply.body).await {
            let _ = sock.shutdown().await;
        }
    }

    /// False when the connection is gone (closed by the client, or reset by the script).
    async fn run_steps(&self, sock: &mut TcpStream, steps: &[Step]) -> bool {
        for step in steps {
            match step {
                Step::Send(b) => {
                    if sock.write_all(b).await.is_err() || sock.flush().await.is_err() {
                        self.mark_closed();
                        return false;
                    }
                }
                Step::Wait(d) => {
                    let mut buf = [0u8; 64];
                    tokio::select! {
                        _ = tokio::time::sleep(*d) => {}
                        n = sock.read(&mut buf) => if matches!(n, Ok(0) | Err(_)) {
                            self.mark_closed();
                            return false;
                        }
                    }
                }
                Step::Hang => {
                    let mut buf = [0u8; 64];
                    loop {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => {
                                self.mark_closed();
                                return false;
                            }
                            Ok(_) => {}
                        }
                    }
                }
                Step::Reset => {
                    let _ = sock.set_zero_linger();
                    return false;
                }
                Step::Gate(gate) => {
                    let mut buf = [0u8; 64];
                    tokio::select! {
                        _ = gate.pass() => {}
                        n = sock.read(&mut buf) => if matches!(n, Ok(0) | Err(_)) {
                            self.mark_closed();
                            return false;
                        }
                    }
                }
            }
        }
        true
    }

    fn mark_closed(&self) {
        self.state.lock().unwrap().closed_by_client += 1;
        self.closed.notify_waiters();
    }
}

async fn read_request(sock: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

/// An MCP client that keeps the progress notifications it receives.
#[derive(Clone)]
pub struct Client {
    pub progress: mpsc::UnboundedSender<ProgressNotificationParam>,
}

impl ClientHandler for Client {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let _ = self.progress.send(params);
    }
}

/// The real binary, its temp dirs, and an rmcp client connected to it.
pub struct Harness {
    pub client: RunningService<RoleClient, Client>,
    pub progress: mpsc::UnboundedReceiver<ProgressNotificationParam>,
    pub home: tempfile::TempDir,
    pub workspace: tempfile::TempDir,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_local-executor-mcp")
}

/// Settings every test starts from: hermetic paths and short timeouts, so a hang ends quickly.
pub fn base_env(mock_url: &str, home: &Path, workspace: &Path) -> Vec<(String, String)> {
    [
        ("LOCAL_LLM_BASE_URL", mock_url),
        ("LOCAL_EXECUTOR_HOME", home.to_str().unwrap()),
        ("LOCAL_EXECUTOR_WORKSPACE", workspace.to_str().unwrap()),
        ("LOCAL_EXECUTOR_LOG", "warn"),
        ("LOCAL_LLM_CONNECT_TIMEOUT", "2"),
        ("LOCAL_LLM_FIRST_TOKEN_TIMEOUT", "10"),
        ("LOCAL_LLM_IDLE_TIMEOUT", "5"),
        ("LOCAL_LLM_TIMEOUT", "20"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Harness {
    pub async fn start(mock: &Mock, extra_env: &[(&str, &str)]) -> Harness {
        let home = tempfile::tempdir().unwrap();
        let workspace = tempfile::tempdir().unwrap();
        let mut env = base_env(&mock.url, home.path(), workspace.path());
        for (k, v) in extra_env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        Harness::start_with(env, home, workspace).await
    }

    pub async fn start_with(
        env: Vec<(String, String)>,
        home: tempfile::TempDir,
        workspace: tempfile::TempDir,
    ) -> Harness {
        let cmd = tokio::process::Command::new(bin()).configure(|c| {
            c.env_clear();
            c.env("PATH", std::env::var("PATH").unwrap_or_default());
            for (k, v) in &env {
                c.env(k, v);
            }
        });
        let transport = TokioChildProcess::new(cmd).unwrap();
        let (tx, progress) = mpsc::unbounded_channel();
        let client = Client { progress: tx }.serve(transport).await.unwrap();
        Harness {
            client,
            progress,
            home,
            workspace,
        }
    }

    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        // `write_file` is a one-file `delegate_files` call spelled like the shell's
        // `delegate --output-path`: {task, output_path, overwrite, language, context_files}.
        let (tool, args) = match tool {
            "write_file" => ("delegate_files", as_files(args)),
            other => (other, args),
        };
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(o) = args {
            params.arguments = Some(o);
        }
        self.client.call_tool(params).await.unwrap()
    }

    /// Starts a call that carries a progress token and can be cancelled.
    pub async fn start_call(
        &self,
        tool: &str,
        args: Value,
    ) -> rmcp::service::RequestHandle<RoleClient> {
        let (tool, args) = match tool {
            "write_file" => ("delegate_files", as_files(args)),
            other => (other, args),
        };
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = Some(match args {
            Value::Object(o) => o,
            _ => JsonObject::new(),
        });
        self.client
            .send_cancellable_request(
                ClientRequest::CallToolRequest(Request::new(params)),
                PeerRequestOptions::no_options(),
            )
            .await
            .unwrap()
    }

    /// Keeps progress notifications in `kept` until one's message satisfies `until` (kept too).
    /// Tests wait on what the server says rather than on time: a script holds its answer at a
    /// [`Gate`] until the note it is waiting for has come. The bound only turns a server that never
    /// says it into a failure instead of a hang.
    pub async fn progress_until(
        &mut self,
        kept: &mut Vec<ProgressNotificationParam>,
        until: impl Fn(&str) -> bool,
    ) {
        let wait = async {
            loop {
                let note = self.progress.recv().await.expect("the server is gone");
                let hit = note.message.as_deref().is_some_and(&until);
                kept.push(note);
                if hit {
                    return;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .is_err()
        {
            let said: Vec<_> = kept.iter().filter_map(|p| p.message.clone()).collect();
            panic!("the progress note waited for did not come; it said {said:?}");
        }
    }

    pub fn usage_path(&self) -> PathBuf {
        self.home.path().join("usage.jsonl")
    }

    /// Every usage line, each parsed (a torn or invalid line fails the test).
    pub fn usage(&self) -> Vec<Value> {
        read_usage(&self.usage_path())
    }

    /// Closes stdin and waits for the server to exit, so every usage line is on disk.
    pub async fn stop(self) -> Vec<Value> {
        let path = self.usage_path();
        let _ = self.client.cancel().await;
        let lines = read_usage(&path);
        drop(self.home);
        lines
    }
}

/// The o200k tokens of what Claude Code sends its model of these tools: each one's name,
/// description and input schema (annotations and titles stay with the client).
pub fn tool_tokens(tools: &[rmcp::model::Tool]) -> usize {
    let seen: String = tools
        .iter()
        .map(|t| {
            format!(
                "{}{}{}",
                t.name,
                t.description.as_deref().unwrap_or(""),
                serde_json::to_string(&t.input_schema).unwrap()
            )
        })
        .collect();
    tiktoken_rs::o200k_base()
        .unwrap()
        .encode_with_special_tokens(&seen)
        .len()
}

/// A one-file `delegate_files` call from `delegate`-style arguments.
pub fn as_files(args: Value) -> Value {
    let mut file = json!({"path": args["output_path"], "task": args["task"]});
    if let Some(l) = args.get("language") {
        file["language"] = l.clone();
    }
    let mut call = json!({"files": [file]});
    for key in ["overwrite", "context", "context_files", "tier"] {
        if let Some(v) = args.get(key) {
            call[key] = v.clone();
        }
    }
    call
}

pub fn read_usage(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last line: {text:?}"
    );
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad usage line {l:?}: {e}"))
        })
        .collect()
}

pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text())
        .map(|t| t.text.clone())
        .collect::<Vec<_>>()
        .join("")
}

pub fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}
