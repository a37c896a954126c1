//! The figures of issue #6, side by side in one run, each a median over repeated runs, against
//! a mock OpenAI backend on 127.0.0.1 that answers at once (keep-alive, chunked SSE, no Nagle).
//! Printed beside their targets, never asserted: timings belong here, not in tests.
//!
//! Run: `cargo test --release --bench bench` (the release profile, like everything else here).
//!
//! The server is driven over raw JSON-RPC lines on its stdin and stdout, so the client's own
//! cost stays out of the figures.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

const STARTUP_RUNS: usize = 30;
const CALLS: usize = 1000;
const STREAM_RUNS: usize = 100;
const STREAM_TOKENS: usize = 64;
const CONCURRENT: usize = 64;
const CONCURRENT_RUNS: usize = 5;
const BACKEND_DELAY: Duration = Duration::from_millis(500);
const SWAP_CALLS: usize = 16;
const SWAP_DELAY: Duration = Duration::from_millis(250);
const SWAP_WORK: Duration = Duration::from_millis(30);

// ---------------------------------------------------------------------------------------------
// The mock backend
// ---------------------------------------------------------------------------------------------

/// How the mock answers a chat request.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The whole completion in one write.
    Instant,
    /// Headers after this delay, then the completion at once.
    Delay(Duration),
    /// `STREAM_TOKENS` tokens 1 ms apart; the instant the last one was written is kept.
    Stream,
    /// One GPU, one model loaded at a time (llama-swap): requests are served one by one, and a
    /// request for another model than the loaded one first pays `SWAP_DELAY`.
    Swap,
}

#[derive(Default)]
struct Gpu {
    loaded: Option<String>,
    swaps: usize,
}

struct MockState {
    mode: Mutex<Mode>,
    last_token: Mutex<Option<Instant>>,
    /// Chat requests' models in the order they arrived.
    arrivals: Mutex<Vec<String>>,
    gpu: tokio::sync::Mutex<Gpu>,
}

#[derive(Clone)]
struct Mock {
    url: String,
    state: Arc<MockState>,
}

impl Mock {
    async fn start() -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mock = Mock {
            url: format!("http://{}/v1", listener.local_addr().unwrap()),
            state: Arc::new(MockState {
                mode: Mutex::new(Mode::Instant),
                last_token: Mutex::new(None),
                arrivals: Mutex::new(Vec::new()),
                gpu: tokio::sync::Mutex::new(Gpu::default()),
            }),
        };
        let state = mock.state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve_connection(sock, state.clone()));
            }
        });
        mock
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn take_arrivals(&self) -> Vec<String> {
        std::mem::take(&mut *self.state.arrivals.lock().unwrap())
    }
}

fn sse(v: &Value) -> String {
    format!("data: {v}\n\n")
}

fn http_chunk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

fn completion_events(text: &str) -> String {
    [
        sse(&json!({"choices":[{"delta":{"role":"assistant"}}]})),
        sse(&json!({"choices":[{"delta":{"content":text}}]})),
        sse(&json!({"choices":[{"delta":{},"finish_reason":"stop"}]})),
        sse(&json!({"choices":[],"usage":{"prompt_tokens":60,"completion_tokens":6}})),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat()
}

/// Serves requests on one keep-alive connection until the client closes it.
async fn serve_connection(sock: TcpStream, state: Arc<MockState>) {
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            line.clear();
            if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if rd.read_exact(&mut body).await.is_err() {
            return;
        }
        if respond(&path, &body, &mut wr, &state).await.is_err() {
            return;
        }
    }
}

async fn respond(
    path: &str,
    body: &[u8],
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    state: &MockState,
) -> std::io::Result<()> {
    if !path.ends_with("/chat/completions") {
        let list = json!({"object":"list","data":[{"id":"a"},{"id":"b"}]}).to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            list.len()
        );
        return wr.write_all(format!("{head}{list}").as_bytes()).await;
    }
    let mode = *state.mode.lock().unwrap();
    let mut out = SSE_HEAD.to_vec();
    match mode {
        Mode::Instant => {
            http_chunk(&mut out, completion_events("x = 1\n").as_bytes());
            http_chunk(&mut out, b"");
            wr.write_all(&out).await
        }
        Mode::Delay(d) => {
            tokio::time::sleep(d).await;
            http_chunk(&mut out, completion_events("x = 1\n").as_bytes());
            http_chunk(&mut out, b"");
            wr.write_all(&out).await
        }
        Mode::Stream => {
            wr.write_all(&out).await?;
            for i in 0..STREAM_TOKENS {
                let mut c = Vec::new();
                let piece = sse(&json!({"choices":[{"delta":{"content":format!("t{i} ")}}]}));
                http_chunk(&mut c, piece.as_bytes());
                wr.write_all(&c).await?;
                if i + 1 < STREAM_TOKENS {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            *state.last_token.lock().unwrap() = Some(Instant::now());
            let mut c = Vec::new();
            let tail = [
                sse(&json!({"choices":[{"delta":{},"finish_reason":"stop"}]})),
                "data: [DONE]\n\n".to_string(),
            ]
            .concat();
            http_chunk(&mut c, tail.as_bytes());
            http_chunk(&mut c, b"");
            wr.write_all(&c).await
        }
        Mode::Swap => {
            let model = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["model"].as_str().map(str::to_string))
                .unwrap_or_default();
            state.arrivals.lock().unwrap().push(model.clone());
            let mut gpu = state.gpu.lock().await;
            if gpu.loaded.as_deref() != Some(model.as_str()) {
                if gpu.loaded.is_some() {
                    gpu.swaps += 1;
                }
                tokio::time::sleep(SWAP_DELAY).await;
                gpu.loaded = Some(model);
            }
            tokio::time::sleep(SWAP_WORK).await;
            http_chunk(&mut out, completion_events("x = 1\n").as_bytes());
            http_chunk(&mut out, b"");
            let r = wr.write_all(&out).await;
            drop(gpu);
            r
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server, over raw JSON-RPC lines
// ---------------------------------------------------------------------------------------------

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<(Value, Instant)>>>>;

struct Server {
    child: Child,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    _home: tempfile::TempDir,
}

fn server_env(
    mock: &Mock,
    home: &std::path::Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("LOCAL_LLM_BASE_URL", mock.url.as_str()),
        ("LOCAL_EXECUTOR_HOME", home.to_str().unwrap()),
        ("LOCAL_EXECUTOR_WORKSPACE", home.to_str().unwrap()),
        ("LOCAL_EXECUTOR_LOG", "warn"),
        ("LOCAL_LLM_MODEL_QUALITY", "a"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

impl Server {
    /// Spawns the binary; the clock of a start-up measurement starts before this call.
    fn spawn(env: Vec<(String, String)>, home: tempfile::TempDir) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_local-executor-mcp"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let pending: Pending = Arc::default();
        let p = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let at = Instant::now();
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("not JSON on stdout: {line}");
                    continue;
                };
                if let Some(id) = msg.get("id").and_then(Value::as_u64)
                    && let Some(tx) = p.lock().unwrap().remove(&id)
                {
                    let _ = tx.send((msg, at));
                }
            }
        });
        Server {
            child,
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
            _home: home,
        }
    }

    async fn start(mock: &Mock, extra: &[(&str, &str)]) -> Server {
        let home = tempfile::tempdir().unwrap();
        let s = Server::spawn(server_env(mock, home.path(), extra), home);
        s.initialize().await;
        s
    }

    async fn write(&self, msg: Value) {
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        let stdin = stdin.as_mut().expect("stdin open");
        stdin.write_all(&line).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Sends a request; resolves with the response and the instant its line was read.
    async fn request(&self, method: &str, params: Value) -> (Value, Instant) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.write(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))
            .await;
        tokio::time::timeout(Duration::from_secs(120), rx)
            .await
            .expect("the server answered within 120 s")
            .expect("the server is alive")
    }

    async fn initialize(&self) -> (Value, Instant) {
        let r = self
            .request(
                "initialize",
                json!({"protocolVersion":"2025-06-18","capabilities":{},
                       "clientInfo":{"name":"bench","version":"0"}}),
            )
            .await;
        self.write(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        r
    }

    async fn delegate(&self, args: Value) -> (String, Instant) {
        let (r, at) = self
            .request(
                "tools/call",
                json!({"name":"delegate_code","arguments":args}),
            )
            .await;
        let text = r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("no tool result: {r}"))
            .to_string();
        assert!(
            r["result"]["isError"] != true,
            "the delegation failed: {text}"
        );
        (text, at)
    }

    /// Peak and current resident set, in kB, from /proc.
    fn memory_kb(&self) -> (u64, u64) {
        let pid = self.child.id().expect("the server is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    async fn stop(mut self) {
        drop(self.stdin.lock().await.take());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

struct Report {
    rows: Vec<[String; 4]>,
}

impl Report {
    fn row(&mut self, what: &str, measured: String, target: &str, within: Option<bool>) {
        let verdict = match within {
            Some(true) => "ok",
            Some(false) => "OVER",
            None => "",
        };
        self.rows.push([
            what.to_string(),
            measured,
            target.to_string(),
            verdict.to_string(),
        ]);
    }

    fn print(&self) {
        let w: Vec<usize> = (0..3)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        println!();
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}",
            "figure",
            "measured",
            "target",
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        );
        for r in &self.rows {
            println!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2]
            );
        }
    }
}

async fn startup(mock: &Mock, report: &mut Report) {
    mock.set_mode(Mode::Instant);
    let mut to_init = Vec::new();
    let mut to_list = Vec::new();
    for _ in 0..STARTUP_RUNS {
        let home = tempfile::tempdir().unwrap();
        let env = server_env(mock, home.path(), &[]);
        let t0 = Instant::now();
        let s = Server::spawn(env, home);
        let (_, init) = s.initialize().await;
        let (_, list) = s.request("tools/list", json!({})).await;
        to_init.push(init - t0);
        to_list.push(list - t0);
        s.stop().await;
    }
    let (init, list) = (median(to_init), median(to_list));
    let target = Duration::from_millis(10);
    report.row(
        "start-up: spawn -> initialize answered",
        ms(init),
        "< 10 ms (Node: 190 ms)",
        Some(init < target),
    );
    report.row(
        "start-up: spawn -> tools/list answered",
        ms(list),
        "< 10 ms (Node: 190 ms)",
        Some(list < target),
    );
}

/// The same completion fetched directly, as the server would, over one pooled connection.
async fn fetch_direct(http: &reqwest::Client, mock: &Mock) {
    let body = json!({
        "model": "a",
        "messages": [{"role":"system","content":"You write code."},{"role":"user","content":"write x"}],
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let resp = http
        .post(format!("{}/chat/completions", mock.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.ends_with(b"data: [DONE]\n\n"));
}

async fn overhead_and_memory(mock: &Mock, report: &mut Report) -> String {
    mock.set_mode(Mode::Instant);
    let s = Server::start(mock, &[]).await;
    let http = reqwest::Client::builder().build().unwrap();
    for _ in 0..20 {
        s.delegate(json!({"task":"write x"})).await;
        fetch_direct(&http, mock).await;
    }
    let (mut via_mcp, mut direct) = (Vec::new(), Vec::new());
    let mut footer = String::new();
    for _ in 0..CALLS {
        let t = Instant::now();
        let (text, at) = s.delegate(json!({"task":"write x"})).await;
        via_mcp.push(at - t);
        footer = text.lines().last().unwrap_or_default().to_string();
        let t = Instant::now();
        fetch_direct(&http, mock).await;
        direct.push(t.elapsed());
    }
    let (mcp, floor) = (median(via_mcp), median(direct));
    let overhead = mcp.saturating_sub(floor);
    report.row(
        "per-call: delegate_code round trip via MCP",
        ms(mcp),
        "",
        None,
    );
    report.row(
        "per-call: the same completion over HTTP (floor)",
        ms(floor),
        "",
        None,
    );
    report.row(
        "per-call overhead (MCP - floor)",
        ms(overhead),
        "< 0.5 ms (Node: 0.95 ms)",
        Some(overhead < Duration::from_micros(500)),
    );
    let (hwm, rss) = s.memory_kb();
    report.row(
        &format!("memory: peak RSS (VmHWM) after {} calls", CALLS + 20),
        format!(
            "{:.1} MB (now {:.1} MB)",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        ),
        "< 20 MB (Node: 142 MB)",
        Some(hwm < 20 * 1024),
    );
    s.stop().await;
    footer
}

async fn streaming(mock: &Mock, report: &mut Report) {
    mock.set_mode(Mode::Stream);
    let s = Server::start(mock, &[]).await;
    let mut lags = Vec::new();
    for i in 0..STREAM_RUNS + 5 {
        let (text, at) = s.delegate(json!({"task":"write tokens"})).await;
        assert!(text.starts_with("t0 t1 "), "{text}");
        let last = state_last_token(mock);
        if i >= 5 {
            lags.push(at.saturating_duration_since(last));
        }
    }
    report.row(
        "streaming: backend's last token -> tool result",
        ms(median(lags)),
        "",
        None,
    );
    s.stop().await;
}

fn state_last_token(mock: &Mock) -> Instant {
    mock.state
        .last_token
        .lock()
        .unwrap()
        .take()
        .expect("the mock streamed")
}

async fn concurrency(mock: &Mock, report: &mut Report) {
    mock.set_mode(Mode::Delay(BACKEND_DELAY));
    let s = Arc::new(Server::start(mock, &[]).await);
    let mut walls = Vec::new();
    for _ in 0..CONCURRENT_RUNS {
        let t = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..CONCURRENT {
            let s = s.clone();
            calls.spawn(async move { s.delegate(json!({"task": format!("call {i}")})).await });
        }
        while let Some(r) = calls.join_next().await {
            r.unwrap();
        }
        walls.push(t.elapsed());
    }
    let wall = median(walls);
    let excess = (wall.as_secs_f64() / BACKEND_DELAY.as_secs_f64() - 1.0) * 100.0;
    report.row(
        &format!("concurrency: {CONCURRENT} calls in flight, 500 ms backend"),
        format!("{} (+{excess:.1}% over the 500 ms floor)", ms(wall)),
        "within 10% of 500 ms (Node: 570 ms)",
        Some(excess <= 10.0),
    );
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

async fn planner_context(mock: &Mock, footer: &str, report: &mut Report) {
    let bpe = tiktoken_rs::o200k_base().expect("tiktoken-rs ships the o200k tables");
    let tokens = |s: &str| bpe.encode_with_special_tokens(s).len();
    let s = Server::start(mock, &[]).await;
    let (list, _) = s.request("tools/list", json!({})).await;
    let result = serde_json::to_string(&list["result"]).unwrap();
    let n = tokens(&result);
    report.row(
        "planner context: tools/list answer",
        format!("{} chars, {n} tokens (o200k)", result.chars().count()),
        "both tools < 450 tokens",
        Some(n < 450),
    );
    for tool in list["result"]["tools"].as_array().into_iter().flatten() {
        let text = serde_json::to_string(tool).unwrap();
        let desc = tool["description"].as_str().unwrap_or_default();
        report.row(
            &format!("planner context: {}", tool["name"].as_str().unwrap_or("?")),
            format!(
                "{} chars, {} tokens; description {} chars",
                text.chars().count(),
                tokens(&text),
                desc.chars().count()
            ),
            "description < 700 chars",
            Some(desc.chars().count() < 700),
        );
    }
    let home = tempfile::tempdir().unwrap();
    let fresh = Server::spawn(server_env(mock, home.path(), &[]), home);
    let (init, _) = fresh.initialize().await;
    let instructions = init["result"]["instructions"].as_str().unwrap_or_default();
    report.row(
        "planner context: server instructions",
        format!(
            "{} chars, {} tokens",
            instructions.chars().count(),
            tokens(instructions)
        ),
        "< 400 chars",
        Some(instructions.chars().count() < 400),
    );
    report.row(
        "planner context: the footer of a result",
        format!(
            "{} chars, {} tokens",
            footer.chars().count(),
            tokens(footer)
        ),
        "",
        None,
    );
    fresh.stop().await;
    s.stop().await;
}

/// Interleaved calls to two models through one llama-swap-like GPU, with and without
/// `LOCAL_LLM_MAX_CONCURRENT=1`. Returns (switches in arrival order, swaps charged, wall time).
async fn swaps(mock: &Mock, limit: Option<&str>) -> (usize, usize, Duration) {
    mock.set_mode(Mode::Swap);
    let mut env = vec![("LOCAL_LLM_MODEL_FAST", "b")];
    if let Some(n) = limit {
        env.push(("LOCAL_LLM_MAX_CONCURRENT", n));
    }
    let s = Arc::new(Server::start(mock, &env).await);
    // Start from model a loaded, the way a session would.
    s.delegate(json!({"task":"warm up"})).await;
    mock.take_arrivals();
    let swaps_before = mock.state.gpu.lock().await.swaps;
    let t = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..SWAP_CALLS {
        let tier = if i % 2 == 0 { "quality" } else { "fast" };
        let s = s.clone();
        calls.spawn(async move {
            s.delegate(json!({"task": format!("call {i}"), "tier": tier}))
                .await
        });
        // Interleaved arrivals, a, b, a, b, …, in a predictable order.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    while let Some(r) = calls.join_next().await {
        r.unwrap();
    }
    let wall = t.elapsed();
    let arrivals = mock.take_arrivals();
    let switches = arrivals.windows(2).filter(|w| w[0] != w[1]).count();
    let swaps = mock.state.gpu.lock().await.swaps - swaps_before;
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
    (switches, swaps, wall)
}

async fn model_swaps(mock: &Mock, report: &mut Report) {
    let (free_switches, free_swaps, free_wall) = swaps(mock, None).await;
    let (lim_switches, lim_swaps, lim_wall) = swaps(mock, Some("1")).await;
    report.row(
        &format!("swaps: {SWAP_CALLS} interleaved calls, 2 models, no limit"),
        format!(
            "{free_switches} switches in arrival order, {free_swaps} swaps charged, {}",
            ms(free_wall)
        ),
        "",
        None,
    );
    report.row(
        "swaps: the same with LOCAL_LLM_MAX_CONCURRENT=1",
        format!(
            "{lim_switches} switches in arrival order, {lim_swaps} swaps charged, {}",
            ms(lim_wall)
        ),
        "fewer switches",
        Some(lim_switches < free_switches),
    );
    report.row(
        &format!("swaps saved ({} ms each)", SWAP_DELAY.as_millis()),
        format!(
            "{} swaps, {} of wall time",
            free_swaps.saturating_sub(lim_swaps),
            ms(free_wall.saturating_sub(lim_wall))
        ),
        "",
        None,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mock = Mock::start().await;
        let mut report = Report { rows: Vec::new() };
        eprintln!(
            "local-executor-mcp benchmarks against a mock backend at {} (about a minute)",
            mock.url
        );
        startup(&mock, &mut report).await;
        let footer = overhead_and_memory(&mock, &mut report).await;
        let footer = footer.as_str();
        streaming(&mock, &mut report).await;
        concurrency(&mock, &mut report).await;
        planner_context(&mock, footer, &mut report).await;
        model_swaps(&mock, &mut report).await;
        report.print();
        println!("\nfooter measured: {footer}");
    });
}
