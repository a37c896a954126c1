//! The `delegate` subcommand from a shell: the artifact on stdout, the footer on stderr, exit 3
//! on DELEGATION_FAILED, one usage line either way.

mod common;

use common::{Mock, Reply};
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    usage: Vec<Value>,
}

async fn delegate(mock: &Mock, args: &[&str]) -> Run {
    delegate_with_log(mock, args, true).await
}

/// `delegate` run as a person would: no `LOCAL_EXECUTOR_LOG`, stderr not a terminal.
async fn delegate_as_a_person(mock: &Mock, args: &[&str]) -> Run {
    delegate_with_log(mock, args, false).await
}

async fn delegate_with_log(mock: &Mock, args: &[&str], quiet_log: bool) -> Run {
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(common::bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(
            common::base_env(&mock.url, home.path(), workspace.path())
                .into_iter()
                .filter(|(k, _)| quiet_log || k != "LOCAL_EXECUTOR_LOG"),
        )
        .env("LOCAL_LLM_MODEL_QUALITY", "m")
        .arg("delegate")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        usage: common::read_usage(&home.path().join("usage.jsonl")),
    }
}

#[tokio::test]
async fn delegate_prints_the_artifact_on_stdout_and_the_footer_on_stderr() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("```python\ndef f():\n    return 1\n```"));
    let run = delegate(&mock, &["--language", "python", "write f"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "def f():\n    return 1\n");
    assert!(
        run.stderr.starts_with("[local-executor ok · quality · ~"),
        "{}",
        run.stderr
    );
    assert_eq!(mock.chats()[0].body["messages"][1]["content"], "write f");
    assert_eq!(run.usage.len(), 1);
    assert_eq!(run.usage[0]["tool"], "delegate");
    assert_eq!(run.usage[0]["client"], "cli");
    assert_eq!(run.usage[0]["ok"], true);
}

#[tokio::test]
async fn a_failed_delegation_exits_3_with_the_reason_on_stderr_and_nothing_on_stdout() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::status(
        500,
        r#"{"error":{"message":"CUDA out of memory"}}"#,
    ));
    let run = delegate(&mock, &["write f"]).await;
    assert_eq!(run.code, 3);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("DELEGATION_FAILED (http_error): "),
        "{}",
        run.stderr
    );
    assert_eq!(run.usage.len(), 1);
    assert_eq!(run.usage[0]["reason"], "http_error");
}

#[test]
fn a_usage_error_does_not_show_the_environments_settings_as_required_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_local-executor-mcp"))
        .arg("delegate")
        .env("LOCAL_LLM_BASE_URL", "http://127.0.0.1:9/v1")
        .env("LOCAL_LLM_MODEL_QUALITY", "some-model")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Usage: local-executor-mcp delegate [OPTIONS] <TASK>"),
        "{err}"
    );
    assert!(!err.contains("--base-url"), "{err}");
    assert!(!err.contains("--model-quality"), "{err}");
}

#[tokio::test]
async fn the_command_line_shows_warnings_only_unless_asked_and_no_colour_codes_in_a_file() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::status(503, r#"{"error":{"message":"loading"}}"#));
    mock.push(Reply::text("def f():\n    return 1\n"));
    let run = delegate_as_a_person(&mock, &["--language", "python", "write f"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.usage[0]["attempts"], 2, "the retry happened");
    assert!(
        run.stderr.starts_with("[local-executor ok"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);

    mock.push(Reply::status(503, r#"{"error":{"message":"loading"}}"#));
    mock.push(Reply::text("def f():\n    return 1\n"));
    let run = delegate_as_a_person(&mock, &["-v", "--language", "python", "write f"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
}

#[tokio::test]
async fn overwrite_from_the_shell_rewrites_an_existing_file_from_its_text() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("a = 1\nb = 3\n"));
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("m.py"), "a = 1\r\nb = 2\r\n").unwrap();
    let out = tokio::process::Command::new(common::bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(common::base_env(&mock.url, home.path(), workspace.path()))
        .env("LOCAL_LLM_MODEL_QUALITY", "m")
        .env("LOCAL_EXECUTOR_ALLOW_WRITE", "1")
        .args(["delegate", "--output-path", "m.py", "--overwrite", "b is 3"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("edited m.py · +1 −1 lines\n"),
        "{stdout}"
    );
    let user = mock.chats()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(user.contains("b = 2"), "the file is in the prompt: {user}");
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("m.py")).unwrap(),
        "a = 1\r\nb = 3\r\n"
    );
    let usage = common::read_usage(&home.path().join("usage.jsonl"));
    assert_eq!(usage[0]["disk_chars"], "b = 3\r\n".len());
}

#[tokio::test]
async fn command_line_errors_speak_of_flags_not_tool_arguments() {
    let mock = Mock::start(&["m"]).await;
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("m.py"), "a = 1\n").unwrap();
    let run = |extra: &'static [(&'static str, &'static str)], args: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(common::bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(common::base_env(&mock.url, home.path(), workspace.path()))
            .env("LOCAL_LLM_MODEL_QUALITY", "m")
            .envs(extra.iter().copied())
            .arg("delegate")
            .args(args)
            .stdin(std::process::Stdio::null());
        async move { cmd.output().await.unwrap() }
    };
    let out = run(&[], &["--output-path", "new.py", "write f"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("pass --allow-write"), "{err}");
    assert!(!err.contains("start the server"), "{err}");

    let out = run(
        &[("LOCAL_EXECUTOR_ALLOW_WRITE", "1")],
        &["--output-path", "m.py", "write f"],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("pass --overwrite"), "{err}");
    assert!(!err.contains("overwrite: true"), "{err}");
    assert!(mock.chats().is_empty(), "refused before any generation");
}
