//! The command line: the subcommands and their flags ([`args`] holds the settings' groups),
//! logging, and the entry points: build the runtime, run `serve` or `delegate`, hand `stats`,
//! `doctor` and `init` to their own modules, and map the outcome to an exit code.

pub mod args;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use clap::{Parser, Subcommand};
use rmcp::ServiceExt;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::engine::Engine;
use crate::request::CodeRequest;
use crate::server::Server;
use crate::usage::{self, UsageRecord};
use args::{BackendArgs, Settings, StateArgs};

#[derive(Debug, Parser)]
#[command(
    name = "local-executor-mcp",
    version,
    about = "MCP stdio server that hands mechanical code writing to a local model",
    long_about = "MCP stdio server that hands mechanical code writing (boilerplate, scaffolding, \
CRUD, test stubs, format conversions) to a local model behind an OpenAI-compatible API. \
With no subcommand it serves MCP on stdin/stdout.",
    args_conflicts_with_subcommands = true,
    // Clap lists the arguments it found in the usage line of an error, and a setting taken from
    // the environment counts as found: the usage would show them as if they were required.
    override_usage = "local-executor-mcp [OPTIONS] [COMMAND]"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The server's settings, when no subcommand is given.
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over stdio (the default).
    #[command(override_usage = "local-executor-mcp serve [OPTIONS]")]
    Serve(ServeCmd),
    /// Run one delegation from the shell: artifact on stdout, footer on stderr, exit 3 on failure.
    #[command(override_usage = "local-executor-mcp delegate [OPTIONS] <TASK>")]
    Delegate(DelegateCmd),
    /// Aggregate usage.jsonl: calls, fallback rate, tokens, latency, estimated savings.
    #[command(override_usage = "local-executor-mcp stats [OPTIONS]")]
    Stats(StatsArgs),
    /// Check the backend, the models, the usage folder; print a ready `claude mcp add` line.
    #[command(override_usage = "local-executor-mcp doctor [OPTIONS]")]
    Doctor(DoctorArgs),
    /// Set a project up: merge .mcp.json, add the delegation section to CLAUDE.md and AGENTS.md,
    /// print the Codex block.
    #[command(override_usage = "local-executor-mcp init [OPTIONS] [DIR]")]
    Init(InitArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeCmd {
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, clap::Args)]
pub struct DelegateCmd {
    #[command(flatten)]
    pub request: CodeRequest,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub cmd: crate::stats::StatsCmd,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub cmd: crate::doctor::DoctorCmd,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub cmd: crate::init::InitCmd,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

impl Cli {
    fn state(&self) -> &StateArgs {
        match &self.command {
            None => &self.settings.state,
            Some(Command::Serve(c)) => &c.settings.state,
            Some(Command::Delegate(c)) => &c.settings.state,
            Some(Command::Stats(c)) => &c.state,
            Some(Command::Doctor(c)) => &c.settings.state,
            Some(Command::Init(c)) => &c.state,
        }
    }

    fn serves(&self) -> bool {
        matches!(self.command, None | Some(Command::Serve(_)))
    }

    /// The settings in effect for the subcommand: the groups it takes, defaults for the rest.
    fn resolve(&self) -> anyhow::Result<Config> {
        match &self.command {
            None => self.settings.resolve(),
            Some(Command::Serve(c)) => c.settings.resolve(),
            Some(Command::Delegate(c)) => c.settings.resolve(),
            Some(Command::Stats(c)) => c.state.resolve(),
            Some(Command::Doctor(c)) => c.settings.resolve(),
            Some(Command::Init(c)) => {
                let mut cfg = c.state.resolve()?;
                c.backend.apply(&mut cfg)?;
                Ok(cfg)
            }
        }
    }
}

/// Parses the command line, starts logging and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.state(), cli.serves());
    run(cli)
}

/// Logs go to stderr: stdout carries JSON-RPC while serving, and the artifact for `delegate`.
/// The server logs at `info` without colour codes (an MCP client keeps them in a file); a
/// subcommand run by a person shows warnings and errors only, unless `-v` or
/// `LOCAL_EXECUTOR_LOG` asks for more, with colour only on a terminal.
fn init_logging(state: &StateArgs, serves: bool) {
    const LEVELS: [&str; 4] = ["error", "warn", "info", "debug"];
    let base = if serves { 2 } else { 1 };
    let filter = match &state.log {
        Some(f) if !f.trim().is_empty() && state.verbose == 0 => f.clone(),
        _ => LEVELS[(base + usize::from(state.verbose)).min(LEVELS.len() - 1)].to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(LEVELS[base]));
    let ansi = !serves && std::io::stderr().is_terminal();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if serves {
        subscriber.init();
    } else {
        // A person reads these next to the command's own output: no timestamps, no targets.
        subscriber.without_time().with_target(false).init();
    }
}

/// Exit code of `delegate` when the delegation failed.
pub const EXIT_DELEGATION_FAILED: u8 = 3;
/// How long calls in flight at the end of a session get to stop and write their usage lines.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

pub fn run(cli: Cli) -> ExitCode {
    let cfg = match cli.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("local-executor-mcp: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("local-executor-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async move {
        match cli.command {
            None | Some(Command::Serve(_)) => match serve(cfg).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            },
            Some(Command::Delegate(c)) => delegate(cfg, c.request).await,
            Some(Command::Stats(c)) => crate::stats::run(&cfg, &c.cmd),
            Some(Command::Doctor(c)) => crate::doctor::run(cfg, &c.cmd).await,
            Some(Command::Init(c)) => crate::init::run(&cfg, &c.cmd).await,
        }
    });
    // A blocking stdin read must not hold the process open once the client has gone.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    tracing::info!(base_url = %cfg.base_url, workspace = %cfg.workspace.display(), "serving MCP on stdio");
    let engine = Arc::new(Engine::new(cfg)?);
    // What a server killed mid-check left in the temporary directory goes now.
    crate::check::sweep();
    let server = Server::new(engine);
    let (stdin, stdout) = rmcp::transport::io::stdio_pipes();
    // rmcp lets handlers run for a few seconds after stdin closes; the GPU should stop at once.
    let stdin = EofSignal {
        inner: stdin,
        on_eof: server.shutdown_token(),
    };
    let running = match server.clone().serve((stdin, stdout)).await {
        Ok(r) => r,
        // The client went away before the handshake: nothing to serve, nothing wrong.
        Err(e) => {
            tracing::debug!("no session: {e}");
            return Ok(());
        }
    };
    let ct = running.cancellation_token();
    tokio::select! {
        reason = running.waiting() => tracing::info!(?reason, "session ended"),
        _ = terminated() => {
            tracing::info!("terminated by signal");
            ct.cancel();
        }
    }
    server.drain(SHUTDOWN_GRACE).await;
    Ok(())
}

/// A reader that fires a token when it reaches end of file: the client has gone.
struct EofSignal<R> {
    inner: R,
    on_eof: CancellationToken,
}

impl<R: AsyncRead + Unpin> AsyncRead for EofSignal<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(())))
            && buf.filled().len() == before
            && buf.remaining() > 0
        {
            this.on_eof.cancel();
        }
        polled
    }
}

/// SIGTERM or SIGINT: a client that gives up on the graceful close sends SIGTERM next.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn delegate(cfg: Config, req: CodeRequest) -> ExitCode {
    let engine = match Engine::new(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("local-executor-mcp: {e:#}");
            return ExitCode::from(2);
        }
    };
    let ct = CancellationToken::new();
    let on_ctrl_c = ct.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let progress = std::io::stderr().is_terminal().then(|| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                eprint!("\r\x1b[2K{m}");
            }
        });
        tx
    });
    let mut record = UsageRecord::new("delegate");
    record.client = Some("cli".into());
    record.planner_chars =
        (req.task.chars().count() + req.context.as_deref().map_or(0, |c| c.chars().count())) as u64;
    let result = engine
        .delegate(&req, progress.as_ref(), &ct, &mut record)
        .await;
    if progress.is_some() {
        eprint!("\r\x1b[2K");
    }
    usage::append(&engine.cfg.usage_path(), &record);
    match result {
        Ok(d) => {
            let mut out = std::io::stdout().lock();
            let _ = out
                .write_all(d.artifact.as_bytes())
                .and_then(|_| out.flush());
            eprintln!("{}", d.footer);
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("{}", for_the_shell(&f.to_string()));
            // "Do this task yourself" speaks to a planner; a person at a terminal wants a next step.
            if std::io::stderr().is_terminal() {
                eprintln!("(a person at a terminal: `local-executor-mcp doctor` checks the setup)");
            }
            ExitCode::from(EXIT_DELEGATION_FAILED)
        }
    }
}

/// The engine words its refusals for a planner calling a tool (`overwrite: true`,
/// `context_files`, "start the server"); at a shell the same advice is a flag.
const SHELL_WORDS: [(&str, &str); 6] = [
    ("pass overwrite: true", "pass --overwrite"),
    (
        "start the server with LOCAL_EXECUTOR_ALLOW_WRITE=1 (or --allow-write)",
        "pass --allow-write (or set LOCAL_EXECUTOR_ALLOW_WRITE=1)",
    ),
    (
        "start the server with LOCAL_EXECUTOR_ALLOW_WRITE=1",
        "pass --allow-write (or set LOCAL_EXECUTOR_ALLOW_WRITE=1)",
    ),
    (
        "start the server in a project directory or set LOCAL_EXECUTOR_WORKSPACE",
        "run it in a project directory or pass --workspace",
    ),
    (
        "a context_files entry is empty",
        "a --context-file is empty",
    ),
    ("context_files exceed", "the --context-file files exceed"),
];

/// A failure's text in the command line's words.
fn for_the_shell(text: &str) -> String {
    SHELL_WORDS
        .iter()
        .fold(text.to_string(), |t, (tool, shell)| t.replace(tool, shell))
}
