//! Whether Claude Code will ask before each of the server's tools. Claude Code (2.1.330) asks
//! permission for every MCP tool, read-only or not, and headless (`claude -p`) it refuses the call
//! instead; `--permission-mode acceptEdits` does not cover MCP tools. The rules live in
//! `permissions.allow` and `permissions.deny` of the project's `.claude/settings.json` and
//! `.claude/settings.local.json` and of the user's `~/.claude/settings.json`; a rule names one tool
//! (`mcp__local-executor__delegate_files`) or the whole server (`mcp__local-executor`), and a deny
//! rule wins over any allow rule. The project's rules count only in a folder the user has trusted,
//! which Claude Code records in `~/.claude.json`.

use std::path::{Path, PathBuf};

use super::Report;
use crate::init::{TOOLS, rule_covers, tool_rule};

/// One settings file's rules, or why it could not be read.
struct Rules {
    /// How the report names the file.
    label: String,
    /// A project file: its rules count only in a trusted folder.
    project: bool,
    allow: Vec<String>,
    deny: Vec<String>,
}

/// What decides a tool: the deny rule's file, else the allow rule's, else nothing (Claude Code
/// asks).
enum Verdict {
    Denied(String),
    Allowed(String),
    /// Allowed only by a project file in a folder not trusted yet: Claude Code asks until it is.
    OnceTrusted(String),
    Asks,
}

pub(super) fn check_permissions(workspace: &Path, home: Option<&Path>, report: &mut Report) {
    let mut files = Vec::new();
    for name in ["settings.json", "settings.local.json"] {
        files.push((
            workspace.join(".claude").join(name),
            format!(".claude/{name}"),
            true,
        ));
    }
    if let Some(home) = home {
        files.push((
            home.join(".claude").join("settings.json"),
            "~/.claude/settings.json".into(),
            false,
        ));
    }
    let mut read = Vec::new();
    for (path, label, project) in files {
        match load(&path) {
            Ok(Some((allow, deny))) => read.push(Rules {
                label,
                project,
                allow,
                deny,
            }),
            Ok(None) => {}
            Err(e) => report.note(format!(
                "Claude Code settings {label} could not be read ({e}); its permission rules are not \
counted here"
            )),
        }
    }

    let trusted = trusted(workspace, home);
    let verdicts: Vec<(&str, Verdict)> = TOOLS
        .iter()
        .map(|t| (*t, verdict(&read, t, trusted)))
        .collect();
    let allowed = pick(&verdicts, |v| matches!(v, Verdict::Allowed(_)));
    if !allowed.is_empty() {
        report.pass(format!(
            "Claude Code calls {} without asking (allowed in {})",
            allowed.join(", "),
            sources(&verdicts, |v| match v {
                Verdict::Allowed(f) => Some(f),
                _ => None,
            })
        ));
    }
    let once_trusted = pick(&verdicts, |v| matches!(v, Verdict::OnceTrusted(_)));
    if !once_trusted.is_empty() {
        report.advise(
            format!(
                "Claude Code asks before each call of {} until you trust this folder: the allow \
rules in {} count only then",
                once_trusted.join(", "),
                sources(&verdicts, |v| match v {
                    Verdict::OnceTrusted(f) => Some(f),
                    _ => None,
                })
            ),
            "start `claude` in the folder once and accept the trust prompt (Claude Code records it \
in ~/.claude.json)",
        );
    }
    for (tool, v) in &verdicts {
        if let Verdict::Denied(file) = v {
            report.advise(
                format!("Claude Code refuses {tool}: a deny rule in {file} covers it"),
                format!(
                    "remove that rule from permissions.deny in {file} to let the planner delegate \
with it"
                ),
            );
        }
    }
    let asks = pick(&verdicts, |v| matches!(v, Verdict::Asks));
    if !asks.is_empty() {
        let rules: Vec<String> = asks
            .iter()
            .map(|t| format!("\"{}\"", tool_rule(t)))
            .collect();
        report.advise(
            format!(
                "Claude Code asks before each call of {} (headless, `claude -p` refuses it): no \
permissions.allow rule covers it",
                asks.join(", ")
            ),
            format!(
                "run `local-executor-mcp init` in the project (it adds the rules to \
.claude/settings.json), or add {} to permissions.allow there",
                rules.join(", ")
            ),
        );
    }
}

/// The files named by the verdicts `f` picks, each once, in the tools' order.
fn sources<'a>(
    verdicts: &'a [(&str, Verdict)],
    f: impl Fn(&'a Verdict) -> Option<&'a String>,
) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (_, v) in verdicts {
        if let Some(file) = f(v)
            && !out.contains(&file.as_str())
        {
            out.push(file);
        }
    }
    out.join(", ")
}

fn pick<'a>(verdicts: &[(&'a str, Verdict)], f: impl Fn(&Verdict) -> bool) -> Vec<&'a str> {
    verdicts
        .iter()
        .filter(|(_, v)| f(v))
        .map(|(t, _)| *t)
        .collect()
}

/// Deny wins over allow, in any file (a project's deny rule is counted even untrusted: saying
/// "refuses" where Claude Code would ask is the safer mistake); a project's allow rule counts once
/// the folder is trusted.
fn verdict(files: &[Rules], tool: &str, trusted: bool) -> Verdict {
    if let Some(f) = files
        .iter()
        .find(|f| f.deny.iter().any(|r| rule_covers(r, tool)))
    {
        return Verdict::Denied(f.label.clone());
    }
    let allowing = |f: &&Rules| f.allow.iter().any(|r| rule_covers(r, tool));
    if let Some(f) = files
        .iter()
        .filter(|f| trusted || !f.project)
        .find(allowing)
    {
        return Verdict::Allowed(f.label.clone());
    }
    match files.iter().find(allowing) {
        Some(f) => Verdict::OnceTrusted(f.label.clone()),
        None => Verdict::Asks,
    }
}

type AllowDeny = (Vec<String>, Vec<String>);

/// The allow and deny rules of one settings file; `None` when there is no such file.
fn load(path: &Path) -> Result<Option<AllowDeny>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let list = |key: &str| -> Vec<String> {
        doc.get("permissions")
            .and_then(|p| p.get(key))
            .and_then(|l| l.as_array())
            .map(|l| {
                l.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Some((list("allow"), list("deny"))))
}

/// Whether `~/.claude.json` marks the folder (or a folder above it) as trusted.
fn trusted(workspace: &Path, home: Option<&Path>) -> bool {
    let Some(home) = home else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(home.join(".claude.json")) else {
        return false;
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let Some(projects) = doc.get("projects").and_then(|p| p.as_object()) else {
        return false;
    };
    let real = workspace
        .canonicalize()
        .unwrap_or_else(|_| workspace.to_path_buf());
    projects.iter().any(|(dir, p)| {
        let dir = PathBuf::from(dir);
        real.starts_with(&dir)
            && p.get("hasTrustDialogAccepted")
                .and_then(|t| t.as_bool())
                .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(label: &str, allow: &[&str], deny: &[&str]) -> Rules {
        Rules {
            label: label.into(),
            project: true,
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn deny_beats_allow_and_the_server_rule_covers_every_tool() {
        let files = [
            rules("a", &["mcp__local-executor"], &[]),
            rules("b", &[], &["mcp__local-executor__delegate_files"]),
        ];
        assert!(matches!(verdict(&files, "delegate_files", true), Verdict::Denied(f) if f == "b"));
        assert!(matches!(verdict(&files, "delegate_code", true), Verdict::Allowed(f) if f == "a"));
        // A project's allow rule waits for trust; a deny rule does not.
        assert!(
            matches!(verdict(&files, "delegate_code", false), Verdict::OnceTrusted(f) if f == "a")
        );
        assert!(matches!(
            verdict(&files, "delegate_files", false),
            Verdict::Denied(_)
        ));
        let files = [rules(
            "a",
            &["mcp__local-executor__list_local_models", "mcp__other"],
            &[],
        )];
        assert!(matches!(
            verdict(&files, "delegate_code", true),
            Verdict::Asks
        ));
        assert!(matches!(
            verdict(&files, "list_local_models", true),
            Verdict::Allowed(_)
        ));
        // Another server's name that merely starts with ours covers nothing; its wildcard does.
        let files = [rules("a", &["mcp__local-executor-2"], &[])];
        assert!(matches!(
            verdict(&files, "delegate_code", true),
            Verdict::Asks
        ));
        let files = [rules("a", &["mcp__local-executor__*"], &[])];
        assert!(matches!(
            verdict(&files, "delegate_code", true),
            Verdict::Allowed(_)
        ));
    }
}
