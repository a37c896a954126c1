//! The subcommands' entry points: build the runtime, run `serve` or `delegate`, hand `stats` and
//! `doctor` to their own modules, and map the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use rmcp::ServiceExt;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::sync::CancellationToken;

use crate::config::{Cli, Command, Config};
use crate::engine::Engine;
use crate::request::CodeRequest;
use crate::server::Server;
use crate::usage::{self, UsageRecord};

/// Exit code of `delegate` when the delegation failed.
pub const EXIT_DELEGATION_FAILED: u8 = 3;
/// How long calls in flight at the end of a session get to stop and write their usage lines.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

pub fn run(cli: Cli) -> ExitCode {
    let cfg = match Config::from_settings(&cli.settings) {
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
            None | Some(Command::Serve) => match serve(cfg).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            },
            Some(Command::Delegate(cmd)) => delegate(cfg, cmd).await,
            Some(Command::Stats(cmd)) => crate::stats::run(&cfg, &cmd),
            Some(Command::Doctor(cmd)) => crate::doctor::run(cfg, &cmd).await,
            Some(Command::Init(cmd)) => crate::init::run(&cfg, &cmd).await,
        }
    });
    // A blocking stdin read must not hold the process open once the client has gone.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    tracing::info!(base_url = %cfg.base_url, workspace = %cfg.workspace.display(), "serving MCP on stdio");
    let engine = Arc::new(Engine::new(cfg)?);
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
            eprintln!("{f}");
            // "Do this task yourself" speaks to a planner; a person at a terminal wants a next step.
            if std::io::stderr().is_terminal() {
                eprintln!("(a person at a terminal: `local-executor-mcp doctor` checks the setup)");
            }
            ExitCode::from(EXIT_DELEGATION_FAILED)
        }
    }
}
