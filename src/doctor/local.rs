//! The checks of this machine: the usage folder, the workspace and the binary on `PATH`. The
//! checks of what the user configures to run here (the check commands: each program must exist)
//! belong beside them.

use std::path::Path;

use super::Report;

/// The folder takes a new file, and an existing usage.jsonl opens for appending. Nothing is
/// written to the log itself.
pub(super) fn check_usage_folder(home: &Path, usage: &Path, report: &mut Report) {
    let result = std::fs::create_dir_all(home)
        .map_err(|e| format!("cannot create {}: {e}", home.display()))
        .and_then(|_| {
            tempfile::Builder::new()
                .prefix(".doctor-")
                .tempfile_in(home)
                .map_err(|e| format!("cannot create a file in {}: {e}", home.display()))
        })
        .and_then(
            |_| match std::fs::OpenOptions::new().append(true).open(usage) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot append to {}: {e}", usage.display())),
            },
        );
    match result {
        Ok(()) => report.pass(format!("usage log {} is writable", usage.display())),
        Err(e) => report.fail(
            format!("usage log not writable: {e}"),
            "set LOCAL_EXECUTOR_HOME to a folder you can write to",
        ),
    }
}

pub(super) fn check_workspace(workspace: &Path, allow_write: bool, report: &mut Report) {
    if !workspace.is_dir() {
        report.fail(
            format!("workspace {} is not a folder", workspace.display()),
            "set LOCAL_EXECUTOR_WORKSPACE to the project folder (Claude Code sets CLAUDE_PROJECT_DIR)",
        );
        return;
    }
    if !allow_write {
        report.pass(format!(
            "workspace {}; writing files (delegate_files) is off, LOCAL_EXECUTOR_ALLOW_WRITE=1 turns it on",
            workspace.display()
        ));
        return;
    }
    match tempfile::Builder::new()
        .prefix(".local-executor-doctor-")
        .tempfile_in(workspace)
    {
        Ok(_) => report.pass(format!(
            "workspace {}; writing files (delegate_files) is on, inside it only",
            workspace.display()
        )),
        Err(e) => report.fail(
            format!(
                "workspace {}: writing is on but the folder is not writable: {e}",
                workspace.display()
            ),
            "make the workspace writable, or leave LOCAL_EXECUTOR_ALLOW_WRITE unset",
        ),
    }
}

/// Each configured check command's program exists; without it the check says `missing` and the
/// artifact is delivered unchecked by it.
pub(super) fn check_commands(cfg: &crate::config::Config, report: &mut Report) {
    let commands = crate::check::describe(cfg);
    // How the checks are confined here: only worth a line when there are checks.
    match crate::check::sandbox::describe() {
        _ if commands.is_empty() => {}
        (true, text) => report.pass(text),
        (false, text) => report.note(text),
    }
    for c in commands {
        // A command without `{file}` checks the staged project and gets no file argument.
        let scope = if c.project_wide { "project-wide, " } else { "" };
        match &c.found {
            Some(path) => report.pass(format!(
                "check for {}: `{}` ({scope}{})",
                c.language,
                c.command,
                path.display()
            )),
            None => report.fail(
                format!(
                    "check for {}: `{}` — {} is not installed or not on PATH",
                    c.language, c.command, c.program
                ),
                format!(
                    "install {}, or remove LOCAL_EXECUTOR_CHECK_{}; meanwhile its verdict is `missing`",
                    c.program,
                    c.language.to_ascii_uppercase()
                ),
            ),
        }
    }
}

/// `local-executor-mcp` on `PATH`: a project's `.mcp.json` as `init` writes it, and the plugin,
/// start it by that name. Not a failure: the `claude mcp add` line below names it by its full path.
pub(super) fn check_on_path(report: &mut Report) {
    let name = crate::init::COMMAND;
    if crate::init::binary_on_path() {
        report.pass(format!("{name} is on PATH"));
    } else {
        report.advise(
            format!(
                "{name} is not on PATH: a project's .mcp.json (as `init` writes it) and the Claude \
Code plugin start it by that name, and fail without it"
            ),
            crate::init::install_hint(),
        );
    }
}
