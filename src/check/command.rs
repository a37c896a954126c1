//! The check commands the user configured (never anything from a tool call): one program per
//! check, split into argv without a shell, run on one file (or, for a command without `{file}`,
//! on the staged project) from the project's root, stdin closed, a clean environment, in the box of [`super::sandbox`], its output
//! captured up to a cap, under a timeout. The process group is recorded at the start and killed
//! when the call ends, however it ends, so nothing a checker started outlives it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Outcome, sandbox};
use crate::config::Config;
use crate::usage::Verdict;

/// Bytes of stdout and of stderr kept; the rest is read and dropped so the program never blocks
/// on a full pipe.
const OUTPUT_CAP_BYTES: usize = 32 * 1024;
/// The placeholder replaced by the checked file's path.
const FILE_PLACEHOLDER: &str = "{file}";
/// What a program prints when the box refused it a write or a connection (EACCES, EPERM, EROFS).
const REFUSALS: &[&str] = &[
    "Permission denied",
    "Operation not permitted",
    "Read-only file system",
    "EACCES",
    "EPERM",
];

/// A configured check command, as `doctor` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandInfo {
    /// Canonical language name.
    pub(crate) language: String,
    /// The command as configured.
    pub(crate) command: String,
    pub(crate) program: String,
    /// Where the program was found on `PATH` (or under the workspace for a relative path).
    pub(crate) found: Option<PathBuf>,
    /// No `{file}`: it checks the staged project with no file argument.
    pub(crate) project_wide: bool,
}

/// The configured check commands, each with whether its program exists.
pub(crate) fn describe(cfg: &Config) -> Vec<CommandInfo> {
    cfg.checks
        .iter()
        .map(|c| {
            let program = c.argv.first().cloned().unwrap_or_default();
            CommandInfo {
                language: c.language.clone(),
                command: c.command.clone(),
                found: find_program(&program, &cfg.workspace),
                project_wide: project_wide(&c.argv),
                program,
            }
        })
        .collect()
}

/// A check's name as the footer shows it: the program's file name (`ruff`, `python3`).
pub(crate) fn name(argv: &[String]) -> String {
    let program = argv.first().map(String::as_str).unwrap_or("check");
    Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program)
        .to_string()
}

/// One command run on one file, or on the staged project.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a> {
    pub(crate) argv: &'a [String],
    /// What `{file}` stands for; `None` for a project-wide command, which gets no file argument.
    pub(crate) file: Option<&'a Path>,
    /// Replaces the file's path in the output, so the model sees `artifact.py` or its output
    /// path rather than a temporary name.
    pub(crate) shown_as: &'a str,
    /// The working directory: the staged project's root, or the workspace for a detached copy.
    pub(crate) workdir: &'a Path,
    /// Where a relative program (`./node_modules/.bin/tsc`) is taken from: the real workspace,
    /// whose files the guards keep from delegations.
    pub(crate) programs: &'a Path,
    /// The staged project's root, shown as a relative path in the output.
    pub(crate) shadow: Option<&'a Path>,
    /// The check's own temporary folder: the one place its box lets it write.
    pub(crate) tmp: &'a Path,
    /// The whole environment the program gets.
    pub(crate) env: &'a [(OsString, OsString)],
    pub(crate) timeout: Duration,
}

impl Run<'_> {
    pub(crate) async fn run(&self, cancel: &CancellationToken) -> Outcome {
        let name = name(self.argv);
        let Some(program) = self.argv.first() else {
            return Outcome::new(name, Verdict::Error, "the check command is empty");
        };
        if cancel.is_cancelled() {
            return Outcome::new(name, Verdict::Error, "cancelled");
        }
        if self.timeout.is_zero() {
            return Outcome::new(
                name,
                Verdict::Timeout,
                "no time was left in the call's total budget",
            );
        }
        let deadline = Instant::now() + self.timeout;
        let boxed = match sandbox::prepare(self.tmp) {
            Ok(b) => b,
            Err(e) => {
                return Outcome::new(
                    name,
                    Verdict::Error,
                    format!("cannot build the check's box: {e:#}"),
                );
            }
        };
        let args = substitute(&self.argv[1..], self.file);
        let resolved = resolve_relative(program, self.programs);
        let mut cmd = tokio::process::Command::new(&resolved);
        cmd.args(&args)
            .current_dir(self.workdir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so a kill reaches whatever the checker started.
        #[cfg(unix)]
        cmd.process_group(0);
        boxed.apply(&mut cmd);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return if !self.workdir.is_dir() {
                    Outcome::new(
                        name,
                        Verdict::Error,
                        format!(
                            "the workspace {} is not a directory",
                            self.workdir.display()
                        ),
                    )
                } else {
                    Outcome::new(
                        name,
                        Verdict::Missing,
                        format!("`{program}` is not installed (not found on PATH)"),
                    )
                };
            }
            Err(e) => {
                return Outcome::new(
                    name,
                    Verdict::Error,
                    format!("cannot start `{program}`: {e}"),
                );
            }
        };
        drop(boxed);
        // Taken now, while the leader cannot have been reaped: after a wait tokio forgets the
        // id, and the group may outlive its leader.
        let group = child.id();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        // The pipes are drained alongside the wait, or a chatty program would block on a full
        // pipe; they are read on their own task so a child that keeps them open after its
        // parent exits cannot hold the verdict back.
        let reads =
            tokio::spawn(async move { tokio::join!(read_capped(stdout), read_capped(stderr)) });
        let ended = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            status = child.wait() => Some(status),
            () = tokio::time::sleep_until(deadline) => None,
        };
        kill_group(group);
        let Some(status) = ended else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            reads.abort();
            return if cancel.is_cancelled() {
                Outcome::new(name, Verdict::Error, "cancelled")
            } else {
                Outcome::new(
                    name,
                    Verdict::Timeout,
                    format!(
                        "`{program}` ran past {} s",
                        crate::engine::secs(self.timeout)
                    ),
                )
            };
        };
        // The group is gone, so the pipes end at once, unless a process left the group (a
        // daemon): then what was read by the deadline is all there is.
        let abort = reads.abort_handle();
        let (out, err) = tokio::select! {
            biased;
            read = reads => read.unwrap_or_default(),
            () = cancel.cancelled() => Default::default(),
            () = tokio::time::sleep_until(deadline) => Default::default(),
        };
        abort.abort();
        let output = self.output(&out, &err);
        judge(name, status, output, sandbox::active())
    }
    /// stdout then stderr, the checked file's path shown as `shown_as`, whether the checker
    /// printed it whole or relative to the workspace (as ruff and eslint do), the staged
    /// project's other files relative to its root, and what concerns the candidate first.
    fn output(&self, out: &[u8], err: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(out).trim_end().to_string();
        let err = String::from_utf8_lossy(err);
        let err = err.trim_end();
        if !err.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(err);
        }
        if let Some(file) = self.file {
            let whole = file.to_string_lossy();
            let relative = file
                .strip_prefix(self.workdir)
                .map(|p| p.to_string_lossy())
                .unwrap_or_default();
            for path in [whole, relative] {
                if !path.is_empty() {
                    text = text.replace(path.as_ref(), self.shown_as);
                }
            }
        }
        if let Some(root) = self.shadow {
            let root = root.to_string_lossy();
            text = text.replace(&format!("{root}{}", std::path::MAIN_SEPARATOR), "");
            text = text.replace(root.as_ref(), ".");
        }
        candidate_first(&text, self.shown_as)
    }
}

/// The checker's message with the entries that name the candidate first, in their order, then
/// the rest: a project-wide check may report other files too, and only the first lines reach the
/// model. An entry is a line that does not start with a blank and the indented lines after it.
fn candidate_first(text: &str, shown_as: &str) -> String {
    if shown_as.is_empty() || !text.contains(shown_as) {
        return text.to_string();
    }
    let mut entries: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        let continues = line.starts_with([' ', '\t']) && !entries.is_empty();
        match entries.last_mut() {
            Some(entry) if continues => entry.push(line),
            _ => entries.push(vec![line]),
        }
    }
    let (mine, rest): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| e.iter().any(|l| l.contains(shown_as)));
    mine.into_iter()
        .chain(rest)
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

fn judge(
    name: String,
    status: std::io::Result<ExitStatus>,
    output: String,
    boxed: bool,
) -> Outcome {
    let status = match status {
        Ok(status) => status,
        Err(e) => return Outcome::new(name, Verdict::Error, format!("cannot wait for it: {e}")),
    };
    if status.success() {
        return Outcome::new(name, Verdict::Pass, "");
    }
    // A checker the box stopped has judged nothing: the fault is the check's, and a repair
    // turn would ask the model to fix what is not wrong.
    if boxed
        && let Some(line) = output
            .lines()
            .find(|l| REFUSALS.iter().any(|r| l.contains(r)))
    {
        return Outcome::new(
            name,
            Verdict::Error,
            format!(
                "the check tried to write outside its box or to use the network, which the box forbids: {}",
                line.trim()
            ),
        );
    }
    match status.code() {
        Some(code) if output.is_empty() => {
            Outcome::new(name, Verdict::Fail, format!("exited with status {code}"))
        }
        Some(_) => Outcome::new(name, Verdict::Fail, output),
        None => Outcome::new(name, Verdict::Error, killed_by(status)),
    }
}

#[cfg(unix)]
fn killed_by(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => format!("killed by signal {sig}"),
        None => format!("ended without an exit code ({status})"),
    }
}

#[cfg(not(unix))]
fn killed_by(status: ExitStatus) -> String {
    format!("ended without an exit code ({status})")
}

/// Kills every process of the checker's group with SIGKILL, which cannot be caught. The leader
/// may be gone already (reaped or not); what it started is not.
fn kill_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
        // SAFETY: killpg has no memory effects. The group is the checker's own
        // (process_group(0)); its id is not reused while any member of the group lives.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = group;
}

/// Whether a command checks the whole project: no argument names `{file}`. It runs in the staged
/// project with no file argument (`tsc --noEmit -p tsconfig.json`, `cargo check`, `mypy .`).
pub(crate) fn project_wide(argv: &[String]) -> bool {
    !argv.iter().skip(1).any(|a| a.contains(FILE_PLACEHOLDER))
}

/// Each argument with `{file}` replaced by the path; without a file (a project-wide command) the
/// arguments as configured. A bare `{file}` passes the path as it is, even when it is not UTF-8.
fn substitute(args: &[String], file: Option<&Path>) -> Vec<OsString> {
    let Some(file) = file else {
        return args.iter().map(OsString::from).collect();
    };
    args.iter()
        .map(|a| {
            if a == FILE_PLACEHOLDER {
                file.as_os_str().to_owned()
            } else {
                a.replace(FILE_PLACEHOLDER, &file.to_string_lossy()).into()
            }
        })
        .collect()
}

/// A relative program path with a separator (`./node_modules/.bin/tsc`) is taken from the
/// workspace root; a bare name is looked up on `PATH` by the system.
fn resolve_relative(program: &str, workdir: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && path.components().count() > 1 {
        workdir.join(path)
    } else {
        path.to_path_buf()
    }
}

/// Reads a pipe to its end, keeping the first [`OUTPUT_CAP_BYTES`].
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    kept
}

/// Where `program` would be found: under the workspace for a relative path with a separator,
/// as given for an absolute one, else in a `PATH` entry.
pub(crate) fn find_program(program: &str, workdir: &Path) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    let path = Path::new(program);
    if path.components().count() > 1 {
        let full = resolve_relative(program, workdir);
        return is_executable(&full).then_some(full);
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs).find_map(|dir| {
        candidates(&dir.join(program))
            .into_iter()
            .find(|p| is_executable(p))
    })
}

#[cfg(unix)]
fn candidates(path: &Path) -> Vec<PathBuf> {
    vec![path.to_path_buf()]
}

#[cfg(not(unix))]
fn candidates(path: &Path) -> Vec<PathBuf> {
    let mut all = vec![path.to_path_buf()];
    for ext in ["exe", "cmd", "bat", "com"] {
        all.push(path.with_extension(ext));
    }
    all
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn argv(command: &str) -> Vec<String> {
        shlex::split(command).unwrap()
    }

    /// The environment a check in `tmp` gets, with no secret to hide.
    fn env(tmp: &Path) -> Vec<(OsString, OsString)> {
        sandbox::environment(std::env::vars_os(), &[], tmp)
    }

    async fn run_in(command: &str, file: &Path, workdir: &Path, timeout: Duration) -> Outcome {
        let argv = argv(command);
        let tmp = file.parent().unwrap();
        let env = env(tmp);
        let run = Run {
            argv: &argv,
            file: Some(file),
            shown_as: "artifact.py",
            workdir,
            programs: workdir,
            shadow: None,
            tmp,
            env: &env,
            timeout,
        };
        run.run(&CancellationToken::new()).await
    }

    #[cfg(target_os = "linux")]
    /// Waits for `pid` to end (a zombie counts) and says whether it did. The kill was sent
    /// before the check returned, so a SIGKILLed process ends at once; the bound only turns a
    /// survivor into a failure instead of a hang.
    fn ends(pid: i32) -> bool {
        // SAFETY: pidfd_open takes two integers; the fd it returns is closed below.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        }
        let fd = fd as i32;
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the fd is ours.
        let ready = unsafe { libc::poll(&mut poll, 1, 30_000) };
        unsafe { libc::close(fd) };
        ready == 1
    }

    #[cfg(target_os = "linux")]
    fn pid_in(file: &Path) -> i32 {
        std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn artifact(dir: &Path, text: &str) -> PathBuf {
        let file = dir.join("artifact.py");
        std::fs::write(&file, text).unwrap();
        file
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn exit_zero_passes() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "x = 1\n");
        let o = run_in("python3 -m py_compile {file}", &file, dir.path(), LONG).await;
        assert_eq!((o.name.as_str(), o.verdict), ("python3", Verdict::Pass));
        assert_eq!(o.message, "");
    }

    #[tokio::test]
    async fn non_zero_fails_with_the_output_and_the_shown_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "def f(:\n    pass\n");
        let o = run_in("python3 -m py_compile {file}", &file, dir.path(), LONG).await;
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.message.contains("SyntaxError"), "{}", o.message);
        assert!(o.message.contains("artifact.py"), "{}", o.message);
        assert!(
            !o.message
                .contains(&dir.path().to_string_lossy().to_string()),
            "{}",
            o.message
        );
    }

    #[tokio::test]
    async fn a_silent_failure_says_its_status() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let o = run_in("sh -c 'exit 7'", &file, dir.path(), LONG).await;
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(o.message, "exited with status 7");
    }

    #[tokio::test]
    async fn a_missing_program_is_missing_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let o = run_in("no-such-program-4217 {file}", &file, dir.path(), LONG).await;
        assert_eq!(o.verdict, Verdict::Missing);
        assert!(o.message.contains("no-such-program-4217"), "{}", o.message);
        let o = run_in("./bin/nothing {file}", &file, dir.path(), LONG).await;
        assert_eq!(o.verdict, Verdict::Missing);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_hanging_command_and_its_children_are_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let pidfile = dir.path().join("child.pid");
        // The background sleep holds the pipes open: only a group kill ends the read.
        let cmd = format!(
            "sh -c 'sleep 300 & echo $! > {}; wait' {{file}}",
            pidfile.display()
        );
        let o = run_in(&cmd, &file, dir.path(), Duration::from_secs(2)).await;
        assert_eq!(o.verdict, Verdict::Timeout);
        let pid = pid_in(&pidfile);
        assert!(ends(pid), "the background sleep {pid} survived the kill");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_leader_that_exits_is_judged_by_its_status_and_its_child_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let pidfile = dir.path().join("child.pid");
        // The leader exits at once; its child keeps stdout and stderr open for 300 s. Before the
        // fix this was reported as a timeout after the whole timeout, and the child lived on.
        for (status, verdict) in [(0, Verdict::Pass), (3, Verdict::Fail)] {
            let cmd = format!(
                "sh -c 'sleep 300 & echo $! > {}; echo done; exit {status}' {{file}}",
                pidfile.display()
            );
            // A regression waits out this timeout and reports `timed out`.
            let o = run_in(&cmd, &file, dir.path(), Duration::from_secs(60)).await;
            assert_eq!(o.verdict, verdict, "{}", o.message);
            if verdict == Verdict::Fail {
                assert_eq!(o.message, "done");
            }
            let pid = pid_in(&pidfile);
            assert!(ends(pid), "the background sleep {pid} outlived its check");
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn cancellation_kills_the_command_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let pidfile = dir.path().join("child.pid");
        let ready = dir.path().join("ready");
        let argv = argv(&format!(
            "sh -c 'sleep 300 & echo $! > {}; touch {}; wait'",
            pidfile.display(),
            ready.display()
        ));
        let env = env(dir.path());
        let cancel = CancellationToken::new();
        let run = Run {
            argv: &argv,
            file: Some(&file),
            shown_as: "a",
            workdir: dir.path(),
            programs: dir.path(),
            shadow: None,
            tmp: dir.path(),
            env: &env,
            timeout: Duration::from_secs(600),
        };
        let trigger = cancel.clone();
        let marker = ready.clone();
        // Cancels once the grandchild exists (an event, not a delay).
        let (o, ()) = tokio::join!(run.run(&cancel), async move {
            while !marker.exists() {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            trigger.cancel()
        });
        assert_eq!(
            (o.verdict, o.message.as_str()),
            (Verdict::Error, "cancelled")
        );
        let pid = pid_in(&pidfile);
        assert!(ends(pid), "the background sleep {pid} survived the cancel");
    }

    #[tokio::test]
    async fn a_boxed_check_writes_only_its_temporary_folder() {
        let ws = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let file = artifact(tmp.path(), "");
        let o = run_in(
            "sh -c 'echo in > \"$TMPDIR/ok\" && echo out > escaped' {file}",
            &file,
            ws.path(),
            LONG,
        )
        .await;
        if !sandbox::enforced() {
            return;
        }
        assert_eq!(o.verdict, Verdict::Error, "{}", o.message);
        assert!(
            o.message
                .starts_with("the check tried to write outside its box"),
            "{}",
            o.message
        );
        assert!(tmp.path().join("ok").exists());
        assert!(!ws.path().join("escaped").exists());
        // The server itself is not boxed.
        std::fs::write(ws.path().join("server"), "x").unwrap();
    }

    #[tokio::test]
    async fn huge_output_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let o = run_in(
            "python3 -c 'import sys; sys.stdout.write(\"x\" * 50_000_000); sys.exit(1)'",
            &file,
            dir.path(),
            LONG,
        )
        .await;
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(o.message.chars().count() < 500, "{}", o.message.len());
    }

    #[tokio::test]
    async fn the_file_is_substituted_and_never_appended() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let o = run_in(
            "sh -c 'echo \"in:$1\"; exit 1' x --path={file}",
            &file,
            dir.path(),
            LONG,
        )
        .await;
        assert_eq!(o.message, "in:--path=artifact.py");
        let o = run_in("echo", &file, dir.path(), LONG).await;
        assert_eq!(o.verdict, Verdict::Pass);
        assert_eq!(
            substitute(&argv("--noEmit -p tsconfig.json"), None),
            ["--noEmit", "-p", "tsconfig.json"].map(OsString::from)
        );
        assert_eq!(
            substitute(&argv("--in={file} {file}"), Some(Path::new("/t/a.py"))),
            [OsString::from("--in=/t/a.py"), OsString::from("/t/a.py")]
        );
        assert!(project_wide(&argv("tsc --noEmit -p tsconfig.json")));
        assert!(project_wide(&argv("cargo check")));
        assert!(!project_wide(&argv("ruff check --stdin-filename={file}")));
        // The program's own name is no placeholder.
        assert!(project_wide(&argv("{file}")));
    }

    #[tokio::test]
    async fn the_working_directory_is_the_workspace_and_stdin_is_closed() {
        let ws = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let file = artifact(tmp.path(), "");
        let o = run_in("sh -c 'pwd; cat; exit 1'", &file, ws.path(), LONG).await;
        let expected = ws.path().canonicalize().unwrap();
        assert_eq!(o.message, expected.to_string_lossy());
    }

    #[tokio::test]
    async fn a_program_relative_to_the_workspace_runs_from_there() {
        use std::os::unix::fs::PermissionsExt;
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join("bin")).unwrap();
        let script = ws.path().join("bin/lint");
        std::fs::write(&script, "#!/bin/sh\necho \"linted $1\"\nexit 2\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = artifact(ws.path(), "");
        let o = run_in("./bin/lint {file}", &file, ws.path(), LONG).await;
        assert_eq!((o.name.as_str(), o.verdict), ("lint", Verdict::Fail));
        assert_eq!(o.message, "linted artifact.py");
        assert_eq!(find_program("./bin/lint", ws.path()), Some(script));
    }

    #[tokio::test]
    async fn a_signal_is_an_error_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(dir.path(), "");
        let o = run_in("sh -c 'kill -9 $$'", &file, dir.path(), LONG).await;
        assert_eq!(o.verdict, Verdict::Error);
        assert_eq!(o.message, "killed by signal 9");
    }

    #[tokio::test]
    async fn a_staged_file_is_named_as_its_output_path_even_when_printed_relative() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join("pkg")).unwrap();
        let staged = ws.path().join("pkg/.mod.py.tmp42");
        std::fs::write(&staged, "x = 1\n").unwrap();
        let argv =
            argv("sh -c 'echo \"$0:1: bad\"; echo \"pkg/.mod.py.tmp42:2: worse\"; exit 1' {file}");
        let env = env(ws.path());
        let run = Run {
            argv: &argv,
            file: Some(&staged),
            shown_as: "pkg/mod.py",
            workdir: ws.path(),
            programs: ws.path(),
            shadow: None,
            tmp: ws.path(),
            env: &env,
            timeout: LONG,
        };
        let o = run.run(&CancellationToken::new()).await;
        assert_eq!(o.message, "pkg/mod.py:1: bad\npkg/mod.py:2: worse");
    }

    #[test]
    fn a_project_wide_message_puts_the_candidates_entries_first() {
        let text = [
            "lib/old.ts(1,1): error TS1: elsewhere",
            "src/app.ts(3,5): error TS2339: Property 'x' does not exist on type 'User'.",
            "  the detail of it",
            "Found 2 errors.",
        ];
        assert_eq!(
            candidate_first(&text.join("\n"), "src/app.ts"),
            [text[1], text[2], text[0], text[3]].join("\n")
        );
        assert_eq!(candidate_first("a\nb", "src/app.ts"), "a\nb");
    }

    #[test]
    fn describe_lists_each_command_and_whether_its_program_exists() {
        let ws = tempfile::tempdir().unwrap();
        let mut cfg = Config::with_defaults("/tmp/h".into(), ws.path().to_path_buf());
        cfg.checks = vec![
            crate::check::check_command("py", "sh -n {file}").unwrap(),
            crate::check::check_command("ts", "no-such-program-4217 --noEmit").unwrap(),
        ];
        let listed = describe(&cfg);
        let first = listed.iter().find(|c| c.language == "python").unwrap();
        assert_eq!(
            (first.program.as_str(), first.command.as_str()),
            ("sh", "sh -n {file}")
        );
        assert!(first.found.is_some());
        let second = listed.iter().find(|c| c.language == "typescript").unwrap();
        assert_eq!(second.found, None);
    }

    #[test]
    fn programs_are_found_on_path() {
        let here = std::env::temp_dir();
        assert!(find_program("sh", &here).is_some());
        assert_eq!(find_program("no-such-program-4217", &here), None);
        assert_eq!(find_program("", &here), None);
        assert_eq!(name(&argv("/usr/bin/ruff check")), "ruff");
    }
}
