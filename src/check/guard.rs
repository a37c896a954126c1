//! The workspace paths a configured check command runs or loads, which a delegation must never
//! write: otherwise the next check would run what the model wrote. The program itself when it
//! lives in the workspace (`./tools/lint`, `.venv/bin/ruff`, or a bare name that `PATH` finds
//! there), a Python `-m` module that the working directory could shadow, and the configuration
//! files that a few well-known checkers execute (`eslint.config.js`, `build.rs`). Each is kept
//! as a protected-path pattern (see [`crate::workspace::protects`]) with the reason shown when a
//! write is refused.

use std::path::{Component, Path};

use super::command::find_program;
use crate::config::CheckCommand;

/// A path pattern under the workspace root, and why writing there is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guard {
    /// `/tools/` (a folder from the root), `/py_compile.py` (a file at the root), or a bare name
    /// such as `build.rs` (at any depth).
    pub(crate) pattern: String,
    pub(crate) reason: String,
}

/// Files that a checker loads and runs as code, by program name. They steer what the check
/// runs, so a delegation must not write them.
const EXECUTED_CONFIG: &[(&str, &[&str])] = &[
    (
        "eslint",
        &[
            "/eslint.config.js",
            "/eslint.config.mjs",
            "/eslint.config.cjs",
            "/eslint.config.ts",
            "/eslint.config.mts",
            "/eslint.config.cts",
            "/.eslintrc.js",
            "/.eslintrc.cjs",
        ],
    ),
    (
        "prettier",
        &[
            "/prettier.config.js",
            "/prettier.config.mjs",
            "/prettier.config.cjs",
            "/.prettierrc.js",
            "/.prettierrc.cjs",
            "/.prettierrc.mjs",
        ],
    ),
    // Build scripts and procedural macros run during `cargo check`; `.cargo/` can name a
    // wrapper that runs instead of rustc.
    ("cargo", &["build.rs", "/.cargo/"]),
    // Package runners execute what `node_modules` holds.
    ("npx", &["/node_modules/"]),
    ("pnpm", &["/node_modules/"]),
    ("yarn", &["/node_modules/"]),
    ("bunx", &["/node_modules/"]),
];

/// Every guard the configured commands need, in the order of the commands.
pub(crate) fn guards(commands: &[CheckCommand], workspace: &Path) -> Vec<Guard> {
    let root = workspace
        .canonicalize()
        .unwrap_or_else(|_| workspace.to_path_buf());
    let mut all: Vec<Guard> = Vec::new();
    for c in commands {
        let reason = format!(
            "a check command runs or loads it ({}: `{}`)",
            c.language, c.command
        );
        for pattern in patterns(&c.argv, workspace, &root) {
            if !all.iter().any(|g| g.pattern == pattern) {
                all.push(Guard {
                    pattern,
                    reason: reason.clone(),
                });
            }
        }
    }
    all
}

/// The patterns one command needs: its program, its `-m` module, its executed configuration.
fn patterns(argv: &[String], workspace: &Path, root: &Path) -> Vec<String> {
    let Some(program) = argv.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(rel) = program_in_workspace(program, workspace, root) {
        out.push(top_of(&rel));
    }
    let name = super::command::name(argv);
    if is_python(&name)
        && let Some(module) = python_module(&argv[1..])
    {
        // With the working directory first on `sys.path` (Python before 3.11 ignores
        // PYTHONSAFEPATH), `./<top>.py` or `./<top>/` would be imported instead.
        let top = module.split('.').next().unwrap_or(&module);
        out.push(format!("/{top}.py"));
        out.push(format!("/{top}/"));
    }
    let stem = name.strip_suffix(".exe").unwrap_or(&name);
    for (program, files) in EXECUTED_CONFIG {
        if stem == *program {
            out.extend(files.iter().map(|f| f.to_string()));
        }
    }
    out
}

/// The program's path relative to the workspace root when it lives there: a relative path with a
/// separator, an absolute path under the root, or a bare name that `PATH` finds under the root
/// (an activated `.venv/bin`, `node_modules/.bin`).
fn program_in_workspace(program: &str, workspace: &Path, root: &Path) -> Option<String> {
    let path = Path::new(program);
    let full = if path.is_relative() && path.components().count() > 1 {
        workspace.join(path)
    } else if path.is_absolute() {
        path.to_path_buf()
    } else {
        find_program(program, workspace)?
    };
    // Judged by where it leads; a program not there yet is judged by its spelling.
    let full = full
        .canonicalize()
        .unwrap_or_else(|_| lexical(&full).unwrap_or(full));
    let rel = full.strip_prefix(root).ok()?;
    let names: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    (!names.is_empty()).then(|| names.join("/"))
}

/// `a/./b/../c` as `a/c`, without asking the file system; `None` when `..` climbs out.
fn lexical(path: &Path) -> Option<std::path::PathBuf> {
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

/// A folder's pattern for a program inside one (the whole top folder: a virtualenv's
/// interpreter loads its `site-packages`, a wrapper script its neighbours), else the file's.
fn top_of(rel: &str) -> String {
    match rel.split_once('/') {
        Some((top, _)) => format!("/{top}/"),
        None => format!("/{rel}"),
    }
}

fn is_python(name: &str) -> bool {
    let name = name.strip_suffix(".exe").unwrap_or(name);
    name == "py"
        || name.strip_prefix("python").is_some_and(|rest| {
            rest.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == 'w')
        })
}

/// The module of `-m module` (or `-mmodule`), looking only at the interpreter's own options,
/// which come before the module.
fn python_module(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-m" {
            return it.next().cloned();
        }
        if let Some(m) = a.strip_prefix("-m") {
            return Some(m.to_string());
        }
        if !a.starts_with('-') || a == "-c" || a == "-" {
            return None;
        }
    }
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::workspace::protects;

    fn guarded(commands: &[(&str, &str)], ws: &Path, rel: &str) -> bool {
        let commands: Vec<CheckCommand> = commands
            .iter()
            .map(|(l, c)| crate::check::check_command(l, c).unwrap())
            .collect();
        guards(&commands, ws)
            .iter()
            .any(|g| protects(&g.pattern, rel))
    }

    #[test]
    fn a_python_module_at_the_root_is_guarded_and_nothing_else() {
        let ws = tempfile::tempdir().unwrap();
        let py = [("python", "python3 -m py_compile {file}")];
        assert!(guarded(&py, ws.path(), "py_compile.py"));
        assert!(guarded(&py, ws.path(), "py_compile/__init__.py"));
        assert!(guarded(&py, ws.path(), "PY_COMPILE.py"));
        assert!(!guarded(&py, ws.path(), "src/py_compile.py"));
        assert!(!guarded(&py, ws.path(), "app.py"));
        let dotted = [("python", "python3.12 -I -m mypy.stubtest {file}")];
        assert!(guarded(&dotted, ws.path(), "mypy.py"));
        assert!(guarded(&dotted, ws.path(), "mypy/stubtest.py"));
        let glued = [("python", "python -mruff check {file}")];
        assert!(guarded(&glued, ws.path(), "ruff/__main__.py"));
        // A script, not a module: nothing of the workspace is named.
        let script = [("python", "python3 -c 'import sys' {file}")];
        assert!(!guarded(&script, ws.path(), "sys.py"));
    }

    #[test]
    fn a_program_in_the_workspace_guards_its_top_folder() {
        let ws = tempfile::tempdir().unwrap();
        for (command, inside, outside) in [
            ("./tools/lint {file}", "tools/lint", "src/lint"),
            ("tools/lint", "tools/helper.sh", "toolsx/lint"),
            (".venv/bin/ruff check", ".venv/lib/site.py", "venv/bin/ruff"),
            (
                "node_modules/.bin/tsc --noEmit",
                "node_modules/x.js",
                "x.js",
            ),
            ("./lint.sh", "lint.sh", "tools/lint.sh"),
            ("./a/../b/lint", "b/lint", "a/lint"),
        ] {
            let c = [("python", command)];
            assert!(guarded(&c, ws.path(), inside), "{command}: {inside}");
            assert!(!guarded(&c, ws.path(), outside), "{command}: {outside}");
        }
        let absolute = format!("{}/bin/check", ws.path().display());
        assert!(guarded(&[("go", &absolute)], ws.path(), "bin/other"));
        // A program outside the workspace guards nothing.
        assert!(!guarded(
            &[("go", "/usr/bin/gofmt -l")],
            ws.path(),
            "usr/bin/gofmt"
        ));
    }

    #[test]
    fn checkers_that_run_their_configuration_guard_it() {
        let ws = tempfile::tempdir().unwrap();
        let eslint = [("js", "eslint {file}")];
        assert!(guarded(&eslint, ws.path(), "eslint.config.js"));
        assert!(!guarded(&eslint, ws.path(), "web/app.js"));
        let cargo = [("rust", "cargo check")];
        assert!(guarded(&cargo, ws.path(), "crates/a/build.rs"));
        assert!(guarded(&cargo, ws.path(), ".cargo/config.toml"));
        assert!(!guarded(&cargo, ws.path(), "src/lib.rs"));
        let npx = [("ts", "npx tsc --noEmit")];
        assert!(guarded(&npx, ws.path(), "node_modules/typescript/bin/tsc"));
    }

    #[test]
    fn a_program_that_resolves_inside_the_workspace_is_named_by_its_path() {
        use std::os::unix::fs::PermissionsExt;
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("env/bin")).unwrap();
        let lint = ws.path().join("env/bin/lint-4217");
        std::fs::write(&lint, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&lint, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = ws.path().canonicalize().unwrap();
        let found = program_in_workspace(lint.to_str().unwrap(), ws.path(), &root);
        assert_eq!(found.as_deref(), Some("env/bin/lint-4217"));
        assert_eq!(top_of("env/bin/lint-4217"), "/env/");
    }
}
