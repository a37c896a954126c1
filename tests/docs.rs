//! Every shell command that README.md and docs/*.md show is run by a test: a documented command
//! that no test runs is one that will rot.
//!
//! The commands are read out of the Markdown: every line of a fenced block marked `sh`, `bash`,
//! `shell` or `zsh` (a `\` at the end joins the next line, a ` # comment` is dropped), the
//! `$ command` lines of a `console` or unmarked block (an output sample), and the lines of an
//! unmarked block that start with `local-executor-mcp ` (a list of this binary's invocations).
//! Each one, whitespace collapsed, must be in [`REGISTRY`], which says who runs it:
//!
//! - [`Cover::Here`]: a test in this file runs it as written, through `sh -c` with the binary on
//!   `PATH`, in a scratch folder, against the mock backend, and checks its exit code and a phrase
//!   of the output the docs show;
//! - [`Cover::Test`]: a test elsewhere runs it (the end-to-end suite, against the real model
//!   server, for what needs one); the entry names the file, the test, and a piece of what the test
//!   runs, and both must be found there;
//! - [`Cover::Ci`]: CI runs it (`.ci/run`), found there or in what it runs;
//! - [`Cover::NotRun`]: nothing here can run it, and the entry says why.
//!
//! A registry entry the docs no longer show fails too, so the registry follows the docs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::{Mock, Reply};
use serde_json::{Value, json};

enum Cover {
    /// Run by this test of this file.
    Here(&'static str),
    /// Run by the test `name` in `file`, whose source holds `runs`.
    Test {
        file: &'static str,
        name: &'static str,
        runs: &'static str,
    },
    /// Run by CI: `.ci/run`, or the script it runs, holds `runs`.
    Ci {
        file: &'static str,
        runs: &'static str,
    },
    /// Run by no test, for this reason.
    NotRun(&'static str),
}

use Cover::{Ci, Here, NotRun, Test};

const REGISTRY: &[(&str, Cover)] = &[
    // README: "Try it".
    (
        "examples/demo.sh",
        Test {
            file: "tests/e2e/test_demo.py",
            name: "test_the_demo_runs_as_the_readme_says",
            runs: "REPO / \"examples\" / \"demo.sh\"",
        },
    ),
    (
        "scripts/test.sh",
        Ci {
            file: ".ci/run",
            runs: "exec scripts/test.sh",
        },
    ),
    (
        "cargo install --locked --path .",
        Test {
            file: "tests/e2e/test_install.py",
            name: "test_the_readmes_install_from_a_checkout_puts_the_binary_on_path",
            runs: "PREFIX = \"cargo install --locked --path .\"",
        },
    ),
    // README: "Install".
    (
        "cargo binstall local-executor-mcp",
        NotRun(
            "needs a published release; test_release.py checks that binstall's pkg-url names \
             the archives dist plans",
        ),
    ),
    (
        "curl --proto '=https' --tlsv1.2 -LsSf https://github.com/local-executor-mcp/local-executor-mcp/releases/latest/download/local-executor-mcp-installer.sh | sh",
        NotRun("needs a published release; test_release.py checks that dist plans the installer"),
    ),
    (
        "powershell -ExecutionPolicy Bypass -c \"irm https://github.com/local-executor-mcp/local-executor-mcp/releases/latest/download/local-executor-mcp-installer.ps1 | iex\"",
        NotRun("Windows, and a published release; test_release.py checks that dist plans it"),
    ),
    // README: "Set up a project".
    ("cd your-project", Here("init_as_the_readme_shows_it")),
    (
        "local-executor-mcp init --dry-run",
        Here("init_as_the_readme_shows_it"),
    ),
    (
        "local-executor-mcp init",
        Here("init_as_the_readme_shows_it"),
    ),
    (
        "claude plugin marketplace add local-executor-mcp/local-executor-mcp",
        Test {
            file: "tests/e2e/test_plugin.py",
            name: "test_marketplace_adds_and_the_plugin_installs",
            runs: "\"marketplace\", \"add\"",
        },
    ),
    (
        "claude plugin install local-executor@local-executor-mcp",
        Test {
            file: "tests/e2e/test_plugin.py",
            name: "test_marketplace_adds_and_the_plugin_installs",
            runs: "\"plugin\", \"install\"",
        },
    ),
    (
        "claude plugin details local-executor@local-executor-mcp",
        Test {
            file: "tests/e2e/test_plugin.py",
            name: "test_plugin_details_lists_the_skill_and_the_server",
            runs: "\"plugin\", \"details\"",
        },
    ),
    (
        "claude mcp add local-executor -e LOCAL_LLM_BASE_URL=http://127.0.0.1:8080/v1 -e LOCAL_LLM_MODEL_QUALITY=qwen3-coder-30b -e LOCAL_LLM_MODEL_FAST=qwen3-coder-30b -e LOCAL_EXECUTOR_ALLOW_WRITE=1 -- local-executor-mcp",
        Test {
            file: "tests/e2e/test_claude_code.py",
            name: "test_claude_mcp_add_then_list_connects",
            runs: "\"mcp\", \"add\"",
        },
    ),
    (
        "claude mcp list",
        Test {
            file: "tests/e2e/test_claude_code.py",
            name: "test_claude_mcp_add_then_list_connects",
            runs: "\"mcp\", \"list\"",
        },
    ),
    (
        "codex mcp add local-executor --env LOCAL_LLM_BASE_URL=http://127.0.0.1:8080/v1 -- local-executor-mcp",
        NotRun(
            "Codex's CLI is not among the suite's clients; tests/init.rs parses the TOML block \
             that init prints for it",
        ),
    ),
    // README: "Smoke test with the MCP Inspector CLI".
    (
        "npx -y @modelcontextprotocol/inspector@2.12.0 --cli -e LOCAL_LLM_BASE_URL=http://127.0.0.1:8091/v1 -e LOCAL_LLM_MODEL_QUALITY=qwen2.5-coder-0.5b-instruct-q4_k_m -e LOCAL_EXECUTOR_LOG=warn local-executor-mcp --method tools/list",
        Test {
            file: "tests/e2e/test_inspector.py",
            name: "test_inspector_lists_the_tools",
            runs: "\"--method\", \"tools/list\"",
        },
    ),
    (
        "npx -y @modelcontextprotocol/inspector@2.12.0 --cli -e LOCAL_LLM_BASE_URL=http://127.0.0.1:8091/v1 -e LOCAL_LLM_MODEL_QUALITY=qwen2.5-coder-0.5b-instruct-q4_k_m -e LOCAL_EXECUTOR_LOG=warn local-executor-mcp --method tools/call --tool-name delegate_code --tool-arg 'task=a Python function slugify(s) that lowercases and joins words with -' --tool-arg language=python",
        Test {
            file: "tests/e2e/test_inspector.py",
            name: "test_inspector_calls_delegate_code",
            runs: "\"--tool-arg\", \"language=python\"",
        },
    ),
    // docs/development.md.
    (
        "cargo test --release",
        Ci {
            file: "scripts/test.sh",
            runs: "\ncargo test --release\n",
        },
    ),
    (
        "SKIP_E2E=1 scripts/test.sh",
        Ci {
            file: "scripts/test.sh",
            runs: "if [ \"${SKIP_E2E:-0}\" = \"1\" ]; then",
        },
    ),
    // docs/doctor.md.
    (
        "local-executor-mcp doctor",
        Here("doctor_as_its_page_shows_it"),
    ),
    (
        "LOCAL_LLM_MODEL_QUALITY=SmolLM2-135M local-executor-mcp doctor",
        Here("doctor_as_its_page_shows_it"),
    ),
    (
        "LOCAL_LLM_BASE_URL=http://127.0.0.1:8081/v1/chat/completions local-executor-mcp doctor",
        Here("doctor_as_its_page_shows_it"),
    ),
    (
        "LOCAL_LLM_BASE_URL=http://127.0.0.1:8080 local-executor-mcp doctor --no-generate",
        Here("doctor_on_llama_swap_as_its_page_shows_it"),
    ),
    // docs/evaluation.md.
    (
        "tests/eval/run.sh --repairs 2 --markdown",
        NotRun("the evaluation: 60 tasks on the real model, an hour or more on two cores"),
    ),
    (
        "tests/eval/run.sh --repairs 2 --markdown --only 'edit_*,tests_*,conv_*,schema_*,scaffold_*'",
        NotRun("the evaluation: 20 tasks on the real model, about forty minutes on two cores"),
    ),
    (
        "tests/eval/run.sh --repairs 2 --price-ratio 4 --json out.json",
        NotRun("the evaluation: 60 tasks on the real model, an hour or more on two cores"),
    ),
    // docs/tools.md.
    (
        "LEX_BIN=target/debug/local-executor-mcp LOCAL_EXECUTOR_EDIT_FORMAT=symbols tests/eval/run.sh --repairs 0 --timeout 180 --markdown --only 'edit_*'",
        NotRun(
            "the evaluation's eight edit tasks in one edit format, on the real model: 20 minutes or more on two cores",
        ),
    ),
    // docs/stats.md.
    (
        "local-executor-mcp stats",
        Here("stats_as_its_page_shows_it"),
    ),
    (
        "local-executor-mcp stats --since 7d --by day",
        Here("stats_as_its_page_shows_it"),
    ),
    (
        "local-executor-mcp stats --by client --json",
        Here("stats_as_its_page_shows_it"),
    ),
    (
        "local-executor-mcp stats --html",
        Here("stats_html_as_its_page_shows_it"),
    ),
    (
        "local-executor-mcp stats --html report.html --since 30d --by client",
        Here("stats_html_as_its_page_shows_it"),
    ),
    (
        "local-executor-mcp stats --html - > out.html",
        Here("stats_html_as_its_page_shows_it"),
    ),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and docs/*.md, in a fixed order.
fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files.insert(0, repo().join("README.md"));
    files
}

/// A shell line without its ` # comment` (a `#` after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut prev_space) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return &line[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

fn normalise(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The commands a Markdown text shows, normalised, each with its line number.
fn commands_in(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    // The language of the open fenced block, if one is open.
    let mut block: Option<String> = None;
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            block = match block {
                Some(_) => None,
                None => Some(trimmed.trim_start_matches('`').trim().to_lowercase()),
            };
            continue;
        }
        let Some(lang) = block.as_deref() else {
            continue;
        };
        let command = match lang {
            "sh" | "bash" | "shell" | "zsh" => {
                let line = strip_comment(line).trim_end();
                let (start, mut command) = pending.take().unwrap_or((n, String::new()));
                match line.strip_suffix('\\') {
                    Some(head) => {
                        command.push_str(head);
                        command.push(' ');
                        pending = Some((start, command));
                        continue;
                    }
                    None => command.push_str(line),
                }
                (start, command)
            }
            "console" | "" | "text" => match trimmed.strip_prefix("$ ") {
                Some(c) => (n, strip_comment(c).to_string()),
                None if lang != "console" && trimmed.starts_with("local-executor-mcp ") => {
                    (n, strip_comment(trimmed).to_string())
                }
                None => continue,
            },
            _ => continue,
        };
        let command = (command.0, normalise(&command.1));
        if !command.1.is_empty() {
            out.push(command);
        }
    }
    assert!(block.is_none(), "a fenced block is left open");
    out
}

/// Every documented command, with where each is shown (`README.md:25`).
fn documented() -> BTreeMap<String, Vec<String>> {
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(repo()).unwrap().display().to_string();
        for (line, command) in commands_in(&text) {
            all.entry(command)
                .or_default()
                .push(format!("{name}:{line}"));
        }
    }
    all
}

#[test]
fn commands_are_read_out_of_markdown_as_a_shell_would_see_them() {
    let text = "intro `local-executor-mcp inline` is prose\n\
                ```sh\n\
                a --flag   # a comment\n\
                b 'x # y' \\\n  --more \\\n  --last\n\
                # only a comment\n\
                \n\
                ```\n\
                ```\n\
                $ local-executor-mcp doctor   # llama-swap\n\
                ✔ output local-executor-mcp\n\
                local-executor-mcp stats --html    # one page\n\
                ```\n\
                ```console\n\
                $ c\n\
                local-executor-mcp not-a-command, output\n\
                ```\n\
                ```json\n\
                $ not a command\n\
                ```\n";
    let found: Vec<String> = commands_in(text).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        found,
        [
            "a --flag",
            "b 'x # y' --more --last",
            "local-executor-mcp doctor",
            "local-executor-mcp stats --html",
            "c",
        ]
    );
}

#[test]
fn every_documented_command_is_run_by_a_test_and_every_entry_is_documented() {
    let docs = documented();
    let mut registry = BTreeSet::new();
    for (command, _) in REGISTRY {
        assert_eq!(
            *command,
            normalise(command),
            "registry entries are normalised"
        );
        assert!(registry.insert(*command), "`{command}` is listed twice");
    }
    let uncovered: Vec<String> = docs
        .iter()
        .filter(|(c, _)| !registry.contains(c.as_str()))
        .map(|(c, at)| format!("  {} ({})", c, at.join(", ")))
        .collect();
    let stale: Vec<String> = registry
        .iter()
        .filter(|c| !docs.contains_key(**c))
        .map(|c| format!("  {c}"))
        .collect();
    let mut problems = Vec::new();
    if !uncovered.is_empty() {
        problems.push(format!(
            "documented commands that no test runs (run each in a test and add it to REGISTRY in tests/docs.rs):\n{}",
            uncovered.join("\n")
        ));
    }
    if !stale.is_empty() {
        problems.push(format!(
            "REGISTRY entries the docs no longer show:\n{}",
            stale.join("\n")
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_test_the_registry_names_exists_and_runs_what_it_says() {
    let this = std::fs::read_to_string(repo().join("tests/docs.rs")).unwrap();
    for (command, cover) in REGISTRY {
        match cover {
            Here(name) => assert!(
                this.contains(&format!("\nfn {name}()"))
                    || this.contains(&format!("\nasync fn {name}()")),
                "`{command}`: no test {name} in tests/docs.rs"
            ),
            Test { file, name, runs } => {
                let source = std::fs::read_to_string(repo().join(file)).unwrap();
                assert!(
                    ["def ", "async def ", "fn ", "async fn "]
                        .iter()
                        .any(|kw| source.contains(&format!("\n{kw}{name}("))),
                    "`{command}`: no test {name} in {file}"
                );
                // What the test runs is in it or in a fixture of its file.
                assert!(
                    source.contains(runs),
                    "`{command}`: {file} does not hold {runs:?}"
                );
            }
            Ci { file, runs } => {
                let source = std::fs::read_to_string(repo().join(file)).unwrap();
                assert!(
                    source.contains(runs),
                    "`{command}`: {file} does not hold {runs:?}"
                );
            }
            NotRun(why) => assert!(!why.is_empty()),
        }
    }
    // What CI runs is the chain .ci/run → scripts/test.sh.
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.contains("exec scripts/test.sh"));
}

/// A documented command, checked to be in the docs and covered by `test`, as written.
fn documented_command(command: &str, test: &str) -> &'static str {
    let (c, cover) = REGISTRY
        .iter()
        .find(|(c, _)| *c == command)
        .unwrap_or_else(|| panic!("`{command}` is not in REGISTRY"));
    assert!(
        matches!(cover, Here(name) if *name == test),
        "`{command}` is not listed as run by {test}"
    );
    assert!(
        documented().contains_key(*c),
        "the docs no longer show `{command}`"
    );
    c
}

/// A scratch folder with the binary on `PATH`, as `cargo install` leaves it, and its own `HOME`
/// and usage log.
struct Shell {
    dir: tempfile::TempDir,
    bin_dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Shell {
    fn new() -> Shell {
        let dir = tempfile::tempdir().unwrap();
        let bin_dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(common::bin(), bin_dir.path().join("local-executor-mcp"))
            .unwrap();
        for sub in ["home", "lex-home", "work"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        Shell {
            dir,
            bin_dir,
            env: Vec::new(),
        }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn env(mut self, k: &str, v: &str) -> Shell {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Runs `script` with `sh -c` in the scratch folder `work`, as a person at a terminal would
    /// (no `LOCAL_EXECUTOR_LOG`; the default log level).
    async fn run(&self, script: &str) -> Run {
        let path = format!(
            "{}:{}",
            self.bin_dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(self.path("work"))
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.path("home"))
            .env("LOCAL_EXECUTOR_HOME", self.path("lex-home"))
            .env("LOCAL_LLM_CONNECT_TIMEOUT", "2")
            .env("LOCAL_LLM_FIRST_TOKEN_TIMEOUT", "10")
            .env("LOCAL_LLM_TIMEOUT", "20")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        Run::from(out, script)
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    script: String,
}

impl Run {
    fn from(out: Output, script: &str) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
            script: script.to_string(),
        }
    }

    fn exits(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "{self:?}");
        self
    }

    fn prints(&self, phrase: &str) -> &Run {
        assert!(self.stdout.contains(phrase), "{phrase:?} missing: {self:?}");
        self
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n$ {}\nexit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.script, self.code, self.stdout, self.stderr
        )
    }
}

const QUALITY: &str = "smollm2-135m-instruct-q4_1";
const FAST: &str = "gemma-3-270m-q4_k_m";

#[tokio::test]
async fn init_as_the_readme_shows_it() {
    let cd = documented_command("cd your-project", "init_as_the_readme_shows_it");
    let dry = documented_command(
        "local-executor-mcp init --dry-run",
        "init_as_the_readme_shows_it",
    );
    let init = documented_command("local-executor-mcp init", "init_as_the_readme_shows_it");
    let mock = Mock::start(&[QUALITY, FAST]).await;
    let sh = Shell::new().env("LOCAL_LLM_BASE_URL", &mock.url);
    let project = sh.path("work/your-project");
    std::fs::create_dir_all(project.join(".git")).unwrap();

    // "shows the changes as a diff, writes nothing"
    sh.run(&format!("{cd}\n{dry}"))
        .await
        .exits(0)
        .prints("dry run: nothing is written")
        .prints("would create .mcp.json")
        .prints("+++ b/.mcp.json");
    let names = |p: &Path| -> BTreeSet<String> {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&project), BTreeSet::from([".git".to_string()]));

    sh.run(&format!("{cd}\n{init}"))
        .await
        .exits(0)
        .prints("created .mcp.json (server `local-executor`)")
        .prints("[mcp_servers.local-executor]");
    let mcp: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join(".mcp.json")).unwrap()).unwrap();
    let server = &mcp["mcpServers"]["local-executor"];
    assert_eq!(server["command"], "local-executor-mcp");
    assert_eq!(
        server["env"]["LOCAL_LLM_BASE_URL"],
        format!("${{LOCAL_LLM_BASE_URL:-{}}}", mock.url)
    );
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join(".claude/settings.json")).unwrap(),
    )
    .unwrap();
    assert!(
        settings["permissions"]["allow"]
            .as_array()
            .unwrap()
            .contains(&json!("mcp__local-executor__delegate_files"))
    );
    for md in ["CLAUDE.md", "AGENTS.md"] {
        let text = std::fs::read_to_string(project.join(md)).unwrap();
        assert!(text.contains("<!-- local-executor-mcp:begin -->"), "{md}");
    }
}

#[tokio::test]
async fn doctor_as_its_page_shows_it() {
    let test = "doctor_as_its_page_shows_it";
    let mock = Mock::start(&[QUALITY, FAST]).await;
    mock.always(Reply::text("x"));
    // The settings the demo's export lines give.
    let sh = Shell::new()
        .env("LOCAL_LLM_BASE_URL", &mock.url)
        .env("LOCAL_LLM_MODEL_QUALITY", QUALITY)
        .env("LOCAL_LLM_MODEL_FAST", FAST);

    let run = sh
        .run(documented_command("local-executor-mcp doctor", test))
        .await;
    run.exits(0)
        .prints(&format!("✔ base URL {}\n", mock.url))
        .prints(&format!("✔ quality model {QUALITY} is served\n"))
        .prints(&format!("✔ test generation on fast ({FAST}): answered in "))
        .prints("✔ local-executor-mcp is on PATH\n")
        .prints("All checks passed. Add the server to Claude Code with:\n  claude mcp add local-executor --env LOCAL_LLM_BASE_URL=");

    sh.run(documented_command(
        "LOCAL_LLM_MODEL_QUALITY=SmolLM2-135M local-executor-mcp doctor",
        test,
    ))
    .await
    .exits(1)
    .prints(&format!(
        "✘ quality model SmolLM2-135M is not served; near matches: {QUALITY}\n  fix: set LOCAL_LLM_MODEL_QUALITY={QUALITY}\n"
    ));

    sh.run(documented_command(
        "LOCAL_LLM_BASE_URL=http://127.0.0.1:8081/v1/chat/completions local-executor-mcp doctor",
        test,
    ))
    .await
    .exits(1)
    .prints("✘ base URL http://127.0.0.1:8081/v1/chat/completions is an endpoint, not the base\n  fix: set LOCAL_LLM_BASE_URL=http://127.0.0.1:8081/v1\n");
}

#[tokio::test]
async fn doctor_on_llama_swap_as_its_page_shows_it() {
    let command = documented_command(
        "LOCAL_LLM_BASE_URL=http://127.0.0.1:8080 local-executor-mcp doctor --no-generate",
        "doctor_on_llama_swap_as_its_page_shows_it",
    );
    // llama-swap's own address is the mock's here.
    let mock = Mock::start(&["qwen3-coder-30b-a3b-q8_0"]).await;
    mock.running(json!({"running": [{"model": "qwen3-coder-30b-a3b-q8_0", "state": "ready"}]}));
    let root = mock.url.trim_end_matches("/v1");
    let command = command.replace("http://127.0.0.1:8080", root);
    Shell::new()
        .run(&command)
        .await
        .exits(0)
        .prints(&format!(
            "✔ base URL {root}/v1 (given as {root}; /v1 was added)\n"
        ))
        .prints(&format!(
            "✔ llama-swap detected at {root}/running: qwen3-coder-30b-a3b-q8_0 (ready)\n"
        ));
}

/// A usage log: the fixture of docs/stats.md's sample, plus one call of an hour ago, so that
/// `--since 7d` finds one.
fn usage_log(sh: &Shell) {
    let mut log = std::fs::read_to_string(repo().join("tests/fixtures/usage/v2.jsonl")).unwrap();
    let mut recent: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    recent["ts"] = json!(hour_ago.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    recent["client"] = json!("cursor");
    log.push_str(&format!("{recent}\n"));
    std::fs::write(sh.path("lex-home/usage.jsonl"), log).unwrap();
}

#[tokio::test]
async fn stats_as_its_page_shows_it() {
    let test = "stats_as_its_page_shows_it";
    let sh = Shell::new();
    usage_log(&sh);

    sh.run(documented_command("local-executor-mcp stats", test))
        .await
        .exits(0)
        .prints("13 calls · 2026-11-10T09:00:00Z to ")
        .prints("\ntier     calls")
        .prints("\nmodel ")
        .prints("net saving, priced as a planner pays");

    let day = chrono::Utc::now() - chrono::Duration::hours(1);
    sh.run(documented_command(
        "local-executor-mcp stats --since 7d --by day",
        test,
    ))
    .await
    .exits(0)
    .prints("\n1 calls · ")
    .prints("\nday  ")
    .prints(&format!("\n{}  ", day.format("%Y-%m-%d")));

    let run = sh
        .run(documented_command(
            "local-executor-mcp stats --by client --json",
            test,
        ))
        .await;
    run.exits(0);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let clients: BTreeSet<&str> = report["groups"]["client"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(clients, BTreeSet::from(["claude-code", "codex", "cursor"]));
}

#[tokio::test]
async fn stats_html_as_its_page_shows_it() {
    let test = "stats_html_as_its_page_shows_it";
    let sh = Shell::new();
    usage_log(&sh);
    let is_page = |path: &str| {
        let page = std::fs::read_to_string(sh.path("work").join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(page.starts_with("<!doctype html>"), "{path}");
        assert!(page.trim_end().ends_with("</html>"), "{path}");
        page
    };

    // "writes stats.html in the current folder"
    sh.run(documented_command("local-executor-mcp stats --html", test))
        .await
        .exits(0);
    is_page("stats.html");

    sh.run(documented_command(
        "local-executor-mcp stats --html report.html --since 30d --by client",
        test,
    ))
    .await
    .exits(0);
    assert!(is_page("report.html").contains("cursor"));

    // "to stdout"
    let run = sh
        .run(documented_command(
            "local-executor-mcp stats --html - > out.html",
            test,
        ))
        .await;
    run.exits(0);
    assert_eq!(run.stdout, "");
    assert!(is_page("out.html").contains("qwen3-coder-30b"));
}
