//! `init`: sets a project up for delegation in one command. It merges the server into the
//! project's `.mcp.json`, adds a marked delegation section to `CLAUDE.md` and `AGENTS.md`, and
//! prints the block for Codex's `~/.codex/config.toml`. Every file is read and judged before any is
//! written, the new contents are staged beside their targets, and only then renamed into place,
//! so a refusal or a failure leaves every file as it was.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::backend::Backend;
use crate::config::Config;
use crate::models;

/// The server's name in `.mcp.json` and in Codex's config.
const SERVER_NAME: &str = "local-executor";
/// The command a project's `.mcp.json` runs: the binary on `PATH`, as after `cargo install`.
const COMMAND: &str = "local-executor-mcp";
const BEGIN_MARKER: &str = "<!-- local-executor-mcp:begin -->";
const END_MARKER: &str = "<!-- local-executor-mcp:end -->";
/// Seconds Codex waits on a tool call beyond the first-token timeout: the request, the
/// generation's first lines and the answer need a little time after the first token.
const CODEX_TIMEOUT_MARGIN_SECS: u64 = 30;

/// The delegation section of `CLAUDE.md` and `AGENTS.md`. The planner reads it every session, so
/// every line must earn its tokens.
const SECTION_BODY: &str = "\
## Delegating to the local model (local-executor)

- Delegate mechanical, well-specified writing: boilerplate, scaffolding, CRUD, test stubs, \
fixtures, format conversions, rule-based edits. Keep logic, debugging and security-sensitive code.
- Write `task` as a precise, self-contained spec: names, signatures, behaviour, edge cases, \
output format. The local model sees nothing else.
- Pass files by path in `context_files` (`path` or `path:START-END`); never paste them.
- Let artifacts land on disk: `delegate_files` writes new files and edits existing ones, several \
per call. Use `delegate_code` only when you need the text itself.
- Review the receipt it returns; open or test the file when it matters.
- On `DELEGATION_FAILED`, do that task yourself.
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
        if plan.changed() {
            let _ = writeln!(out, "{verb} {} ({})", plan.name, plan.what);
        } else {
            let _ = writeln!(out, "{verb} {}", plan.name);
        }
        if cmd.dry_run && plan.changed() {
            out.push_str(&diff(&plan.name, plan.old.as_deref(), &plan.new));
        }
    }
    out.push_str(
        "\nClaude Code asks once to approve the project's server; \
\"enabledMcpjsonServers\": [\"local-executor\"] in ~/.claude/settings.json approves it ahead of time.\n",
    );
    out.push_str("\nCodex: add this to ~/.codex/config.toml\n\n");
    out.push_str(&codex_block(cfg, &found));
    print!("{out}");
    Ok(())
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
}

/// Reads `root/name` when it exists, refusing what must not be written: a symlink out of the
/// project or to nowhere, something other than a regular file, a read-only file, non-UTF-8 text.
fn inspect(root: &Path, name: &str) -> Result<Existing, String> {
    let path = root.join(name);
    let link = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Existing {
                target: path,
                text: None,
                permissions: None,
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
    })
}

fn plan_section(root: &Path, name: &str) -> Result<Plan, String> {
    let existing = inspect(root, name)?;
    let new = merge_section(existing.text.as_deref(), SECTION_BODY)?;
    let what = match &existing.text {
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

fn plan_mcp_json(root: &Path, found: &Found) -> Result<Plan, String> {
    let existing = inspect(root, ".mcp.json")?;
    let mut doc = match existing.text.as_deref() {
        None => Json::Obj(Vec::new()),
        Some(t) if t.trim().is_empty() => Json::Obj(Vec::new()),
        Some(t) => serde_json::from_str::<Json>(t).map_err(|e| {
            format!("is not valid JSON ({e}); fix it or move it away, then run init again")
        })?,
    };
    let Json::Obj(top) = &mut doc else {
        return Err("is not a JSON object; fix it or move it away".into());
    };
    let servers = entry(top, "mcpServers");
    let Json::Obj(servers) = servers else {
        return Err("its `mcpServers` is not an object; fix it or move it away".into());
    };
    let had_entry = servers.iter().any(|(k, _)| k == SERVER_NAME);
    let server = entry(servers, SERVER_NAME);
    let Json::Obj(server) = server else {
        return Err(format!(
            "its `mcpServers.{SERVER_NAME}` is not an object; fix it or move it away"
        ));
    };
    // A command that already runs this binary from elsewhere (vendored in the repository, a full
    // path) is the team's choice; anything else becomes the binary on PATH.
    let keeps_command = server.iter().any(|(k, v)| {
        k == "command"
            && matches!(v, Json::Str(c) if c.rsplit(['/', '\\']).next().is_some_and(|f| f.starts_with(COMMAND)))
    });
    if !keeps_command {
        set(server, "command", Json::Str(COMMAND.into()));
    }
    set(server, "args", Json::Arr(vec![Json::Str("serve".into())]));
    let env = entry(server, "env");
    let Json::Obj(env) = env else {
        return Err(format!(
            "its `mcpServers.{SERVER_NAME}.env` is not an object; fix it or move it away"
        ));
    };
    for (k, v) in server_env(found) {
        set(env, k, Json::Str(v));
    }
    let unchanged = match existing.text.as_deref() {
        Some(t) => serde_json::from_str::<Json>(t).is_ok_and(|old| old == doc),
        None => false,
    };
    let new = if unchanged {
        existing.text.clone().unwrap_or_default()
    } else {
        let mut s = String::new();
        doc.write_pretty(&mut s, 0);
        s.push('\n');
        s
    };
    let what = if existing.text.is_none() {
        format!("server `{SERVER_NAME}`")
    } else if had_entry {
        format!("server `{SERVER_NAME}` updated, everything else kept")
    } else {
        format!("server `{SERVER_NAME}` added, everything else kept")
    };
    Ok(Plan {
        name: ".mcp.json".into(),
        target: existing.target,
        old: existing.text,
        new,
        permissions: existing.permissions,
        what,
    })
}

/// The value under `key`, inserted as an empty object when missing.
fn entry<'a>(obj: &'a mut Vec<(String, Json)>, key: &str) -> &'a mut Json {
    let i = match obj.iter().position(|(k, _)| k == key) {
        Some(i) => i,
        None => {
            obj.push((key.to_string(), Json::Obj(Vec::new())));
            obj.len() - 1
        }
    };
    &mut obj[i].1
}

/// Sets `key` in place (keeping its position), dropping any duplicate of it.
fn set(obj: &mut Vec<(String, Json)>, key: &str, value: Json) {
    match obj.iter().position(|(k, _)| k == key) {
        Some(i) => {
            obj[i].1 = value;
            let mut seen = 0;
            obj.retain(|(k, _)| {
                if k == key {
                    seen += 1;
                    seen == 1
                } else {
                    true
                }
            });
        }
        None => obj.push((key.to_string(), value)),
    }
}

/// Writes every changed plan: all are staged in temp files beside their targets first, then
/// renamed into place, so a failure while staging leaves every file untouched.
fn commit(plans: &[Plan]) -> Result<(), String> {
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

/// A unified diff of one contiguous change: the common first and last lines are context.
fn diff(name: &str, old: Option<&str>, new: &str) -> String {
    const CONTEXT: usize = 3;
    let old_lines: Vec<&str> = old.map(|o| o.lines().collect()).unwrap_or_default();
    let new_lines: Vec<&str> = new.lines().collect();
    let prefix = old_lines
        .iter()
        .zip(&new_lines)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old_lines[prefix..]
        .iter()
        .rev()
        .zip(new_lines[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let start = prefix.saturating_sub(CONTEXT);
    let old_end = (old_lines.len() - suffix + CONTEXT).min(old_lines.len());
    let new_end = (new_lines.len() - suffix + CONTEXT).min(new_lines.len());
    let mut out = String::new();
    let from = if old.is_some() {
        format!("a/{name}")
    } else {
        "/dev/null".into()
    };
    let _ = writeln!(out, "--- {from}\n+++ b/{name}");
    let _ = writeln!(
        out,
        "@@ -{},{} +{},{} @@",
        start + usize::from(old_end > start),
        old_end - start,
        start + usize::from(new_end > start),
        new_end - start
    );
    for line in &old_lines[start..prefix] {
        let _ = writeln!(out, " {line}");
    }
    for line in &old_lines[prefix..old_lines.len() - suffix] {
        let _ = writeln!(out, "-{line}");
    }
    for line in &new_lines[prefix..new_lines.len() - suffix] {
        let _ = writeln!(out, "+{line}");
    }
    for line in &new_lines[new_lines.len() - suffix..new_end] {
        let _ = writeln!(out, " {line}");
    }
    out
}

/// The `[mcp_servers.local-executor]` block for `~/.codex/config.toml`. Codex does not expand
/// variables, so the values are the ones found; its tool timeout must outlast a model load.
fn codex_block(cfg: &Config, found: &Found) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let first_token = cfg.first_token_timeout.as_secs_f64().ceil() as u64;
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
        "# the first-token timeout ({first_token} s, LOCAL_LLM_FIRST_TOKEN_TIMEOUT) plus a margin"
    );
    let _ = writeln!(
        out,
        "tool_timeout_sec = {}",
        first_token + CODEX_TIMEOUT_MARGIN_SECS
    );
    out
}

/// JSON whose objects keep their keys in the file's order, so a merge changes only what it sets.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// serde_json's pretty layout: two spaces a level, `"key": value`, empty `[]` and `{}`.
    fn write_pretty(&self, out: &mut String, depth: usize) {
        let pad = |out: &mut String, d: usize| out.push_str(&"  ".repeat(d));
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Str(s) => out.push_str(&quote(s)),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, depth + 1);
                    item.write_pretty(out, depth + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    pad(out, depth + 1);
                    out.push_str(&quote(k));
                    out.push_str(": ");
                    v.write_pretty(out, depth + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }
}

fn quote(s: &str) -> String {
    // Serializing a str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
                Ok(Json::Num(n.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
                Ok(Json::Num(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(n)
                    .map(Json::Num)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Json, E> {
                Ok(Json::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    fields.push((k, v));
                }
                Ok(Json::Obj(fields))
            }
        }
        d.deserialize_any(V)
    }
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

    #[test]
    fn json_keeps_key_order_and_pretty_prints_like_serde_json() {
        let text = r#"{"z": 1, "a": [true, null, 1.5, "s"], "m": {}, "e": []}"#;
        let doc: Json = serde_json::from_str(text).unwrap();
        let mut out = String::new();
        doc.write_pretty(&mut out, 0);
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        // Same layout as serde_json's, apart from serde_json's sorted keys.
        assert_eq!(
            out,
            "{\n  \"z\": 1,\n  \"a\": [\n    true,\n    null,\n    1.5,\n    \"s\"\n  ],\n  \"m\": {},\n  \"e\": []\n}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), v);
    }

    #[test]
    fn set_keeps_position_and_drops_duplicates() {
        let mut obj = vec![
            ("a".to_string(), Json::Null),
            ("k".to_string(), Json::Null),
            ("b".to_string(), Json::Null),
            ("k".to_string(), Json::Bool(true)),
        ];
        set(&mut obj, "k", Json::Str("v".into()));
        let keys: Vec<&str> = obj.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "k", "b"]);
        assert_eq!(obj[1].1, Json::Str("v".into()));
    }

    #[test]
    fn diff_shows_one_hunk_with_context() {
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
