//! Check commands through the real binary: what they may run (nothing a delegation wrote), what
//! they see (no backend secret), what they may do (the box: no write outside their temporary
//! folder, no TCP), and how they end (every process of a check dies with its call, within the
//! call's total budget). Each test reproduces a way the checks were abused or leaked before.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Client, Harness, Mock, Reply, is_error, text_of};
use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const KEY: &str = "sk-local-SECRET-123";

async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 60 s"))
}

fn only(lines: Vec<Value>) -> Value {
    assert_eq!(lines.len(), 1, "expected one usage line: {lines:#?}");
    lines.into_iter().next().unwrap()
}

/// Whether the kernel boxes checks here (Landlock with truncation confined: ABI 3 or later).
fn landlock_abi() -> i64 {
    // SAFETY: the VERSION query reads no memory.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    }
}

fn boxed_here() -> bool {
    landlock_abi() >= 3
}

/// Waits for `pid` to end (a zombie counts) and says whether it did. The kill was sent before
/// the call returned, so a SIGKILLed process ends at once; the bound only turns a survivor into
/// a failure instead of a hang.
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

/// The ids of the processes whose command line holds `needle`.
fn processes_with(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

fn executable(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// F1, reproduction 1: `python3 -m py_compile` as the check, and a delegation that writes
/// `py_compile.py`. The write is refused before any generation; and a `py_compile.py` that is
/// there anyway (the user's, or older) is not what the check imports.
#[tokio::test]
async fn a_check_never_runs_a_python_module_the_workspace_holds() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_API_KEY", KEY),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
            (
                "LOCAL_EXECUTOR_CHECK_PYTHON",
                "python3 -m py_compile {file}",
            ),
        ],
    )
    .await;
    let ws = h.workspace.path().to_path_buf();
    for path in ["py_compile.py", "./py_compile/__init__.py", "PY_COMPILE.py"] {
        let r = h
            .call(
                "write_file",
                json!({"task": "a helper module", "output_path": path}),
            )
            .await;
        let text = text_of(&r);
        assert!(is_error(&r), "{path}: {text}");
        assert!(
            text.contains("bad_request") && text.contains("python3 -m py_compile"),
            "{path}: {text}"
        );
    }
    assert!(
        mock.chats().is_empty(),
        "a refused path costs no generation"
    );
    assert!(!ws.join("py_compile.py").exists());

    // The module a delegation could once write, placed by hand: it would print the key.
    std::fs::write(
        ws.join("py_compile.py"),
        "import os, sys\nprint('key:', os.environ.get('LOCAL_LLM_API_KEY'))\nsys.exit(1)\n",
    )
    .unwrap();
    mock.push(Reply::text("def add(a, b):\n    return a + b\n"));
    let r = h
        .call(
            "delegate_code",
            json!({"task": "add(a,b)", "language": "python"}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.ends_with("· checked: python syntax, python3]"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
    h.stop().await;
}

/// F1, reproduction 2: a configured `./tools/lint` (0755) rewritten with `overwrite` would run
/// on the next check. Its folder is refused, whole.
#[tokio::test]
async fn a_check_program_in_the_workspace_cannot_be_rewritten() {
    let mock = Mock::start(&["m"]).await;
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let lint = workspace.path().join("tools/lint");
    let original = "#!/bin/sh\npython3 -m py_compile \"$1\"\n";
    executable(&lint, original);
    let mut env = common::base_env(&mock.url, home.path(), workspace.path());
    for (k, v) in [
        ("LOCAL_LLM_MODEL_QUALITY", "m"),
        ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
        ("LOCAL_EXECUTOR_CHECK_PYTHON", "./tools/lint {file}"),
    ] {
        env.push((k.into(), v.into()));
    }
    let h = Harness::start_with(env, home, workspace).await;
    for (path, language) in [("tools/lint", "text"), ("tools/helper.sh", "bash")] {
        let r = h
            .call(
                "write_file",
                json!({"task": "a lint wrapper", "output_path": path, "overwrite": true, "language": language}),
            )
            .await;
        let text = text_of(&r);
        assert!(is_error(&r), "{path}: {text}");
        assert!(
            text.contains("bad_request") && text.contains("./tools/lint {file}"),
            "{path}: {text}"
        );
    }
    assert!(mock.chats().is_empty());
    assert_eq!(std::fs::read_to_string(&lint).unwrap(), original);
    // A file elsewhere is written as before.
    mock.push(Reply::text("def f():\n    return 1\n"));
    let r = h
        .call(
            "write_file",
            json!({"task": "f", "output_path": "src/f.py"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    h.stop().await;
}

/// A bare program name that `PATH` finds in the workspace (an activated virtualenv) is as much
/// the workspace's as `./tools/lint`: its environment folder is refused.
#[tokio::test]
async fn a_check_program_found_on_path_inside_the_workspace_is_guarded() {
    let mock = Mock::start(&["m"]).await;
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let bin = workspace.path().join(".venv/bin");
    executable(
        &bin.join("lint-4217"),
        "#!/bin/sh
exit 0
",
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env = common::base_env(&mock.url, home.path(), workspace.path());
    for (k, v) in [
        ("PATH", path.as_str()),
        ("LOCAL_LLM_MODEL_QUALITY", "m"),
        ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
        ("LOCAL_EXECUTOR_CHECK_PYTHON", "lint-4217 {file}"),
    ] {
        env.push((k.into(), v.into()));
    }
    let h = Harness::start_with(env, home, workspace).await;
    let r = h
        .call(
            "write_file",
            json!({"task": "a site hook", "output_path": ".venv/lib/python3.12/site-packages/x.pth", "language": "text"}),
        )
        .await;
    let text = text_of(&r);
    assert!(is_error(&r) && text.contains("lint-4217 {file}"), "{text}");
    assert!(mock.chats().is_empty());
    h.stop().await;
}

/// F7: a check sees neither the key nor the credentialed URL, and what it prints reaches the
/// planner and the model's repair turn with the key masked.
#[tokio::test]
async fn a_check_gets_no_secret_and_its_output_is_masked() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("def f():\n    return 1\n"));
    mock.push(Reply::text("def f():\n    return 2\n"));
    let url = mock.url.replace("http://", "http://team:pw-SECRET-456@");
    // The key is on disk (where a check could read it); the variables must be empty.
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret_file.path(), KEY).unwrap();
    let check = format!(
        "sh -c 'echo \"key=$LOCAL_LLM_API_KEY url=$LOCAL_LLM_BASE_URL\"; env | grep -c SECRET; cat {}; exit 1' {{file}}",
        secret_file.path().display()
    );
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_BASE_URL", &url),
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_API_KEY", KEY),
            ("LOCAL_EXECUTOR_REPAIRS", "1"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", &check),
        ],
    )
    .await;
    let r = h
        .call("delegate_code", json!({"task": "f", "language": "python"}))
        .await;
    let text = text_of(&r);
    assert!(is_error(&r), "{text}");
    assert!(
        text.contains("sh: key= url= 0 <LOCAL_LLM_API_KEY>"),
        "{text}"
    );
    let repair = serde_json::to_string(&mock.chats()[1].body).unwrap();
    assert!(repair.contains("key= url="), "{repair}");
    for shown in [&text, &repair] {
        assert!(!shown.contains("SECRET"), "{shown}");
    }
    h.stop().await;
}

/// F14 and T1: a check whose program exits while its child holds the pipes is judged by its
/// exit status (not as a timeout), and the child dies with the call. The check timeout is far
/// longer than the call's budget, so a regression shows as `timed out`.
#[tokio::test]
async fn no_process_of_a_check_outlives_its_call() {
    let mock = Mock::start(&["m"]).await;
    // First answer: the check fails, telling the pid of the child it leaves behind.
    mock.push(Reply::text("def f():\n    return 'BAD'\n"));
    mock.push(Reply::text("def f():\n    return 1\n"));
    let nonce = format!("3141.{}", std::process::id());
    // The leader waits until its child is `sleep` (exec'd), so the scan below cannot miss it.
    let check = format!(
        "sh -c 'sleep {nonce} & while ! grep -qs {nonce} /proc/$!/cmdline; do :; done; echo \"left $!\"; if grep -q BAD \"$0\"; then exit 1; fi; exit 0' {{file}}"
    );
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", &check),
            ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "600"),
        ],
    )
    .await;
    let r = bounded(
        "the checked call",
        h.call("delegate_code", json!({"task": "f", "language": "python"})),
    )
    .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.ends_with("· checked: python syntax, sh · 1 repair]"),
        "exited 0, so passed: {text}"
    );
    let repair = serde_json::to_string(&mock.chats()[1].body).unwrap();
    let first: i32 = repair
        .split("left ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no pid in the repair turn: {repair}"));
    assert!(ends(first), "the failed check's child {first} lived on");
    for pid in processes_with(&nonce) {
        assert!(ends(pid), "the passed check's child {pid} lived on");
    }
    h.stop().await;
}

/// T1 through the binary: cancelling a call kills its check's whole group.
#[tokio::test]
async fn a_cancelled_call_kills_its_check_and_the_checks_children() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("def f():\n    return 1\n"));
    let nonce = format!("2718.{}", std::process::id());
    let check = format!("sh -c 'sleep {nonce} & wait' {{file}}");
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", &check),
            ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "600"),
        ],
    )
    .await;
    let handle = h
        .start_call("delegate_code", json!({"task": "f", "language": "python"}))
        .await;
    // The check is running once its sleep exists: an event, not a delay.
    let pid = bounded("the check's child to start", async {
        loop {
            if let Some(pid) = processes_with(&nonce).into_iter().find(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
            }) {
                return pid;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    handle
        .cancel(Some("the planner moved on".into()))
        .await
        .unwrap();
    assert!(ends(pid), "the check's child {pid} survived the cancel");
    let line = only(bounded("the usage line", h.stop()).await);
    assert_eq!(line["reason"], "cancelled", "{line}");
}

/// F22: a check gets at most what is left of the call's total budget.
#[tokio::test]
async fn a_check_ends_with_the_calls_total_budget() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("def f():\n    return 1\n"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_TIMEOUT", "3"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", "sh -c 'sleep 900' {file}"),
            ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "900"),
        ],
    )
    .await;
    let r = bounded(
        "a call with a 3 s budget",
        h.call("delegate_code", json!({"task": "f", "language": "python"})),
    )
    .await;
    let text = text_of(&r);
    assert!(text.ends_with("· unchecked: sh timed out]"), "{text}");
    h.stop().await;
}

/// The box (issue 18): a check that writes into the workspace or connects to a port the test
/// opened is stopped; it is the check's fault (no repair asked of the model), and the workspace
/// is unchanged.
#[tokio::test]
async fn a_boxed_check_cannot_write_the_workspace_or_use_the_network() {
    if !boxed_here() {
        eprintln!("no Landlock here: the box is not enforced, nothing to test");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let write = "sh -c 'echo pwned > pwned' {file}".to_string();
    let connect = format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}))' {{file}}"
    );
    for (check, name) in [(write, "sh"), (connect, "python3")] {
        let mock = Mock::start(&["m"]).await;
        mock.push(Reply::text("def f():\n    return 1\n"));
        let h = Harness::start(
            &mock,
            &[
                ("LOCAL_LLM_MODEL_QUALITY", "m"),
                ("LOCAL_EXECUTOR_CHECK_PYTHON", &check),
            ],
        )
        .await;
        let r = h
            .call("delegate_code", json!({"task": "f", "language": "python"}))
            .await;
        let text = text_of(&r);
        assert!(!is_error(&r), "the model is not blamed: {text}");
        assert!(
            text.ends_with(&format!("· unchecked: {name} crashed]")),
            "{text}"
        );
        assert_eq!(mock.chats().len(), 1, "no repair is asked for");
        assert_eq!(
            std::fs::read_dir(h.workspace.path()).unwrap().count(),
            0,
            "the workspace is unchanged"
        );
        let line = only(h.stop().await);
        assert_eq!(line["checks"][1]["verdict"], "error", "{line}");
    }
    let accepted = listener.accept();
    assert!(
        accepted
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "a check connected: {accepted:?}"
    );
}

/// The server started as if the kernel had no Landlock: a seccomp filter makes Landlock's
/// system calls fail with ENOSYS, as on a kernel built without it.
async fn start_without_landlock(env: &[(&str, &str)]) -> Harness {
    let mock_url = "http://127.0.0.1:9";
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let mut all = common::base_env(mock_url, home.path(), workspace.path());
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let cmd = tokio::process::Command::new(common::bin()).configure(|c| {
        c.env_clear();
        c.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &all {
            c.env(k, v);
        }
        // SAFETY: the closure makes two system calls on data built before the fork.
        unsafe {
            c.pre_exec(no_landlock);
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

fn no_landlock() -> std::io::Result<()> {
    const ENOSYS: u32 = libc::ENOSYS as u32;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    // Load the syscall number; Landlock's three calls (444–446) get ENOSYS, the rest pass.
    let filter = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(libc::SYS_landlock_create_ruleset as u32, 3, 0),
        jump(libc::SYS_landlock_add_rule as u32, 2, 0),
        jump(libc::SYS_landlock_restrict_self as u32, 1, 0),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | ENOSYS,
        ),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `filter`, which lives until the call returns.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

async fn read_only_hint(h: &Harness) -> Option<bool> {
    let tools = h.client.list_all_tools().await.unwrap();
    let code = tools.iter().find(|t| t.name == "delegate_code").unwrap();
    code.annotations.as_ref().unwrap().read_only_hint
}

/// `delegate_code` is read-only only while everything it can trigger is: with no check command,
/// or with the box in force; a check that runs unboxed could write anything.
#[tokio::test]
async fn delegate_code_is_read_only_only_while_its_checks_cannot_write() {
    let check = (
        "LOCAL_EXECUTOR_CHECK_PYTHON",
        "python3 -m py_compile {file}",
    );
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[check]).await;
    assert_eq!(read_only_hint(&h).await, Some(boxed_here()));
    h.stop().await;

    let h = start_without_landlock(&[check]).await;
    assert_eq!(read_only_hint(&h).await, Some(false));
    h.stop().await;
    let h = start_without_landlock(&[]).await;
    assert_eq!(read_only_hint(&h).await, Some(true));
    h.stop().await;
}

/// `doctor` says how strong the box is here.
#[tokio::test]
async fn doctor_reports_the_box() {
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(common::bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOCAL_LLM_BASE_URL", "http://127.0.0.1:9")
        .env("LOCAL_EXECUTOR_HOME", home.path())
        .env("LOCAL_EXECUTOR_WORKSPACE", workspace.path())
        .env("LOCAL_EXECUTOR_LOG", "off")
        .env("LOCAL_LLM_CONNECT_TIMEOUT", "1")
        .env(
            "LOCAL_EXECUTOR_CHECK_PYTHON",
            "python3 -m py_compile {file}",
        )
        .arg("doctor")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = if boxed_here() {
        format!(
            "✔ check commands run in a Landlock box (ABI {})",
            landlock_abi()
        )
    } else {
        "– check commands run unboxed".to_string()
    };
    assert!(stdout.contains(&expected), "{stdout}");
}

/// Every entry under `root` with its permission bits and its bytes (a link's target): what a
/// check must leave exactly as it was.
fn snapshot(root: &Path) -> std::collections::BTreeMap<String, (u32, Vec<u8>)> {
    let mut all = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let bytes = if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
                    .into_bytes()
            } else if meta.is_dir() {
                dirs.push(path);
                Vec::new()
            } else {
                std::fs::read(&path).unwrap()
            };
            all.insert(rel, (meta.permissions().mode(), bytes));
        }
    }
    all
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Issue 18: the candidate is staged where it will live. A checker that imports the candidate's
/// sibling module (`pkg/models.py`, found beside `{file}`) sees it, and its own message reaches
/// the repair turn, paths shown relative to the project; on a detached copy (an inline artifact)
/// the same checker cannot find the sibling and fails.
#[tokio::test]
async fn a_staged_candidate_sees_its_siblings_and_is_repaired_with_the_checkers_message() {
    let check = "python3 -c 'import os, runpy, sys; sys.path.insert(0, os.path.dirname(sys.argv[1])); runpy.run_path(sys.argv[1])' {file}";
    let wrong = "from models import Usr\n\n\ndef hello(u):\n    return u.name\n";
    let right = "from models import User\n\n\ndef hello(u: User) -> str:\n    return u.name\n";
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(wrong));
    mock.push(Reply::text(right));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", check),
        ],
    )
    .await;
    let ws = h.workspace.path().to_path_buf();
    write_mode(
        &ws.join("pkg/models.py"),
        "class User:\n    def __init__(self, name):\n        self.name = name\n",
        0o644,
    );
    let r = h
        .call(
            "write_file",
            json!({"task": "hello(u) returns the user's name", "output_path": "pkg/app.py"}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.contains("· checked: python syntax, python3 · 1 repair]"),
        "{text}"
    );
    let repair = serde_json::to_string(&mock.chats()[1].body).unwrap();
    assert!(
        repair.contains("cannot import name 'Usr' from 'models' (pkg/models.py)"),
        "the checker's message, paths relative to the project: {repair}"
    );
    assert!(!repair.contains("local-executor-check"), "{repair}");
    assert_eq!(
        std::fs::read_to_string(ws.join("pkg/app.py")).unwrap(),
        right
    );
    h.stop().await;

    // The control: the same checker on a detached copy has no sibling to import.
    let mock = Mock::start(&["m"]).await;
    mock.always(Reply::text(right));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_REPAIRS", "1"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", check),
        ],
    )
    .await;
    write_mode(
        &h.workspace.path().join("models.py"),
        "class User:\n    pass\n",
        0o644,
    );
    let r = h
        .call(
            "delegate_code",
            json!({"task": "hello", "language": "python"}),
        )
        .await;
    assert!(is_error(&r), "{}", text_of(&r));
    let repair = serde_json::to_string(&mock.chats()[1].body).unwrap();
    assert!(repair.contains("No module named 'models'"), "{repair}");
    h.stop().await;
}

/// Issue 18: a command without `{file}` checks the whole staged project and gets no file
/// argument (`tsc --noEmit -p tsconfig.json` refuses one). Here the project's `main.py` calls the
/// candidate: the first candidate breaks the call, and the repair turn carries the checker's
/// message. An inline artifact has no place in the project, so the command does not run for it.
#[tokio::test]
async fn a_project_wide_check_runs_in_the_staged_project_without_a_file_argument() {
    let check = "sh -c 'if [ $# -gt 0 ]; then echo \"given a file argument: $*\"; exit 2; fi; exec python3 -c \"import sys; sys.path.insert(0, \\\".\\\"); import main\"' check";
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("def greet():\n    return 'hi'\n"));
    mock.push(Reply::text("def greet(name):\n    return 'hi ' + name\n"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", check),
        ],
    )
    .await;
    let ws = h.workspace.path().to_path_buf();
    write_mode(
        &ws.join("main.py"),
        "from app import greet\n\nassert greet('ada') == 'hi ada'\n",
        0o644,
    );
    let r = h
        .call(
            "write_file",
            json!({"task": "greet(name) says hi", "output_path": "app.py"}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.contains("· checked: python syntax, sh · 1 repair]"),
        "{text}"
    );
    let repair = serde_json::to_string(&mock.chats()[1].body).unwrap();
    assert!(
        repair.contains("greet() takes 0 positional arguments but 1 was given"),
        "{repair}"
    );
    assert!(!repair.contains("given a file argument"), "{repair}");
    assert!(
        std::fs::read_to_string(ws.join("app.py"))
            .unwrap()
            .contains("def greet(name)")
    );

    mock.push(Reply::text("def greet(name):\n    return name\n"));
    let r = h
        .call(
            "delegate_code",
            json!({"task": "greet", "language": "python"}),
        )
        .await;
    let text = text_of(&r);
    assert!(text.ends_with("· checked: python syntax]"), "{text}");
    let lines = h.stop().await;
    assert_eq!(
        lines[1]["checks"].as_array().unwrap().len(),
        1,
        "{lines:#?}"
    );
}

/// Issue 18: a check that fails, however it scribbles on its staged project (appending to the
/// candidate and to a sibling, writing a new file: refused by the box, or done on copies where
/// there is none), leaves the user's tree byte-identical: contents, modes, no stray file, for a
/// new file and for a rewrite of an existing one.
#[tokio::test]
async fn a_failed_check_leaves_the_users_tree_byte_identical() {
    let check = "sh -c 'exec 2>/dev/null; echo scribble >> \"$0\"; echo scribble >> lib/tool.py; echo stray > stray.txt; echo still wrong; exit 1' {file}";
    // With the box (a shadow of links it keeps read-only) and without (a shadow of copies).
    for unboxed in [false, true] {
        let mock = Mock::start(&["m"]).await;
        mock.always(Reply::text("def f():\n    return 1\n"));
        let env = [
            ("LOCAL_LLM_BASE_URL", mock.url.as_str()),
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", check),
        ];
        let h = if unboxed {
            start_without_landlock(&env).await
        } else {
            Harness::start(&mock, &env).await
        };
        let ws = h.workspace.path().to_path_buf();
        write_mode(&ws.join("app.py"), "def f():\n    return 0\n", 0o640);
        write_mode(&ws.join("lib/tool.py"), "#!/usr/bin/env python3\n", 0o755);
        write_mode(&ws.join("data.json"), "{}\n", 0o444);
        let before = snapshot(&ws);
        let r = h
            .call(
                "delegate_files",
                json!({"files": [
                    {"path": "app.py", "task": "f returns 1"},
                    {"path": "lib/new.py", "task": "a new module"},
                ], "overwrite": true}),
            )
            .await;
        let text = text_of(&r);
        assert_eq!(
            text.matches("DELEGATION_FAILED (invalid_output)").count(),
            2,
            "unboxed {unboxed}: {text}"
        );
        assert!(text.contains("still wrong"), "{text}");
        assert_eq!(
            snapshot(&ws),
            before,
            "unboxed {unboxed}: the user's tree changed"
        );
        h.stop().await;
    }
}

/// Issue 18: in the box, the staged project is hard links to the user's files, and the box keeps
/// the check from writing any of them: a write to a sibling is stopped and is the check's error,
/// and the user's file keeps its bytes.
#[tokio::test]
async fn a_boxed_check_cannot_write_through_the_staged_project() {
    if !boxed_here() {
        eprintln!("no Landlock here: the shadow is copies, nothing to test");
        return;
    }
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("def f():\n    return 1\n"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
            (
                "LOCAL_EXECUTOR_CHECK_PYTHON",
                "sh -c 'echo pwned >> models.py' {file}",
            ),
        ],
    )
    .await;
    let ws = h.workspace.path().to_path_buf();
    write_mode(&ws.join("models.py"), "X = 1\n", 0o644);
    let r = h
        .call("write_file", json!({"task": "f", "output_path": "app.py"}))
        .await;
    let text = text_of(&r);
    assert!(text.contains("· unchecked: sh crashed]"), "{text}");
    assert_eq!(mock.chats().len(), 1, "no repair is asked for");
    assert_eq!(
        std::fs::read_to_string(ws.join("models.py")).unwrap(),
        "X = 1\n"
    );
    h.stop().await;
}

/// Issue 18: a check cancelled mid-run, or a server killed mid-check, leaves the user's tree
/// byte-identical too: the candidate never was in it.
#[tokio::test]
async fn a_cancelled_or_killed_check_leaves_the_users_tree_byte_identical() {
    for kill_server in [false, true] {
        let nonce = format!("1618{}.{}", u8::from(kill_server), std::process::id());
        let check = format!("sh -c 'echo scribble >> \"$0\"; sleep {nonce} & wait' {{file}}");
        let mock = Mock::start(&["m"]).await;
        mock.push(Reply::text("def f():\n    return 1\n"));
        let h = Harness::start(
            &mock,
            &[
                ("LOCAL_LLM_MODEL_QUALITY", "m"),
                ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
                ("LOCAL_EXECUTOR_CHECK_PYTHON", &check),
                ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "600"),
            ],
        )
        .await;
        let ws = h.workspace.path().to_path_buf();
        write_mode(&ws.join("app.py"), "def f():\n    return 0\n", 0o640);
        write_mode(&ws.join("pkg/util.py"), "X = 1\n", 0o600);
        let before = snapshot(&ws);
        let handle = h
            .start_call(
                "write_file",
                json!({"task": "f returns 1", "output_path": "app.py", "overwrite": true}),
            )
            .await;
        let sleep = bounded("the check's child to start", async {
            loop {
                if let Some(pid) = processes_with(&nonce).into_iter().find(|p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .is_ok_and(|c| c.starts_with(b"sleep"))
                }) {
                    return pid;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        if kill_server {
            // The sleep's parent is the check's shell, whose parent is the server.
            let parent = |pid: i32| -> i32 {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
                let after = &stat[stat.rfind(')').unwrap() + 2..];
                after.split(' ').nth(1).unwrap().parse().unwrap()
            };
            let server = parent(parent(sleep));
            assert!(
                std::fs::read(format!("/proc/{server}/cmdline"))
                    .unwrap()
                    .starts_with(common::bin().as_bytes()),
                "{server} is not the server"
            );
            // SAFETY: kill takes two integers; the pid is the server this test started.
            unsafe { libc::kill(server, libc::SIGKILL) };
            assert!(ends(server));
            // The check outlived its server: end it here.
            unsafe { libc::kill(-parent(sleep), libc::SIGKILL) };
            drop(handle);
            // Its staged project stayed in the temporary directory; the next server removes it.
            let prefix = format!("local-executor-check-{server}-");
            let left = || {
                std::fs::read_dir(std::env::temp_dir())
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            };
            assert!(left(), "no folder of the killed server's check");
            let next = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
            bounded("the next server to sweep the folder", async {
                while left() {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
            .await;
            next.stop().await;
        } else {
            handle.cancel(Some("moved on".into())).await.unwrap();
            assert!(ends(sleep), "the check's child {sleep} survived the cancel");
        }
        assert_eq!(snapshot(&ws), before, "kill_server: {kill_server}");
        if !kill_server {
            bounded("the usage line", h.stop()).await;
        }
    }
}

/// Issue 18: two delegations of one call in one workspace are checked side by side, each in a
/// project of its own: both checks are held until both run (the test releases them when it sees
/// both started), then each sees its own candidate only.
#[tokio::test]
async fn concurrent_delegations_check_their_own_candidates_only() {
    let nonce = format!("n{}x", std::process::id());
    let gate = tempfile::tempdir().unwrap();
    let release = gate.path().join("release");
    let check = format!(
        "sh -c 'touch \"$TMPDIR/started-{nonce}\"; until [ -e {} ]; do sleep 0.05; done; n=$(grep -l {nonce} *.py | wc -l); echo \"sees $n: $(grep -l {nonce} *.py)\"; [ \"$n\" = 1 ] && grep -q {nonce} \"$0\"' {{file}}",
        release.display()
    );
    let started = || -> usize {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(format!("work/started-{nonce}")).exists())
            .count()
    };
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(&format!("A = '{nonce}'\n")));
    mock.push(Reply::text(&format!("B = '{nonce}'\n")));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
            ("LOCAL_EXECUTOR_REPAIRS", "0"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", &check),
        ],
    )
    .await;
    let handle = h
        .start_call(
            "delegate_files",
            json!({"files": [
                {"path": "a.py", "task": "A"},
                {"path": "b.py", "task": "B"},
            ]}),
        )
        .await;
    bounded("both checks to start", async {
        while started() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    std::fs::write(&release, "").unwrap();
    let r = bounded("both checks", handle.await_response())
        .await
        .unwrap();
    let rmcp::model::ServerResult::CallToolResult(r) = r else {
        panic!("not a tool result: {r:?}");
    };
    let text = text_of(&r);
    assert!(!text.contains("DELEGATION_FAILED"), "{text}");
    assert_eq!(
        text.matches("checked: python syntax, sh").count(),
        2,
        "{text}"
    );
    let ws = h.workspace.path();
    let landed: Vec<String> = ["a.py", "b.py"]
        .iter()
        .map(|f| std::fs::read_to_string(ws.join(f)).unwrap())
        .collect();
    assert!(landed.iter().all(|t| t.contains(&nonce)), "{landed:?}");
    h.stop().await;
}

/// Issue 18, Rust: `cargo check` as a project-wide check on a fixture crate, where the candidate
/// is a new module file that `lib.rs` already declares and that uses the crate's own type. The
/// first candidate misuses the type, and the repair turn carries rustc's own message.
#[tokio::test]
async fn cargo_check_sees_a_new_module_at_its_path() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(
        "use crate::User;\n\npub fn greet(u: &User) -> String {\n    format!(\"hi {}\", u.nick)\n}\n",
    ));
    mock.push(Reply::text(
        "use crate::User;\n\npub fn greet(u: &User) -> String {\n    format!(\"hi {}\", u.name)\n}\n",
    ));
    let mut env: Vec<(&str, String)> = vec![
        ("LOCAL_LLM_MODEL_QUALITY", "m".into()),
        ("LOCAL_EXECUTOR_ALLOW_WRITE", "1".into()),
        (
            "LOCAL_EXECUTOR_CHECK_RUST",
            "cargo check --offline --quiet".into(),
        ),
        ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "600".into()),
        ("LOCAL_LLM_TIMEOUT", "900".into()),
    ];
    // cargo and rustup find their toolchain through these.
    for k in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Ok(v) = std::env::var(k) {
            env.push((k, v));
        }
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let h = Harness::start(&mock, &env).await;
    let ws = h.workspace.path().to_path_buf();
    write_mode(
        &ws.join("Cargo.toml"),
        "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
        0o644,
    );
    // A crate's lock file is part of it; cargo would write a missing one into the project.
    write_mode(
        &ws.join("Cargo.lock"),
        "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n\n[[package]]\nname = \"fixture\"\nversion = \"0.1.0\"\n",
        0o644,
    );
    write_mode(
        &ws.join("src/lib.rs"),
        "mod greet;\npub use greet::greet;\n\npub struct User {\n    pub name: String,\n}\n",
        0o644,
    );
    let r = bounded(
        "cargo check twice",
        h.call(
            "write_file",
            json!({"task": "greet(u) says hi to the user by name", "output_path": "src/greet.rs"}),
        ),
    )
    .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.contains("· checked: rust syntax, cargo · 1 repair]"),
        "{text}"
    );
    let repair = serde_json::to_string(&mock.chats()[1].body).unwrap();
    assert!(
        repair.contains("no field `nick` on type `&User`") && repair.contains("src/greet.rs"),
        "{repair}"
    );
    assert!(!ws.join("target").exists(), "cargo wrote into the project");
    h.stop().await;
}

/// `tsc` for the TypeScript test: `LEX_TSC`, else the one `tests/e2e/run.sh` installs into
/// `.cache/npm`; `None` when neither is there.
fn tsc() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("LEX_TSC")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/npm/node_modules/.bin/tsc")
        });
    path.is_file().then_some(path)
}

/// Issue 18, TypeScript: `tsc --noEmit -p tsconfig.json` as a project-wide check (it refuses a
/// file argument with `-p`: TS5042), on a fixture project whose `tsconfig.json` and sibling
/// `types.ts` the candidate needs. The first candidate misuses the imported type; the repair turn
/// carries the compiler's TS2339 line, and the repaired file lands.
#[tokio::test]
async fn tsc_checks_the_candidate_against_the_projects_types() {
    let Some(tsc) = tsc() else {
        // scripts/test.sh installs tsc first and sets LEX_REQUIRE_TSC: there, a missing tsc fails.
        assert!(
            std::env::var_os("LEX_REQUIRE_TSC").is_none(),
            "LEX_REQUIRE_TSC is set and there is no tsc at LEX_TSC or .cache/npm"
        );
        eprintln!("no tsc (set LEX_TSC, or run tests/e2e/run.sh once): nothing to test");
        return;
    };
    let wrong = "import { User } from \"./types\";\n\nexport function greet(u: User): string {\n  return \"hi \" + u.fullName;\n}\n";
    let right = "import { User } from \"./types\";\n\nexport function greet(u: User): string {\n  return \"hi \" + u.name;\n}\n";
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(wrong));
    mock.push(Reply::text(right));
    let check = format!("{} --noEmit -p tsconfig.json", tsc.display());
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
            ("LOCAL_EXECUTOR_CHECK_TYPESCRIPT", &check),
            ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "600"),
            ("LOCAL_LLM_TIMEOUT", "900"),
        ],
    )
    .await;
    let ws = h.workspace.path().to_path_buf();
    write_mode(
        &ws.join("tsconfig.json"),
        "{\"compilerOptions\": {\"strict\": true, \"noEmit\": true, \"target\": \"es2020\", \"module\": \"commonjs\"}, \"include\": [\"src\"]}\n",
        0o644,
    );
    write_mode(
        &ws.join("src/types.ts"),
        "export interface User {\n  id: number;\n  name: string;\n}\n",
        0o644,
    );
    let r = bounded(
        "tsc twice",
        h.call(
            "write_file",
            json!({"task": "greet(u: User) says hi by name", "output_path": "src/greet.ts"}),
        ),
    )
    .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.contains("· checked: typescript syntax, tsc · 1 repair]"),
        "{text}"
    );
    let repair = serde_json::to_string(&mock.chats()[1].body).unwrap();
    assert!(
        repair.contains("src/greet.ts(4,")
            && repair.contains("error TS2339: Property 'fullName' does not exist on type 'User'."),
        "{repair}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("src/greet.ts")).unwrap(),
        right
    );
    h.stop().await;
}
