//! `init`: sets a project up for delegation in one command. It merges the server into the
//! project's `.mcp.json`, grants Claude Code its tools in `.claude/settings.json`, adds a marked
//! delegation section to `CLAUDE.md` and `AGENTS.md`, and prints the block for Codex's
//! `~/.codex/config.toml`. The JSON files are edited in place ([`json`]): what the team set there
//! (the server's `args`, an env value that is not init's own placeholder, other keys, the
//! indentation) stays as it was. Every file is read and judged before any is written, the new
//! contents are staged beside their targets, and only then renamed into place, so a refusal or a
//! failure leaves every file as it was.

mod json;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::backend::Backend;
use crate::config::Config;
use crate::models;
use json::{Editor, Json, Node};

/// The server's name in `.mcp.json` and in Codex's config.
pub(crate) const SERVER_NAME: &str = "local-executor";
/// The command a project's `.mcp.json` runs: the binary on `PATH`, as after `cargo install`.
pub(crate) const COMMAND: &str = "local-executor-mcp";
/// The server's tools, as Claude Code's permission rules name them after `mcp__<server>__`.
pub(crate) const TOOLS: [&str; 3] = ["delegate_code", "delegate_files", "list_local_models"];
/// The tool that writes files: the one `--no-write-permission` leaves to Claude Code's prompt.
pub(crate) const WRITE_TOOL: &str = "delegate_files";
const BEGIN_MARKER: &str = "<!-- local-executor-mcp:begin -->";
const END_MARKER: &str = "<!-- local-executor-mcp:end -->";
/// Seconds Codex waits on a tool call beyond the server's own bounds (the total timeout and one
/// check's timeout): the answer has to travel back, and a call Codex gives up on is lost work.
const CODEX_TIMEOUT_MARGIN_SECS: u64 = 30;
/// Claude Code's project settings, where the allow rules go (see [`plan_claude_settings`]).
const CLAUDE_SETTINGS: &str = ".claude/settings.json";

/// The delegation section of `CLAUDE.md` and `AGENTS.md`. The planner reads it every session, so
/// every line must earn its tokens.
const SECTION_BODY: &str = "\
## Delegating to the local model (local-executor)

- Delegate mechanical writing (boilerplate, scaffolding, CRUD, tests, fixtures, conversions, \
rule-based edits); keep logic, debugging and security-sensitive code.
- It pays when the result is several times longer than your spec (tests, a converted fixture, \
a scaffold, an edit of a long file).
- Write `task` as a precise, self-contained spec: names, signatures, behaviour, edge cases.
- Pass files by path in `context_files` (`path:START-END` for a part); never paste them.
- Let files land: `delegate_files` writes and edits files, several per call; `delegate_code` \
only when you need the text.
- Review the receipt; on `DELEGATION_FAILED`, do that task yourself.
";

/// Files that mark a directory as a project when it has no version control folder.
const PROJECT_FILES: &[&str] = &[
    "Cargo.toml",
    "package.json",
    "pyproject.toml",
    "setup.py",
    "requirements.txt",
    "go.mod",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "Gemfile",
    "composer.json",
    "mix.exs",
    "deno.json",
    "CMakeLists.txt",
    "Makefile",
    "meson.build",
    "Package.swift",
    ".mcp.json",
    "CLAUDE.md",
    "AGENTS.md",
];
const VCS_DIRS: &[&str] = &[".git", ".hg", ".jj", ".svn"];

#[derive(Debug, Args)]
pub struct InitCmd {
    /// The project directory [default: the working directory].
    pub dir: Option<PathBuf>,
    /// Show what would change, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run even where the directory does not look like a project.
    #[arg(long)]
    pub force: bool,
    /// Leave delegate_files out of the Claude Code permissions init grants: Claude Code then asks
    /// before each call that writes files.
    #[arg(long)]
    pub no_write_permission: bool,
}

pub(crate) async fn run(cfg: &Config, cmd: &InitCmd) -> ExitCode {
    match init(cfg, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(refusals) => {
            for r in &refusals {
                eprintln!("local-executor-mcp init: {r}");
            }
            eprintln!("nothing was written");
            ExitCode::FAILURE
        }
    }
}

async fn init(cfg: &Config, cmd: &InitCmd) -> Result<(), Vec<String>> {
    let root = project_root(cmd).map_err(|e| vec![e])?;
    let found = probe(cfg).await;
    let mut plans = Vec::new();
    let mut refusals = Vec::new();
    for (name, plan) in [
        (".mcp.json", plan_mcp_json(&root, &found)),
        (
            CLAUDE_SETTINGS,
            plan_claude_settings(&root, cmd.no_write_permission),
        ),
        ("CLAUDE.md", plan_section(&root, "CLAUDE.md")),
        ("AGENTS.md", plan_section(&root, "AGENTS.md")),
    ] {
        match plan {
            Ok(p) => plans.push(p),
            Err(why) => refusals.push(format!("{name}: {why}")),
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }

    let mut out = String::new();
    let _ = writeln!(out, "project: {}", root.display());
    let _ = writeln!(out, "backend: {}", found.summary);
    for note in &found.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if !binary_on_path() {
        let _ = writeln!(
            out,
            "note: {COMMAND} is not on PATH, and .mcp.json runs it by that name: Claude Code cannot \
start the server until it is installed. Run: {}",
            install_hint()
        );
    }
    if cmd.dry_run {
        out.push_str("\ndry run: nothing is written\n");
    } else {
        commit(&plans).map_err(|e| vec![e])?;
    }
    out.push('\n');
    for plan in &plans {
        let verb = match (&plan.old, plan.changed(), cmd.dry_run) {
            (_, false, _) => "unchanged",
            (None, true, false) => "created",
            (None, true, true) => "would create",
            (Some(_), true, false) => "updated",
            (Some(_), true, true) => "would update",
        };
        if plan.what.is_empty() {
            let _ = writeln!(out, "{verb} {}", plan.name);
        } else {
            let _ = writeln!(out, "{verb} {} ({})", plan.name, plan.what);
        }
        if cmd.dry_run && plan.changed() {
            out.push_str(&diff(&plan.name, plan.old.as_deref(), &plan.new));
        }
    }
    out.push_str(
        "\nClaude Code asks once to approve the project's server; \
\"enabledMcpjsonServers\": [\"local-executor\"] in ~/.claude/settings.json approves it ahead of time. \
The allow rules in .claude/settings.json take effect once you trust the folder (Claude Code asks \
the first time it starts there).\n",
    );
    out.push_str("\nCodex: add this to ~/.codex/config.toml\n\n");
    out.push_str(&codex_block(cfg, &found, cmd.no_write_permission));
    print!("{out}");
    Ok(())
}

/// Whether `local-executor-mcp` is a file in one of `PATH`'s folders: what a `.mcp.json` entry or
/// the plugin that names it bare needs.
pub(crate) fn binary_on_path() -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            let file = format!("{COMMAND}{}", std::env::consts::EXE_SUFFIX);
            std::env::split_paths(&p).any(|dir| dir.join(&file).is_file())
        })
        .unwrap_or(false)
}

/// What to run to put the binary on `PATH`: `cargo install` of the checkout this binary was
/// built in, when it runs from one's `target/`, else the general lines.
pub(crate) fn install_hint() -> String {
    let checkout = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "target"))
            .and_then(Path::parent)
            .filter(|dir| dir.join("Cargo.toml").is_file())
            .map(Path::to_path_buf)
    });
    match checkout {
        Some(dir) => format!(
            "cargo install --locked --path {} (builds it again in release mode, a few minutes)",
            dir.display()
        ),
        None => "cargo install --locked --path . in a checkout of local-executor-mcp, or \
`cargo binstall local-executor-mcp` for a prebuilt binary"
            .into(),
    }
}

/// The directory to set up, refused when it does not look like a project (unless `--force`).
fn project_root(cmd: &InitCmd) -> Result<PathBuf, String> {
    let dir = match &cmd.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?,
    };
    let root = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if !root.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    if cmd.force || looks_like_project(&root) {
        return Ok(root);
    }
    let mut msg = format!(
        "{} does not look like a project (no {} and no project file such as Cargo.toml or package.json)",
        root.display(),
        VCS_DIRS.join(", ")
    );
    if let Some(top) = root.ancestors().skip(1).find(|a| looks_like_project(a)) {
        let _ = write!(
            msg,
            "; the project seems to be {}: run init there",
            top.display()
        );
    } else {
        msg.push_str("; run init at the project's root, or pass --force");
    }
    Err(msg)
}

fn looks_like_project(dir: &Path) -> bool {
    VCS_DIRS.iter().any(|d| dir.join(d).exists())
        || PROJECT_FILES.iter().any(|f| dir.join(f).is_file())
}

/// The settings to write: what the backend was found serving, else what is configured.
struct Found {
    base_url: String,
    quality: String,
    fast: String,
    /// The backend answered: its models (and so the base URL) are confirmed, and may replace the
    /// defaults of init's own placeholders in an existing `.mcp.json`.
    answered: bool,
    /// One line on what the probe saw.
    summary: String,
    notes: Vec<String>,
}

async fn probe(cfg: &Config) -> Found {
    let configured_quality = cfg.model_quality.clone().unwrap_or_default();
    let configured_fast = cfg.model_fast.clone().unwrap_or_default();
    let mut found = Found {
        base_url: cfg.base_url.clone(),
        quality: configured_quality.clone(),
        fast: configured_fast.clone(),
        answered: false,
        summary: String::new(),
        notes: Vec::new(),
    };
    let ids = match Backend::new(cfg) {
        Ok(backend) => backend.models().await.map_err(|e| e.to_string()),
        Err(e) => Err(format!("{e:#}")),
    };
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => {
            found.summary = format!("{}/models did not answer: {e}", cfg.base_url);
            found.notes.push(
                "the settings below are the configured ones (or the defaults), not confirmed by the \
backend; start it and run `local-executor-mcp doctor` to check them"
                    .into(),
            );
            return found;
        }
    };
    found.answered = true;
    found.summary = format!(
        "{}/models answers: {} model{}",
        cfg.base_url,
        ids.len(),
        if ids.len() == 1 { "" } else { "s" }
    );
    if configured_quality.is_empty() {
        match models::first_suitable(&ids) {
            Some(id) => found.quality = id.clone(),
            None => found.notes.push(
                "the backend lists no model fit to write code; set LOCAL_LLM_MODEL_QUALITY".into(),
            ),
        }
    } else if !models::is_served(&configured_quality, &ids) {
        found.notes.push(format!(
            "the quality model {configured_quality} is not served by the backend; kept as configured \
(`local-executor-mcp doctor` suggests near matches)"
        ));
    }
    if configured_fast.is_empty() {
        found.fast = found.quality.clone();
    } else if !models::is_served(&configured_fast, &ids) {
        found.notes.push(format!(
            "the fast model {configured_fast} is not served by the backend; kept as configured"
        ));
    }
    for (tier, id) in [("quality", &mut found.quality), ("fast", &mut found.fast)] {
        // `}` would end the `${VAR:-default}` expansion early; such an id cannot be a default.
        if id.contains('}') {
            found.notes.push(format!(
                "the {tier} model id {id} contains `}}` and cannot be a `${{VAR:-default}}`; left empty"
            ));
            id.clear();
        }
    }
    found
}

/// One file's planned change, judged and computed before anything is written.
struct Plan {
    /// The name shown to the user.
    name: String,
    /// Where the new contents go: the file itself, or where its symlink leads inside the project.
    target: PathBuf,
    old: Option<String>,
    new: String,
    /// The permissions of the file replaced, kept on the new one.
    permissions: Option<std::fs::Permissions>,
    /// A folder inside the project to create first (`.claude`), when it is missing.
    create_dir: Option<PathBuf>,
    /// What changes, for the user; empty when nothing needs saying.
    what: String,
}

impl Plan {
    fn changed(&self) -> bool {
        self.old.as_deref() != Some(self.new.as_str())
    }
}

/// An existing file as found: where it really is, its text and permissions.
struct Existing {
    target: PathBuf,
    text: Option<String>,
    permissions: Option<std::fs::Permissions>,
    create_dir: Option<PathBuf>,
}

/// Reads `root/name` when it exists, refusing what must not be written: a file or a folder on
/// its way that is a symlink out of the project or to nowhere, something other than a regular
/// file, a read-only file, non-UTF-8 text.
fn inspect(root: &Path, name: &str) -> Result<Existing, String> {
    let mut path = root.join(name);
    let mut create_dir = None;
    if let Some(folder) = Path::new(name)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        let dir = root.join(folder);
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_dir = Some(dir),
            Err(e) => return Err(format!("cannot read {}: {e}", folder.display())),
            Ok(_) => {
                let real = dir
                    .canonicalize()
                    .map_err(|e| format!("{} leads nowhere readable ({e})", folder.display()))?;
                if !real.starts_with(root) {
                    return Err(format!(
                        "its folder {} is a symlink to {}, outside the project; refusing to write \
through it",
                        folder.display(),
                        real.display()
                    ));
                }
                if !real.is_dir() {
                    return Err(format!("{} is not a folder", folder.display()));
                }
                if let Some(file) = path.file_name() {
                    path = real.join(file);
                }
            }
        }
    }
    let link = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Existing {
                target: path,
                text: None,
                permissions: None,
                create_dir,
            });
        }
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let target = if link.file_type().is_symlink() {
        let real = path
            .canonicalize()
            .map_err(|e| format!("is a symlink that leads nowhere readable ({e})"))?;
        if !real.starts_with(root) {
            return Err(format!(
                "is a symlink to {}, outside the project; refusing to write through it",
                real.display()
            ));
        }
        real
    } else {
        path
    };
    let meta = std::fs::metadata(&target).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    // Checked by hand: an atomic rename would replace a read-only file without a word, even for root.
    if meta.permissions().readonly() {
        return Err("is read-only; make it writable or leave it out".into());
    }
    let bytes = std::fs::read(&target).map_err(|e| format!("cannot read it: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    Ok(Existing {
        target,
        text: Some(text),
        permissions: Some(meta.permissions()),
        create_dir,
    })
}

fn plan_section(root: &Path, name: &str) -> Result<Plan, String> {
    let existing = inspect(root, name)?;
    let new = merge_section(existing.text.as_deref(), SECTION_BODY)?;
    let what = match &existing.text {
        Some(t) if *t == new => "",
        None => "delegation section",
        Some(t) if t.contains(BEGIN_MARKER) => "delegation section replaced in place",
        Some(_) => "delegation section appended",
    };
    Ok(Plan {
        name: name.into(),
        target: existing.target,
        old: existing.text,
        new,
        permissions: existing.permissions,
        create_dir: existing.create_dir,
        what: what.into(),
    })
}

/// `text` with the marked section set to `body`: replaced in place when the markers are there,
/// appended after a blank line otherwise. Line endings follow the file's.
fn merge_section(text: Option<&str>, body: &str) -> Result<String, String> {
    let crlf = text.is_some_and(|t| t.contains("\r\n"));
    let mut section = format!("{BEGIN_MARKER}\n{body}{END_MARKER}\n");
    if crlf {
        section = section.replace('\n', "\r\n");
    }
    let Some(text) = text else {
        return Ok(section);
    };
    let begins = text.matches(BEGIN_MARKER).count();
    let ends = text.matches(END_MARKER).count();
    match (begins, ends) {
        (0, 0) => {
            if text.trim().is_empty() {
                return Ok(section);
            }
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut out = text.to_string();
            if !out.ends_with('\n') {
                out.push_str(nl);
            }
            if !out.ends_with(&format!("{nl}{nl}")) {
                out.push_str(nl);
            }
            out.push_str(&section);
            Ok(out)
        }
        (1, 1) => {
            let start = text.find(BEGIN_MARKER).unwrap_or(0);
            let end_at = text.find(END_MARKER).unwrap_or(0);
            if end_at < start {
                return Err(format!(
                    "its `{END_MARKER}` comes before `{BEGIN_MARKER}`; fix the markers by hand"
                ));
            }
            let mut end = end_at + END_MARKER.len();
            let rest = &text[end..];
            if rest.starts_with("\r\n") {
                end += 2;
            } else if rest.starts_with('\n') {
                end += 1;
            }
            Ok(format!("{}{section}{}", &text[..start], &text[end..]))
        }
        _ => Err(format!(
            "has {begins} `{BEGIN_MARKER}` and {ends} `{END_MARKER}` markers; leave one pair (or \
none) and run init again"
        )),
    }
}

/// The server entry init writes: every value a `${VAR:-default}`, so each developer overrides
/// what differs on their machine without editing the file.
fn server_env(found: &Found) -> Vec<(&'static str, String)> {
    vec![
        (
            "LOCAL_LLM_BASE_URL",
            format!("${{LOCAL_LLM_BASE_URL:-{}}}", found.base_url),
        ),
        (
            "LOCAL_LLM_MODEL_QUALITY",
            format!("${{LOCAL_LLM_MODEL_QUALITY:-{}}}", found.quality),
        ),
        (
            "LOCAL_LLM_MODEL_FAST",
            format!("${{LOCAL_LLM_MODEL_FAST:-{}}}", found.fast),
        ),
        // The key itself never goes into a file that is checked in.
        ("LOCAL_LLM_API_KEY", "${LOCAL_LLM_API_KEY:-}".into()),
        (
            "LOCAL_EXECUTOR_ALLOW_WRITE",
            "${LOCAL_EXECUTOR_ALLOW_WRITE:-1}".into(),
        ),
    ]
}

/// The env keys whose value init writes as `${KEY:-default}` with a default it found: in an
/// existing entry such a placeholder is init's own, and a confirmed finding may refresh its
/// default (the backend moved). Any other value of these keys is the team's.
const FOUND_KEYS: [&str; 3] = [
    "LOCAL_LLM_BASE_URL",
    "LOCAL_LLM_MODEL_QUALITY",
    "LOCAL_LLM_MODEL_FAST",
];

/// The server entry of a new `.mcp.json`, or of one that has none.
fn server_entry(found: &Found) -> Json {
    Json::Obj(vec![
        ("command".into(), Json::str(COMMAND)),
        ("args".into(), Json::Arr(vec![Json::str("serve")])),
        (
            "env".into(),
            Json::Obj(
                server_env(found)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Json::Str(v)))
                    .collect(),
            ),
        ),
    ])
}

/// The default of `${key:-default}`, when `value` is exactly that form for this key.
fn placeholder_default<'v>(key: &str, value: &'v str) -> Option<&'v str> {
    let inner = value
        .strip_prefix("${")?
        .strip_prefix(key)?
        .strip_prefix(":-")?
        .strip_suffix('}')?;
    (!inner.contains('}')).then_some(inner)
}

fn plan_mcp_json(root: &Path, found: &Found) -> Result<Plan, String> {
    let existing = inspect(root, ".mcp.json")?;
    let (new, what) = match existing.text.as_deref() {
        Some(t) if !t.trim().is_empty() => merge_mcp_json(t, found)?,
        _ => {
            let doc = Json::Obj(vec![(
                "mcpServers".into(),
                Json::Obj(vec![(SERVER_NAME.into(), server_entry(found))]),
            )]);
            (
                format!("{}\n", doc.render("", "  ", "\n")),
                format!("server `{SERVER_NAME}`"),
            )
        }
    };
    Ok(Plan {
        name: ".mcp.json".into(),
        target: existing.target,
        old: existing.text,
        new,
        permissions: existing.permissions,
        create_dir: existing.create_dir,
        what,
    })
}

/// `.mcp.json` with the server merged in, and a line on what changed and what was kept.
fn merge_mcp_json(text: &str, found: &Found) -> Result<(String, String), String> {
    let doc = json::parse(text).map_err(|e| {
        format!("is not valid JSON ({e}); fix it or move it away, then run init again")
    })?;
    if doc.members().is_none() {
        return Err("is not a JSON object; fix it or move it away".into());
    }
    let mut ed = Editor::new(text);
    let mut changes = Vec::new();
    let mut kept = Vec::new();
    match doc.get("mcpServers") {
        None => {
            let servers = Json::Obj(vec![(SERVER_NAME.into(), server_entry(found))]);
            ed.add_members(&doc, &[("mcpServers".into(), servers)]);
            changes.push(format!("server `{SERVER_NAME}` added"));
        }
        Some(servers) if servers.members().is_none() => {
            return Err("its `mcpServers` is not an object; fix it or move it away".into());
        }
        Some(servers) => match servers.get(SERVER_NAME) {
            None => {
                ed.add_members(servers, &[(SERVER_NAME.into(), server_entry(found))]);
                changes.push(format!("server `{SERVER_NAME}` added"));
            }
            Some(server) => merge_server(&mut ed, server, found, &mut changes, &mut kept)?,
        },
    }
    let mut what = if changes.is_empty() {
        String::new()
    } else {
        changes.join(", ")
    };
    if !kept.is_empty() {
        if !what.is_empty() {
            what.push_str("; ");
        }
        let _ = write!(what, "kept as the team set them: {}", kept.join(", "));
    }
    Ok((ed.finish(), what))
}

/// Merges init's settings into the server's existing entry, changing only what it must: a
/// missing `command`, `args` or env key is added; `command` is set when it does not run this
/// binary; an env value is replaced only when it is init's own `${KEY:-default}` placeholder and
/// the backend confirmed a new default. The team's `args`, and every other env value (an explicit
/// `LOCAL_EXECUTOR_ALLOW_WRITE`, their own key variable, a fixed URL), stay.
fn merge_server(
    ed: &mut Editor,
    server: &Node,
    found: &Found,
    changes: &mut Vec<String>,
    kept: &mut Vec<String>,
) -> Result<(), String> {
    if server.members().is_none() {
        return Err(format!(
            "its `mcpServers.{SERVER_NAME}` is not an object; fix it or move it away"
        ));
    }
    let mut add: Vec<(String, Json)> = Vec::new();
    match server.get("command") {
        None => {
            add.push(("command".into(), Json::str(COMMAND)));
            changes.push(format!("command `{COMMAND}` added"));
        }
        // A command that already runs this binary from elsewhere (vendored in the repository, a
        // full path) is the team's choice; anything else becomes the binary on PATH.
        Some(c)
            if c.as_str().is_some_and(|c| {
                c.rsplit(['/', '\\'])
                    .next()
                    .is_some_and(|f| f.starts_with(COMMAND))
            }) => {}
        Some(c) => {
            ed.replace(c, &Json::str(COMMAND));
            changes.push(format!("command set to `{COMMAND}`"));
        }
    }
    match server.get("args") {
        None => {
            add.push(("args".into(), Json::Arr(vec![Json::str("serve")])));
            changes.push("args `[\"serve\"]` added".into());
        }
        // The team's flags (`--check`, `--protected`, …) stay; the binary serves without `serve`.
        Some(a) if a.items().is_some() => {}
        Some(_) => {
            return Err(format!(
                "its `mcpServers.{SERVER_NAME}.args` is not an array; fix it or move it away"
            ));
        }
    }
    match server.get("env") {
        None => {
            let env = server_env(found)
                .into_iter()
                .map(|(k, v)| (k.to_string(), Json::Str(v)))
                .collect();
            add.push(("env".into(), Json::Obj(env)));
            changes.push("env added".into());
        }
        Some(env) if env.members().is_none() => {
            return Err(format!(
                "its `mcpServers.{SERVER_NAME}.env` is not an object; fix it or move it away"
            ));
        }
        Some(env) => {
            let mut add_env = Vec::new();
            for (key, ours) in server_env(found) {
                let Some(node) = env.get(key) else {
                    add_env.push((key.to_string(), Json::Str(ours)));
                    changes.push(format!("{key} added"));
                    continue;
                };
                let value = node.as_str();
                if value == Some(ours.as_str()) {
                    continue;
                }
                let refresh = FOUND_KEYS.contains(&key)
                    && found.answered
                    && value.and_then(|v| placeholder_default(key, v)).is_some()
                    && placeholder_default(key, &ours).is_some_and(|d| !d.is_empty());
                let own_placeholder = FOUND_KEYS.contains(&key)
                    && value.and_then(|v| placeholder_default(key, v)).is_some();
                if refresh {
                    ed.replace(node, &Json::Str(ours));
                    changes.push(format!("{key} default updated to what the backend serves"));
                } else if own_placeholder {
                    // Init's own, left as it was: nothing confirmed a new default.
                } else if key == "LOCAL_EXECUTOR_ALLOW_WRITE" {
                    // A switch, never a secret: shown, since it decides what the server may do.
                    kept.push(format!(
                        "{key}={}",
                        value.map_or("(not a string)".into(), json::quote)
                    ));
                } else {
                    // Only the name: a team may have put a literal value (even a key) here.
                    kept.push(key.to_string());
                }
            }
            ed.add_members(env, &add_env);
        }
    }
    ed.add_members(server, &add);
    Ok(())
}

/// Claude Code's permission rule for one of the server's tools.
pub(crate) fn tool_rule(tool: &str) -> String {
    format!("mcp__{SERVER_NAME}__{tool}")
}

/// Whether an allow or deny rule of Claude Code covers `tool` of this server: the tool's own rule,
/// the whole server (`mcp__local-executor`), or its wildcard (`mcp__local-executor__*`).
pub(crate) fn rule_covers(rule: &str, tool: &str) -> bool {
    let server = format!("mcp__{SERVER_NAME}");
    rule == server || rule == format!("{server}__*") || rule == tool_rule(tool)
}

/// `permissions.allow` rules for the server's tools in the project's `.claude/settings.json`,
/// merged in place like `.mcp.json`. The project file rather than `.claude/settings.local.json`:
/// the server comes from the checked-in `.mcp.json`, so the grant that makes it usable travels
/// with it to every clone; Claude Code itself writes the local file when someone answers "always
/// allow", and it is ignored by git, so a team's set-up would not reach anyone else through it.
fn plan_claude_settings(root: &Path, no_write_permission: bool) -> Result<Plan, String> {
    let existing = inspect(root, CLAUDE_SETTINGS)?;
    let tools: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| !(no_write_permission && *t == WRITE_TOOL))
        .collect();
    let (new, what) = match existing.text.as_deref() {
        Some(t) if !t.trim().is_empty() => merge_claude_settings(t, &tools, no_write_permission)?,
        _ => {
            let rules = tools.iter().map(|t| Json::Str(tool_rule(t))).collect();
            let doc = Json::Obj(vec![(
                "permissions".into(),
                Json::Obj(vec![("allow".into(), Json::Arr(rules))]),
            )]);
            (
                format!("{}\n", doc.render("", "  ", "\n")),
                format!("Claude Code may call {} without asking", tools.join(", ")),
            )
        }
    };
    Ok(Plan {
        name: CLAUDE_SETTINGS.into(),
        target: existing.target,
        old: existing.text,
        new,
        permissions: existing.permissions,
        create_dir: existing.create_dir,
        what,
    })
}

fn merge_claude_settings(
    text: &str,
    tools: &[&str],
    no_write_permission: bool,
) -> Result<(String, String), String> {
    let doc = json::parse(text).map_err(|e| {
        format!("is not valid JSON ({e}); fix it or move it away, then run init again")
    })?;
    if doc.members().is_none() {
        return Err("is not a JSON object; fix it or move it away".into());
    }
    let strings = |node: Option<&Node>, what: &str| -> Result<Vec<String>, String> {
        match node {
            None => Ok(Vec::new()),
            Some(n) => n
                .items()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_string))
                        .collect()
                })
                .ok_or_else(|| {
                    format!("its `permissions.{what}` is not an array; fix it or move it away")
                }),
        }
    };
    let permissions = doc.get("permissions");
    if permissions.is_some_and(|p| p.members().is_none()) {
        return Err("its `permissions` is not an object; fix it or move it away".into());
    }
    let allow_node = permissions.and_then(|p| p.get("allow"));
    let allow = strings(allow_node, "allow")?;
    let deny = strings(permissions.and_then(|p| p.get("deny")), "deny")?;
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !allow.iter().any(|r| rule_covers(r, t)))
        .collect();
    let rules: Vec<Json> = missing.iter().map(|t| Json::Str(tool_rule(t))).collect();
    let mut ed = Editor::new(text);
    match (permissions, allow_node) {
        (None, _) => ed.add_members(
            &doc,
            &[(
                "permissions".into(),
                Json::Obj(vec![("allow".into(), Json::Arr(rules))]),
            )],
        ),
        (Some(p), None) => ed.add_members(p, &[("allow".into(), Json::Arr(rules))]),
        (Some(_), Some(a)) => ed.push_items(a, &rules),
    }
    let mut notes = Vec::new();
    if !missing.is_empty() {
        notes.push(format!(
            "Claude Code may call {} without asking",
            missing.join(", ")
        ));
    }
    let denied: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| deny.iter().any(|r| rule_covers(r, t)))
        .collect();
    if !denied.is_empty() {
        notes.push(format!(
            "its deny rules for {} are kept, and win over any allow rule",
            denied.join(", ")
        ));
    }
    if no_write_permission && allow.iter().any(|r| rule_covers(r, WRITE_TOOL)) {
        notes.push(format!(
            "{WRITE_TOOL} stays allowed by a rule already there; remove it by hand to be asked"
        ));
    }
    Ok((ed.finish(), notes.join("; ")))
}

/// Writes every changed plan: all are staged in temp files beside their targets first, then
/// renamed into place, so a failure while staging leaves every file untouched.
fn commit(plans: &[Plan]) -> Result<(), String> {
    for plan in plans.iter().filter(|p| p.changed()) {
        if let Some(dir) = &plan.create_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{}: cannot create {}: {e}", plan.name, dir.display()))?;
        }
    }
    let mut staged = Vec::new();
    for plan in plans.iter().filter(|p| p.changed()) {
        let temp = stage(plan).map_err(|e| format!("{}: cannot write it: {e}", plan.name))?;
        staged.push((plan, temp));
    }
    for (plan, temp) in staged {
        temp.persist(&plan.target)
            .map_err(|e| format!("{}: cannot write it: {}", plan.name, e.error))?;
    }
    Ok(())
}

fn stage(plan: &Plan) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let dir = plan.target.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".local-executor-init")
        .tempfile_in(dir)?;
    temp.write_all(plan.new.as_bytes())?;
    temp.as_file().sync_all()?;
    let permissions = match &plan.permissions {
        Some(p) => p.clone(),
        None => new_file_permissions(temp.as_file())?,
    };
    std::fs::set_permissions(temp.path(), permissions)?;
    Ok(temp)
}

/// A new file is readable by all, as an editor would create it (temp files start private).
#[cfg(unix)]
fn new_file_permissions(_file: &std::fs::File) -> std::io::Result<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn new_file_permissions(file: &std::fs::File) -> std::io::Result<std::fs::Permissions> {
    Ok(file.metadata()?.permissions())
}

/// A unified diff, hunk by hunk: lines that did not change are context, never `-` and `+`.
fn diff(name: &str, old: Option<&str>, new: &str) -> String {
    let from = if old.is_some() {
        format!("a/{name}")
    } else {
        "/dev/null".into()
    };
    similar::TextDiff::from_lines(old.unwrap_or(""), new)
        .unified_diff()
        .context_radius(3)
        .header(&from, &format!("b/{name}"))
        .to_string()
}

/// The `[mcp_servers.local-executor]` block for `~/.codex/config.toml`. Codex does not expand
/// variables, so the values are the ones found. Its tool timeout must outlast the longest call
/// the server allows: the total timeout, plus a check that started before it ran out, plus the
/// way back. Codex asks before a call of a tool not marked read-only (and cancels it in
/// `codex exec`, where nobody can answer), so the server's tools are approved; the write tool is
/// left to ask under `--no-write-permission`, as in Claude Code.
fn codex_block(cfg: &Config, found: &Found, no_write_permission: bool) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let secs = |d: std::time::Duration| d.as_secs_f64().ceil() as u64;
    let total = secs(cfg.total_timeout);
    let check = secs(cfg.check_timeout);
    let mut env = vec![format!("LOCAL_LLM_BASE_URL = {}", q(&found.base_url))];
    if !found.quality.is_empty() {
        env.push(format!("LOCAL_LLM_MODEL_QUALITY = {}", q(&found.quality)));
    }
    if !found.fast.is_empty() {
        env.push(format!("LOCAL_LLM_MODEL_FAST = {}", q(&found.fast)));
    }
    env.push("LOCAL_EXECUTOR_ALLOW_WRITE = \"1\"".into());
    let mut out = String::new();
    let _ = writeln!(out, "[mcp_servers.{SERVER_NAME}]");
    let _ = writeln!(out, "command = {}", q(COMMAND));
    out.push_str("args = [\"serve\"]\n");
    let _ = writeln!(out, "env = {{ {} }}", env.join(", "));
    if cfg.api_key.is_some() {
        out.push_str("env_vars = [\"LOCAL_LLM_API_KEY\"]  # passes your shell's key through\n");
    }
    let _ = writeln!(
        out,
        "# a call's whole budget ({total} s, LOCAL_LLM_TIMEOUT), a check started before it ends \
({check} s, LOCAL_EXECUTOR_CHECK_TIMEOUT), and {CODEX_TIMEOUT_MARGIN_SECS} s for the answer"
    );
    let _ = writeln!(
        out,
        "tool_timeout_sec = {}",
        total + check + CODEX_TIMEOUT_MARGIN_SECS
    );
    out.push_str(
        "# run the server's tools without asking (codex exec cancels a call that would ask)\n",
    );
    out.push_str("default_tools_approval_mode = \"approve\"\n");
    if no_write_permission {
        let _ = writeln!(
            out,
            "\n[mcp_servers.{SERVER_NAME}.tools.{WRITE_TOOL}]\napproval_mode = \"prompt\""
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_is_appended_once_then_replaced_in_place() {
        let first = merge_section(Some("# Project\n\nRules.\n"), "body v1\n").unwrap();
        assert_eq!(
            first,
            format!("# Project\n\nRules.\n\n{BEGIN_MARKER}\nbody v1\n{END_MARKER}\n")
        );
        let again = merge_section(Some(&first), "body v1\n").unwrap();
        assert_eq!(again, first);
        let edited = format!("{first}\n## After\n");
        let updated = merge_section(Some(&edited), "body v2\n").unwrap();
        assert_eq!(
            updated,
            format!("# Project\n\nRules.\n\n{BEGIN_MARKER}\nbody v2\n{END_MARKER}\n\n## After\n")
        );
        assert_eq!(updated.matches(BEGIN_MARKER).count(), 1);
    }

    #[test]
    fn section_follows_crlf_and_refuses_broken_markers() {
        let merged = merge_section(Some("a\r\nb\r\n"), "x\n").unwrap();
        assert_eq!(
            merged,
            format!("a\r\nb\r\n\r\n{BEGIN_MARKER}\r\nx\r\n{END_MARKER}\r\n")
        );
        assert_eq!(merge_section(Some(&merged), "x\n").unwrap(), merged);
        assert!(merge_section(Some(&format!("{BEGIN_MARKER}\nno end\n")), "x\n").is_err());
        assert!(merge_section(Some(&format!("{END_MARKER}\n{BEGIN_MARKER}\n")), "x\n").is_err());
        assert_eq!(
            merge_section(None, "x\n").unwrap(),
            format!("{BEGIN_MARKER}\nx\n{END_MARKER}\n")
        );
    }

    fn found(answered: bool) -> Found {
        Found {
            base_url: "http://h:8080/v1".into(),
            quality: "coder".into(),
            fast: "coder".into(),
            answered,
            summary: String::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn only_inits_own_placeholders_count_as_init_s() {
        assert_eq!(
            placeholder_default("LOCAL_LLM_BASE_URL", "${LOCAL_LLM_BASE_URL:-http://x/v1}"),
            Some("http://x/v1")
        );
        assert_eq!(
            placeholder_default("LOCAL_LLM_MODEL_FAST", "${LOCAL_LLM_MODEL_FAST:-}"),
            Some("")
        );
        assert_eq!(
            placeholder_default("LOCAL_LLM_BASE_URL", "http://x/v1"),
            None
        );
        assert_eq!(
            placeholder_default("LOCAL_LLM_BASE_URL", "${OTHER:-http://x/v1}"),
            None
        );
        assert_eq!(placeholder_default("K", "${K}"), None);
    }

    #[test]
    fn a_teams_entry_keeps_its_args_switch_key_and_indentation() {
        let text = "{\n    \"mcpServers\": {\n        \"local-executor\": {\n            \"command\": \"local-executor-mcp\",\n            \"args\": [\"serve\", \"--protected\", \"deploy/\"],\n            \"env\": {\n                \"LOCAL_LLM_BASE_URL\": \"${LOCAL_LLM_BASE_URL:-http://old:1/v1}\",\n                \"LOCAL_LLM_API_KEY\": \"${TEAM_LLM_KEY}\",\n                \"LOCAL_EXECUTOR_ALLOW_WRITE\": \"0\"\n            }\n        }\n    }\n}\n";
        let (new, what) = merge_mcp_json(text, &found(true)).unwrap();
        assert_eq!(
            new,
            text.replace("http://old:1/v1", "http://h:8080/v1").replace(
                "\"0\"\n",
                "\"0\",\n                \"LOCAL_LLM_MODEL_QUALITY\": \"${LOCAL_LLM_MODEL_QUALITY:-coder}\",\n                \"LOCAL_LLM_MODEL_FAST\": \"${LOCAL_LLM_MODEL_FAST:-coder}\"\n"
            )
        );
        assert!(
            what.contains("LOCAL_LLM_BASE_URL default updated"),
            "{what}"
        );
        assert!(
            what.contains(
                "kept as the team set them: LOCAL_LLM_API_KEY, LOCAL_EXECUTOR_ALLOW_WRITE=\"0\""
            ),
            "{what}"
        );
        // Unconfirmed by a backend, init's own placeholder keeps its default, and is not called
        // the team's.
        let (same, what) = merge_mcp_json(&new, &found(false)).unwrap();
        assert_eq!(same, new);
        assert_eq!(
            what,
            "kept as the team set them: LOCAL_LLM_API_KEY, LOCAL_EXECUTOR_ALLOW_WRITE=\"0\""
        );
    }

    #[test]
    fn settings_get_the_missing_rules_only_and_keep_deny() {
        let text = "{\n\t\"permissions\": {\n\t\t\"allow\": [\n\t\t\t\"Bash(ls)\",\n\t\t\t\"mcp__local-executor__list_local_models\"\n\t\t],\n\t\t\"deny\": [\"mcp__local-executor__delegate_files\"]\n\t},\n\t\"model\": \"x\"\n}";
        let (new, what) = merge_claude_settings(text, &TOOLS, false).unwrap();
        assert_eq!(
            new,
            text.replace(
                "list_local_models\"\n",
                "list_local_models\",\n\t\t\t\"mcp__local-executor__delegate_code\",\n\t\t\t\"mcp__local-executor__delegate_files\"\n"
            )
        );
        assert!(
            what.contains("deny rules for delegate_files are kept"),
            "{what}"
        );
        // A whole-server rule covers every tool.
        let whole = "{\"permissions\": {\"allow\": [\"mcp__local-executor\"]}}";
        let (new, what) = merge_claude_settings(whole, &TOOLS, false).unwrap();
        assert_eq!((new.as_str(), what.as_str()), (whole, ""));
        assert!(merge_claude_settings("{\"permissions\": []}", &TOOLS, false).is_err());
        assert!(
            merge_claude_settings("{\"permissions\": {\"allow\": \"x\"}}", &TOOLS, false).is_err()
        );
    }

    #[test]
    fn diff_shows_the_changed_lines_with_context() {
        let d = diff(
            "f",
            Some("1\n2\n3\n4\n5\n6\n7\n8\n"),
            "1\n2\n3\n4\nX\n6\n7\n8\n",
        );
        assert_eq!(
            d,
            "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n"
        );
        let d = diff("n", None, "a\nb\n");
        assert_eq!(d, "--- /dev/null\n+++ b/n\n@@ -0,0 +1,2 @@\n+a\n+b\n");
    }

    #[test]
    fn section_stays_short() {
        // Read by the planner at the start of every session.
        assert!(SECTION_BODY.len() < 800, "{}", SECTION_BODY.len());
    }
}
