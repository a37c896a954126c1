//! `init` in a project: the real binary, run in a temp directory, with the backend probed on the
//! mock server (or on a closed port). Each test checks the files on disk byte for byte where it
//! matters, what the command printed, and that a refusal leaves every file as it was.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use common::{Mock, bin};
use serde_json::{Value, json};

const QUALITY: &str = "qwen3-coder-30b";
const OTHER: &str = "smollm2-135m";
const BEGIN: &str = "<!-- local-executor-mcp:begin -->";
const RULES: [&str; 3] = [
    "mcp__local-executor__delegate_code",
    "mcp__local-executor__delegate_files",
    "mcp__local-executor__list_local_models",
];
const END: &str = "<!-- local-executor-mcp:end -->";

/// A temp directory holding the project (and room beside it for what lies outside).
struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    /// A fresh project: a directory with a `.git` folder.
    fn project() -> Setup {
        let s = Setup::bare();
        std::fs::create_dir(s.dir().join(".git")).unwrap();
        s
    }

    /// A directory that is no project at all.
    fn bare() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("project")).unwrap();
        std::fs::create_dir(tmp.path().join("home")).unwrap();
        Setup { tmp }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("project")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn write(&self, name: &str, text: &str) {
        if let Some(dir) = self.path(name).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(self.path(name), text).unwrap();
    }

    /// Every file and folder of the project (outside `.git`, through its subfolders) with its
    /// bytes; a folder or a symlink to one holds none.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(dir: &std::path::Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = format!("{prefix}{}", e.file_name().to_string_lossy());
                if name == ".git" {
                    continue;
                }
                let kind = e.file_type().unwrap();
                if kind.is_dir() {
                    out.insert(format!("{name}/"), Vec::new());
                    walk(&e.path(), &format!("{name}/"), out);
                } else {
                    out.insert(name, std::fs::read(e.path()).unwrap_or_default());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.dir(), "", &mut out);
        out
    }

    /// Runs `init` in the project with a hermetic environment.
    async fn init(&self, base_url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.env_clear()
            .current_dir(self.dir())
            .env("LOCAL_LLM_BASE_URL", base_url)
            .env("LOCAL_EXECUTOR_HOME", self.tmp.path().join("home"))
            .env("LOCAL_EXECUTOR_LOG", "off")
            .env("LOCAL_LLM_CONNECT_TIMEOUT", "2")
            .arg("init")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().await.unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A base URL where nothing listens: a port just released.
fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/v1", l.local_addr().unwrap())
}

fn expected_server(base_url: &str, quality: &str, fast: &str) -> Value {
    json!({
        "command": "local-executor-mcp",
        "args": ["serve"],
        "env": {
            "LOCAL_LLM_BASE_URL": format!("${{LOCAL_LLM_BASE_URL:-{base_url}}}"),
            "LOCAL_LLM_MODEL_QUALITY": format!("${{LOCAL_LLM_MODEL_QUALITY:-{quality}}}"),
            "LOCAL_LLM_MODEL_FAST": format!("${{LOCAL_LLM_MODEL_FAST:-{fast}}}"),
            "LOCAL_LLM_API_KEY": "${LOCAL_LLM_API_KEY:-}",
            "LOCAL_EXECUTOR_ALLOW_WRITE": "${LOCAL_EXECUTOR_ALLOW_WRITE:-1}",
        }
    })
}

fn assert_one_section(text: &str) {
    assert_eq!(text.matches(BEGIN).count(), 1, "{text}");
    assert_eq!(text.matches(END).count(), 1, "{text}");
    let section = &text[text.find(BEGIN).unwrap()..text.find(END).unwrap()];
    for needed in [
        "delegate_files",
        "delegate_code",
        "context_files",
        "receipt",
        "DELEGATION_FAILED",
    ] {
        assert!(section.contains(needed), "no {needed} in:\n{section}");
    }
}

fn assert_refused(o: &Output, words: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
    let err = stderr(o);
    for w in words {
        assert!(err.contains(w), "no `{w}` in:\n{err}");
    }
    assert!(err.contains("nothing was written"), "{err}");
}

#[tokio::test]
async fn init_in_an_empty_project_writes_the_server_the_sections_and_prints_codex() {
    let mock = Mock::start(&[QUALITY, OTHER]).await;
    let s = Setup::project();
    let o = s.init(&mock.url, &[], &[]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let mcp: Value = serde_json::from_str(&s.read(".mcp.json")).unwrap();
    assert_eq!(
        mcp,
        json!({"mcpServers": {"local-executor": expected_server(&mock.url, QUALITY, QUALITY)}})
    );
    assert!(
        mock.seen().iter().any(|r| r.path == "/v1/models"),
        "the backend was not probed"
    );
    for name in ["CLAUDE.md", "AGENTS.md"] {
        let text = s.read(name);
        assert!(text.starts_with(BEGIN), "{text}");
        assert_one_section(&text);
    }

    let out = stdout(&o);
    for line in [
        "created .mcp.json",
        "created CLAUDE.md",
        "created AGENTS.md",
        "[mcp_servers.local-executor]",
        "command = \"local-executor-mcp\"",
        "args = [\"serve\"]",
        "tool_timeout_sec = 960",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
    let env_line = out.lines().find(|l| l.starts_with("env = {")).unwrap();
    assert!(
        env_line.contains(&format!("LOCAL_LLM_BASE_URL = \"{}\"", mock.url))
            && env_line.contains(&format!("LOCAL_LLM_MODEL_QUALITY = \"{QUALITY}\""))
            && env_line.contains("LOCAL_EXECUTOR_ALLOW_WRITE = \"1\""),
        "{env_line}"
    );
    // The Codex block parses as TOML, with the timeout covering a whole call (900 s), a check
    // started before its end (30 s) and a margin, and the server's tools approved.
    let block = &out[out.find("[mcp_servers.local-executor]").unwrap()..];
    let toml: toml::Table = block.parse().unwrap();
    let server = &toml["mcp_servers"]["local-executor"];
    assert_eq!(server["tool_timeout_sec"].as_integer(), Some(960));
    assert_eq!(
        server["default_tools_approval_mode"].as_str(),
        Some("approve")
    );
    assert!(server.get("tools").is_none(), "{block}");
    // Claude Code may call the three tools without asking.
    let settings: Value = serde_json::from_str(&s.read(".claude/settings.json")).unwrap();
    assert_eq!(settings, json!({"permissions": {"allow": RULES}}));
    assert!(out.contains("created .claude/settings.json"), "{out}");
    assert_eq!(
        server["env"]["LOCAL_LLM_MODEL_FAST"].as_str(),
        Some(QUALITY)
    );
}

#[tokio::test]
async fn init_keeps_other_servers_keys_and_text_as_they_were() {
    let mock = Mock::start(&[QUALITY, OTHER]).await;
    let s = Setup::project();
    s.write(
        ".mcp.json",
        r#"{
  "zeta": {"kept": [1, 2.5, null, true]},
  "mcpServers": {
    "other": {"command": "other-server", "args": ["--x"], "env": {"A": "b"}},
    "local-executor": {"command": "${CLAUDE_PROJECT_DIR:-.}/tools/local-executor-mcp/local-executor-mcp", "timeout": 600000, "env": {"MINE": "1", "LOCAL_LLM_BASE_URL": "x"}}
  },
  "alpha": "last"
}
"#,
    );
    s.write("CLAUDE.md", "# Rules\n\nUse tabs.");
    let o = s
        .init(&mock.url, &[], &[("LOCAL_LLM_MODEL_FAST", OTHER)])
        .await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let text = s.read(".mcp.json");
    let mcp: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(mcp["zeta"], json!({"kept": [1, 2.5, null, true]}));
    assert_eq!(mcp["alpha"], "last");
    assert_eq!(
        mcp["mcpServers"]["other"],
        json!({"command": "other-server", "args": ["--x"], "env": {"A": "b"}})
    );
    // Our entry gets what it lacks; what the user added to it stays, and so do a command that
    // runs the binary from the repository and a base URL the team fixed.
    let mut want = expected_server(&mock.url, QUALITY, OTHER);
    want["command"] = json!("${CLAUDE_PROJECT_DIR:-.}/tools/local-executor-mcp/local-executor-mcp");
    want["timeout"] = json!(600000);
    want["env"]["MINE"] = json!("1");
    want["env"]["LOCAL_LLM_BASE_URL"] = json!("x");
    assert_eq!(mcp["mcpServers"]["local-executor"], want);
    // The file's key order is kept.
    let at = |k: &str| text.find(k).unwrap();
    assert!(at("\"zeta\"") < at("\"mcpServers\"") && at("\"mcpServers\"") < at("\"alpha\""));
    assert!(at("\"other\"") < at("\"local-executor\""));
    let ours = &text[at("\"local-executor\"")..];
    let at = |k: &str| ours.find(k).unwrap();
    assert!(at("\"command\"") < at("\"timeout\"") && at("\"timeout\"") < at("\"args\""));

    let claude = s.read("CLAUDE.md");
    assert!(
        claude.starts_with("# Rules\n\nUse tabs.\n\n<!-- local-executor-mcp:begin -->\n"),
        "{claude}"
    );
    assert_one_section(&claude);
    let out = stdout(&o);
    assert!(
        out.contains("updated .mcp.json (args `[\"serve\"]` added, LOCAL_LLM_MODEL_QUALITY added, LOCAL_LLM_MODEL_FAST added, LOCAL_LLM_API_KEY added, LOCAL_EXECUTOR_ALLOW_WRITE added; kept as the team set them: LOCAL_LLM_BASE_URL)"),
        "{out}"
    );
    assert!(!out.contains("everything else kept"), "{out}");
    assert!(out.contains("updated CLAUDE.md"), "{out}");
}

#[tokio::test]
async fn init_twice_changes_nothing_the_second_time() {
    let mock = Mock::start(&[QUALITY]).await;
    let s = Setup::project();
    s.write("AGENTS.md", "# Agents\r\n\r\nBe brief.\r\n");
    let first = s.init(&mock.url, &[], &[]).await;
    assert!(first.status.success(), "{}", stderr(&first));
    let after_first = s.snapshot();
    let second = s.init(&mock.url, &[], &[]).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(s.snapshot(), after_first);
    let out = stdout(&second);
    for name in [
        ".mcp.json",
        ".claude/settings.json",
        "CLAUDE.md",
        "AGENTS.md",
    ] {
        assert!(out.contains(&format!("unchanged {name}\n")), "{out}");
        assert_one_section_or_json(&s, name);
    }
    // The section follows the file's CRLF line endings.
    let agents = s.read("AGENTS.md");
    assert!(
        agents.starts_with("# Agents\r\n\r\nBe brief.\r\n\r\n"),
        "{agents:?}"
    );
    assert!(!agents.replace("\r\n", "").contains('\n'), "{agents:?}");

    // An older section is replaced in place, text around it kept.
    let old = s.read("CLAUDE.md");
    let end = old.find(END).unwrap();
    s.write(
        "CLAUDE.md",
        &format!(
            "# Top\n\n{BEGIN}\nold advice\n{}\n## Bottom\n",
            &old[end..].trim_end()
        ),
    );
    let third = s.init(&mock.url, &[], &[]).await;
    assert!(third.status.success(), "{}", stderr(&third));
    let claude = s.read("CLAUDE.md");
    assert!(!claude.contains("old advice"), "{claude}");
    assert!(
        claude.starts_with(&format!("# Top\n\n{BEGIN}\n")),
        "{claude}"
    );
    assert!(claude.ends_with(&format!("{END}\n## Bottom\n")), "{claude}");
    assert_one_section(&claude);
}

fn assert_one_section_or_json(s: &Setup, name: &str) {
    let text = s.read(name);
    if name.ends_with(".json") {
        serde_json::from_str::<Value>(&text).unwrap();
    } else {
        assert_one_section(&text);
    }
}

#[tokio::test]
async fn dry_run_shows_the_changes_and_writes_nothing() {
    let mock = Mock::start(&[QUALITY]).await;
    let s = Setup::project();
    s.write("CLAUDE.md", "# Rules\n");
    let before = s.snapshot();
    let o = s.init(&mock.url, &["--dry-run"], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s.snapshot(), before);
    let out = stdout(&o);
    for line in [
        "dry run: nothing is written",
        "would create .mcp.json",
        "would update CLAUDE.md",
        "would create AGENTS.md",
        "--- a/CLAUDE.md",
        "+++ b/CLAUDE.md",
        " # Rules",
        &format!("+{BEGIN}"),
        "+++ b/.mcp.json",
        "+      \"command\": \"local-executor-mcp\",",
        "tool_timeout_sec = 960",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
}

#[tokio::test]
async fn a_malformed_mcp_json_is_refused_and_nothing_is_written() {
    let s = Setup::project();
    s.write(".mcp.json", "{\"mcpServers\": {\"other\": {}},");
    s.write("CLAUDE.md", "# Rules\n");
    let before = s.snapshot();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert_refused(&o, &[".mcp.json", "is not valid JSON"]);
    assert_eq!(s.snapshot(), before);

    // Valid JSON of the wrong shape is refused the same way.
    s.write(".mcp.json", "{\"mcpServers\": []}");
    let before = s.snapshot();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert_refused(&o, &[".mcp.json", "`mcpServers` is not an object"]);
    assert_eq!(s.snapshot(), before);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_claude_md_leading_out_of_the_project_is_refused() {
    let s = Setup::project();
    let outside = s.tmp.path().join("outside.md");
    std::fs::write(&outside, "# Someone else's\n").unwrap();
    std::os::unix::fs::symlink(&outside, s.path("CLAUDE.md")).unwrap();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert_refused(&o, &["CLAUDE.md", "outside the project"]);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "# Someone else's\n"
    );
    assert!(!s.path(".mcp.json").exists());
    assert!(!s.path("AGENTS.md").exists());

    // A link that stays inside the project is followed, and stays a link.
    std::fs::remove_file(s.path("CLAUDE.md")).unwrap();
    s.write("RULES.md", "# Rules\n");
    std::os::unix::fs::symlink("RULES.md", s.path("CLAUDE.md")).unwrap();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(s.path("CLAUDE.md"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_one_section(&s.read("RULES.md"));
}

#[cfg(unix)]
#[tokio::test]
async fn a_read_only_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::project();
    s.write("AGENTS.md", "# Agents\n");
    std::fs::set_permissions(s.path("AGENTS.md"), std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = s.snapshot();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert_refused(&o, &["AGENTS.md", "read-only"]);
    assert_eq!(s.snapshot(), before);
}

#[tokio::test]
async fn a_directory_that_is_no_project_is_refused_unless_forced() {
    let s = Setup::bare();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert_refused(&o, &["does not look like a project", "--force"]);
    assert!(s.snapshot().is_empty());

    let o = s.init(&closed_url(), &["--force"], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_one_section(&s.read("CLAUDE.md"));
}

#[tokio::test]
async fn an_unreachable_backend_leaves_the_configured_settings_with_a_note() {
    let s = Setup::project();
    let url = closed_url();
    let o = s
        .init(
            &url,
            &[],
            &[
                ("LOCAL_LLM_MODEL_QUALITY", "my-coder"),
                ("LOCAL_LLM_API_KEY", "sekrit"),
            ],
        )
        .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let mcp: Value = serde_json::from_str(&s.read(".mcp.json")).unwrap();
    assert_eq!(
        mcp["mcpServers"]["local-executor"],
        expected_server(&url, "my-coder", "")
    );
    let out = stdout(&o);
    assert!(out.contains("did not answer"), "{out}");
    assert!(out.contains("local-executor-mcp doctor"), "{out}");
    // The key reaches neither the file nor the printed block; Codex is told to pass it through.
    assert!(!out.contains("sekrit") && !s.read(".mcp.json").contains("sekrit"));
    assert!(out.contains("env_vars = [\"LOCAL_LLM_API_KEY\"]"), "{out}");
}

/// A team's entry as the review found it: flags in `args`, writing switched off, the team's own
/// key variable, four-space indentation, one-line arrays.
const TEAM_MCP_JSON: &str = r#"{
    "mcpServers": {
        "local-executor": {
            "command": "local-executor-mcp",
            "args": ["serve", "--check", "python=ruff check --select E9,F {file}", "--protected", "deploy/"],
            "env": {
                "LOCAL_LLM_BASE_URL": "${LOCAL_LLM_BASE_URL:-http://127.0.0.1:9/v1}",
                "LOCAL_LLM_API_KEY": "${TEAM_LLM_KEY}",
                "LOCAL_EXECUTOR_ALLOW_WRITE": "0"
            }
        }
    }
}
"#;

#[tokio::test]
async fn init_keeps_a_teams_args_switch_key_variable_and_indentation() {
    let mock = Mock::start(&[QUALITY]).await;
    let s = Setup::project();
    s.write(".mcp.json", TEAM_MCP_JSON);

    // The dry run's diff shows exactly the changes: the refreshed default and two added keys,
    // nothing removed or re-indented.
    let o = s.init(&mock.url, &["--dry-run"], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let hunk = &out[out.find("--- a/.mcp.json").unwrap()..];
    let hunk = &hunk[..hunk.find("would ").unwrap()];
    let changed: Vec<&str> = hunk
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        changed,
        [
            "-                \"LOCAL_LLM_BASE_URL\": \"${LOCAL_LLM_BASE_URL:-http://127.0.0.1:9/v1}\",".to_string(),
            format!("+                \"LOCAL_LLM_BASE_URL\": \"${{LOCAL_LLM_BASE_URL:-{}}}\",", mock.url),
            "-                \"LOCAL_EXECUTOR_ALLOW_WRITE\": \"0\"".into(),
            "+                \"LOCAL_EXECUTOR_ALLOW_WRITE\": \"0\",".into(),
            format!("+                \"LOCAL_LLM_MODEL_QUALITY\": \"${{LOCAL_LLM_MODEL_QUALITY:-{QUALITY}}}\","),
            format!("+                \"LOCAL_LLM_MODEL_FAST\": \"${{LOCAL_LLM_MODEL_FAST:-{QUALITY}}}\""),
        ],
        "{out}"
    );
    assert!(
        out.contains("would update .mcp.json (LOCAL_LLM_BASE_URL default updated to what the backend serves, LOCAL_LLM_MODEL_QUALITY added, LOCAL_LLM_MODEL_FAST added; kept as the team set them: LOCAL_LLM_API_KEY, LOCAL_EXECUTOR_ALLOW_WRITE=\"0\")"),
        "{out}"
    );
    assert!(!out.contains("everything else kept"), "{out}");

    let o = s.init(&mock.url, &[], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let want = TEAM_MCP_JSON
        .replace("http://127.0.0.1:9/v1", &mock.url)
        .replace(
            "\"0\"\n",
            &format!(
                "\"0\",\n                \"LOCAL_LLM_MODEL_QUALITY\": \"${{LOCAL_LLM_MODEL_QUALITY:-{QUALITY}}}\",\n                \"LOCAL_LLM_MODEL_FAST\": \"${{LOCAL_LLM_MODEL_FAST:-{QUALITY}}}\"\n"
            ),
        );
    assert_eq!(s.read(".mcp.json"), want);
    // Run again: nothing left to change.
    let before = s.snapshot();
    let o = s.init(&mock.url, &[], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s.snapshot(), before);
    assert!(stdout(&o).contains("unchanged .mcp.json (kept as the team set them: LOCAL_LLM_API_KEY, LOCAL_EXECUTOR_ALLOW_WRITE=\"0\")"), "{}", stdout(&o));
}

#[tokio::test]
async fn init_follows_a_tab_indented_file_and_adds_a_missing_entry_in_its_style() {
    let s = Setup::project();
    s.write(
        ".mcp.json",
        "{\r\n\t\"mcpServers\": {\r\n\t\t\"other\": {\"command\": \"x\"}\r\n\t}\r\n}",
    );
    let url = closed_url();
    let o = s.init(&url, &[], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let text = s.read(".mcp.json");
    assert!(
        text.starts_with("{\r\n\t\"mcpServers\": {\r\n\t\t\"other\": {\"command\": \"x\"},\r\n\t\t\"local-executor\": {\r\n\t\t\t\"command\": \"local-executor-mcp\",\r\n\t\t\t\"args\": [\r\n\t\t\t\t\"serve\"\r\n\t\t\t],\r\n"),
        "{text:?}"
    );
    assert!(text.ends_with("\r\n\t\t}\r\n\t}\r\n}"), "{text:?}");
    assert!(!text.replace("\r\n", "").contains('\n'), "{text:?}");
    let mcp: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        mcp["mcpServers"]["local-executor"],
        expected_server(&url, "", "")
    );
}

#[tokio::test]
async fn init_adds_the_permission_rules_and_keeps_the_projects_own() {
    let s = Setup::project();
    let settings = "{\n    \"model\": \"opus\",\n    \"permissions\": {\n        \"allow\": [\n            \"Bash(cargo test:*)\",\n            \"mcp__local-executor__list_local_models\"\n        ],\n        \"deny\": [\"Read(./.env)\"]\n    },\n    \"env\": {\"A\": \"b\"}\n}\n";
    s.write(".claude/settings.json", settings);
    s.write(
        ".claude/settings.local.json",
        "{\"permissions\": {\"allow\": []}}",
    );
    let o = s.init(&closed_url(), &[], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        s.read(".claude/settings.json"),
        settings.replace(
            "list_local_models\"\n",
            "list_local_models\",\n            \"mcp__local-executor__delegate_code\",\n            \"mcp__local-executor__delegate_files\"\n"
        )
    );
    // The user-local file is Claude Code's own to write.
    assert_eq!(
        s.read(".claude/settings.local.json"),
        "{\"permissions\": {\"allow\": []}}"
    );
    let out = stdout(&o);
    assert!(
        out.contains("updated .claude/settings.json (Claude Code may call delegate_code, delegate_files without asking)"),
        "{out}"
    );
    // A rerun changes nothing.
    let before = s.snapshot();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(s.snapshot(), before);
    assert!(
        stdout(&o).contains("unchanged .claude/settings.json\n"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test]
async fn without_write_permission_delegate_files_is_left_to_ask() {
    let s = Setup::project();
    let o = s.init(&closed_url(), &["--no-write-permission"], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let settings: Value = serde_json::from_str(&s.read(".claude/settings.json")).unwrap();
    assert_eq!(
        settings,
        json!({"permissions": {"allow": [RULES[0], RULES[2]]}})
    );
    let out = stdout(&o);
    let block = &out[out.find("[mcp_servers.local-executor]").unwrap()..];
    let toml: toml::Table = block.parse().unwrap();
    let server = &toml["mcp_servers"]["local-executor"];
    assert_eq!(
        server["tools"]["delegate_files"]["approval_mode"].as_str(),
        Some("prompt")
    );
    // An allow rule already there is the project's: kept, and said.
    s.write(
        ".claude/settings.json",
        &format!("{{\"permissions\": {{\"allow\": [\"{}\"]}}}}", RULES[1]),
    );
    let o = s.init(&closed_url(), &["--no-write-permission"], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("delegate_files stays allowed by a rule already there"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test]
async fn malformed_claude_settings_are_refused_and_nothing_is_written() {
    let s = Setup::project();
    s.write("CLAUDE.md", "# Rules\n");
    for bad in [
        (
            "{\"permissions\": {\"allow\": [\"x\",]}}",
            "is not valid JSON",
        ),
        ("[1]", "is not a JSON object"),
        (
            "{\"permissions\": {\"allow\": \"mcp__local-executor\"}}",
            "`permissions.allow` is not an array",
        ),
        ("{\"permissions\": true}", "`permissions` is not an object"),
    ] {
        s.write(".claude/settings.json", bad.0);
        let before = s.snapshot();
        let o = s.init(&closed_url(), &[], &[]).await;
        assert_refused(&o, &[".claude/settings.json", bad.1]);
        assert_eq!(s.snapshot(), before);
        assert!(!s.path(".mcp.json").exists());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn claude_settings_through_a_symlink_out_of_the_project_are_refused() {
    let s = Setup::project();
    let outside = s.tmp.path().join("elsewhere");
    std::fs::create_dir(&outside).unwrap();
    // The folder itself leads out.
    std::os::unix::fs::symlink(&outside, s.path(".claude")).unwrap();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert_refused(&o, &[".claude/settings.json", "outside the project"]);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!s.path(".mcp.json").exists() && !s.path("CLAUDE.md").exists());

    // The file leads out.
    std::fs::remove_file(s.path(".claude")).unwrap();
    std::fs::create_dir(s.path(".claude")).unwrap();
    std::fs::write(outside.join("settings.json"), "{}").unwrap();
    std::os::unix::fs::symlink(
        outside.join("settings.json"),
        s.path(".claude/settings.json"),
    )
    .unwrap();
    let o = s.init(&closed_url(), &[], &[]).await;
    assert_refused(&o, &[".claude/settings.json", "outside the project"]);
    assert_eq!(
        std::fs::read_to_string(outside.join("settings.json")).unwrap(),
        "{}"
    );
}

#[tokio::test]
async fn init_says_when_the_binary_is_not_on_path() {
    let s = Setup::project();
    let o = s.init(&closed_url(), &["--dry-run"], &[]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("note: local-executor-mcp is not on PATH, and .mcp.json runs it by that name"),
        "{out}"
    );
    // Run from this checkout's target/, it names the checkout to install from.
    let checkout = env!("CARGO_MANIFEST_DIR");
    assert!(
        out.contains(&format!("Run: cargo install --locked --path {checkout}")),
        "{out}"
    );

    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::write(bin_dir.path().join("local-executor-mcp"), "").unwrap();
    let o = s
        .init(
            &closed_url(),
            &["--dry-run"],
            &[("PATH", bin_dir.path().to_str().unwrap())],
        )
        .await;
    assert!(!stdout(&o).contains("not on PATH"), "{}", stdout(&o));
}
