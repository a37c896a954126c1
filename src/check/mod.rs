//! Verdicts on an artifact before it is delivered: which language it is (a name, an alias or a
//! path's extension), an in-process parse (tree-sitter grammars for code, parsers for the data
//! formats), then the check commands the user configured for that language, run on the project
//! staged in a temporary shadow with the artifact at its path ([`stage`]; a detached copy when
//! the artifact has no path), boxed and with a clean environment ([`sandbox`]), within the
//! call's budget. Each check
//! yields an [`Outcome`] with a message short enough to send back to the model for a repair,
//! the backend's secrets masked. The paths a command runs or loads are guarded from writing
//! ([`guard`]). Nothing here decides what to do with a failure; the engine does.

pub(crate) mod command;
pub(crate) mod data;
pub(crate) mod guard;
mod python;
mod rules;
pub(crate) mod sandbox;
pub mod stage;
pub(crate) mod syntax;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{CheckCommand, Config};
use crate::usage::{CheckRecord, Verdict};

pub(crate) use command::describe;

/// Lines of a checker's message kept for the model and the planner.
const MESSAGE_LINES: usize = 10;
/// Characters of a checker's message kept, at most.
const MESSAGE_CHARS: usize = 400;

/// The languages and formats this server knows by name. Markdown and text are known so that
/// their aliases resolve, but nothing parses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Rust,
    Go,
    Java,
    C,
    Cpp,
    CSharp,
    Ruby,
    Php,
    Bash,
    Html,
    Css,
    Sql,
    Json,
    Yaml,
    Toml,
    Xml,
    Csv,
    Markdown,
    Text,
}

/// Each language's canonical name first, then its aliases; the canonical name is what usage
/// lines and the footer show.
const NAMES: &[(Lang, &[&str])] = &[
    (Lang::Python, &["python", "py", "python3", "py3"]),
    (
        Lang::JavaScript,
        &["javascript", "js", "jsx", "mjs", "cjs", "node", "nodejs"],
    ),
    (Lang::TypeScript, &["typescript", "ts", "mts", "cts"]),
    (Lang::Tsx, &["tsx", "typescriptreact"]),
    (Lang::Rust, &["rust", "rs"]),
    (Lang::Go, &["go", "golang"]),
    (Lang::Java, &["java"]),
    (Lang::C, &["c", "h"]),
    (
        Lang::Cpp,
        &["cpp", "c++", "cc", "cxx", "hpp", "hh", "hxx", "h++"],
    ),
    (Lang::CSharp, &["csharp", "cs", "c#"]),
    (Lang::Ruby, &["ruby", "rb"]),
    (Lang::Php, &["php"]),
    (Lang::Bash, &["bash", "sh", "shell"]),
    (Lang::Html, &["html", "htm"]),
    (Lang::Css, &["css"]),
    (Lang::Sql, &["sql"]),
    (Lang::Json, &["json"]),
    (Lang::Yaml, &["yaml", "yml"]),
    (Lang::Toml, &["toml"]),
    (Lang::Xml, &["xml", "svg", "xsd", "xsl", "xslt"]),
    (Lang::Csv, &["csv"]),
    (Lang::Markdown, &["markdown", "md"]),
    (Lang::Text, &["text", "txt", "plain", "plaintext"]),
];

impl Lang {
    /// The language for a name or alias, in any case; `None` when the table lacks it.
    pub fn from_name(name: &str) -> Option<Lang> {
        let name = name.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(_, names)| names.contains(&name.as_str()))
            .map(|(lang, _)| *lang)
    }

    /// The canonical name: `python`, `typescript`, `cpp`.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(lang, _)| *lang == self)
            .map_or("text", |(_, names)| names[0])
    }

    /// The extension a temporary file of this language gets, so that a check command (`tsc`,
    /// `ruff`) recognises it.
    fn extension(self) -> &'static str {
        match self {
            Lang::Python => "py",
            Lang::JavaScript => "js",
            Lang::TypeScript => "ts",
            Lang::Tsx => "tsx",
            Lang::Rust => "rs",
            Lang::Go => "go",
            Lang::Java => "java",
            Lang::C => "c",
            Lang::Cpp => "cpp",
            Lang::CSharp => "cs",
            Lang::Ruby => "rb",
            Lang::Php => "php",
            Lang::Bash => "sh",
            Lang::Html => "html",
            Lang::Css => "css",
            Lang::Sql => "sql",
            Lang::Json => "json",
            Lang::Yaml => "yaml",
            Lang::Toml => "toml",
            Lang::Xml => "xml",
            Lang::Csv => "csv",
            Lang::Markdown => "md",
            Lang::Text => "txt",
        }
    }

    /// The in-process check's name as the footer shows it, when there is one.
    fn parse_check_name(self) -> Option<String> {
        if syntax::has_grammar(self) {
            Some(format!("{} syntax", self.name()))
        } else if data::is_data(self) {
            Some(format!("{} parse", self.name()))
        } else {
            None
        }
    }
}

/// An artifact's language: one from the table, or a name kept as given (lower case) that no
/// in-process check knows but a configured command may.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Language {
    Known(Lang),
    Other(String),
}

impl Language {
    /// The language a name or alias stands for; `None` for a blank name.
    pub(crate) fn from_name(name: &str) -> Option<Language> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        Some(match Lang::from_name(name) {
            Some(lang) => Language::Known(lang),
            None => Language::Other(name.to_ascii_lowercase()),
        })
    }

    /// The language a path's extension names (`src/app.tsx` → tsx); `None` without one.
    pub(crate) fn from_path(path: &str) -> Option<Language> {
        let ext = Path::new(path.trim()).extension()?.to_str()?;
        Language::from_name(ext)
    }

    /// The canonical name for a known language, else the name as given (lower case).
    pub(crate) fn name(&self) -> &str {
        match self {
            Language::Known(lang) => lang.name(),
            Language::Other(name) => name,
        }
    }

    fn extension(&self) -> &str {
        match self {
            Language::Known(lang) => lang.extension(),
            // A name such as `kotlin` or `kt` makes a usable extension; anything odd does not.
            Language::Other(name)
                if name.len() <= 12 && name.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                name
            }
            Language::Other(_) => "txt",
        }
    }
}

/// The artifact's language: the `language` argument when given (names and aliases), else the
/// extension of the path it is written to. A prose format (`text`, `markdown`) given for a path
/// whose extension names a known code or data language does not win: `{"path": "app.py",
/// "language": "text"}` would otherwise turn off the file's syntax check and the user's checks.
pub(crate) fn resolve(language: Option<&str>, path: Option<&str>) -> Option<Language> {
    let prose = |l: &Language| matches!(l, Language::Known(Lang::Text | Lang::Markdown));
    let from_path = path
        .and_then(Language::from_path)
        .filter(|l| matches!(l, Language::Known(_)) && !prose(l));
    match language.and_then(Language::from_name) {
        Some(given) if prose(&given) && from_path.is_some() => from_path,
        Some(given) => Some(given),
        None => path.and_then(Language::from_path),
    }
}

/// The canonical name of a language name or alias, for the configuration's keys.
pub(crate) fn canonical_name(name: &str) -> Option<String> {
    Language::from_name(name).map(|l| l.name().to_string())
}

/// A check command for a language, as the configuration gives it: `py` and `ruff check {file}`.
pub(crate) fn check_command(language: &str, command: &str) -> Result<CheckCommand, String> {
    let language = canonical_name(language)
        .ok_or_else(|| format!("no language before `=` in `{language}={command}`"))?;
    let argv = shlex::split(command)
        .filter(|argv| !argv.is_empty())
        .ok_or_else(|| format!("`{command}` is not a command (empty or unbalanced quotes)"))?;
    Ok(CheckCommand {
        language,
        command: command.trim().to_string(),
        argv,
    })
}

/// One check's result on an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// As the footer shows it: `python syntax`, `json parse`, `ruff`.
    pub(crate) name: String,
    pub(crate) verdict: Verdict,
    /// Empty on a pass; else the checker's first lines, a few hundred characters at most.
    pub(crate) message: String,
}

impl Outcome {
    fn new(name: impl Into<String>, verdict: Verdict, message: impl AsRef<str>) -> Outcome {
        Outcome {
            name: name.into(),
            verdict,
            message: trim_message(message.as_ref()),
        }
    }

    pub(crate) fn record(&self) -> CheckRecord {
        CheckRecord {
            name: self.name.clone(),
            verdict: self.verdict,
        }
    }
}

/// Every check run on one artifact, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) outcomes: Vec<Outcome>,
}

impl Report {
    /// At least one check ran and every one passed: what `checked` means in usage and footer.
    pub(crate) fn checked(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.verdict == Verdict::Pass)
    }

    /// The check that judged the artifact wrong, if one did: worth a repair. A missing program,
    /// a timeout or a crash is not the artifact's fault and is not returned here.
    pub(crate) fn failure(&self) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.verdict == Verdict::Fail)
    }

    pub(crate) fn records(&self) -> Vec<CheckRecord> {
        self.outcomes.iter().map(Outcome::record).collect()
    }

    /// The checks' names joined: `python syntax, ruff`.
    #[cfg(test)]
    fn names(&self) -> String {
        let names: Vec<&str> = self.outcomes.iter().map(|o| o.name.as_str()).collect();
        names.join(", ")
    }
}

/// The checks in effect, built once from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    commands: Vec<CheckCommand>,
    timeout: Duration,
    workdir: PathBuf,
    /// The allowed part of the server's environment when it started.
    inherited: Vec<(OsString, OsString)>,
    /// Masks the backend's key and password, as in backend errors.
    cfg: Arc<Config>,
    guards: Vec<guard::Guard>,
}

impl Checker {
    pub(crate) fn new(cfg: &Config) -> Checker {
        Checker {
            commands: cfg.checks.clone(),
            timeout: cfg.check_timeout,
            workdir: cfg.workspace.clone(),
            // Only what may reach a check is kept, so the key is not even in memory here.
            inherited: std::env::vars_os()
                .filter(|(k, _)| sandbox::passed(k))
                .collect(),
            guards: guard::guards(&cfg.checks, &cfg.workspace),
            cfg: Arc::new(cfg.clone()),
        }
    }

    /// Whether everything a check can run leaves the user's files alone: no command is
    /// configured, or the box holds here. `delegate_code` is read-only only while this is true.
    pub(crate) fn is_read_only(&self) -> bool {
        self.commands.is_empty() || sandbox::enforced()
    }

    /// The workspace paths a delegation must not write because a check runs or loads them, as
    /// protected-path patterns with the reason to show.
    pub(crate) fn guards(&self) -> &[guard::Guard] {
        &self.guards
    }

    /// Why writing `rel` (a `/`-separated path under the workspace root) is refused, when a
    /// configured check runs or loads it. The workspace judges writes with [`Checker::guards`].
    #[cfg(test)]
    pub(crate) fn guarded(&self, rel: &str) -> Option<&str> {
        self.guards
            .iter()
            .find(|g| crate::workspace::protects(&g.pattern, rel))
            .map(|g| g.reason.as_str())
    }

    /// The backend's key and the base URL's password: never in a check's environment.
    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self.cfg.api_key.iter().cloned().collect();
        if let Some((_, Some(pass))) = &self.cfg.base_auth {
            secrets.push(pass.clone());
        }
        secrets
    }

    fn commands_for<'a>(&'a self, lang: &'a Language) -> impl Iterator<Item = &'a CheckCommand> {
        self.commands
            .iter()
            .filter(move |c| c.language == lang.name())
    }

    /// The names of the checks that would run for `lang`, in order; empty means `unchecked`.
    #[cfg(test)]
    fn plan(&self, lang: Option<&Language>) -> Vec<String> {
        let Some(lang) = lang else {
            return Vec::new();
        };
        let parse = match lang {
            Language::Known(l) => l.parse_check_name(),
            Language::Other(_) => None,
        };
        parse
            .into_iter()
            .chain(self.commands_for(lang).map(|c| command::name(&c.argv)))
            .collect()
    }

    /// Runs every check that applies to `artifact` in order: the in-process parse, then each
    /// configured command, on the project staged with the artifact at `path` (relative to the
    /// workspace root) when it has one, else on a detached copy, each within the check timeout and what is left before `deadline`
    /// (the call's total budget). Stops after the first `fail` (a linter has nothing to say about
    /// code that does not parse) or on cancellation, which kills a running command at once.
    /// Messages come back with the backend's secrets masked.
    pub(crate) async fn check(
        &self,
        artifact: &str,
        lang: Option<&Language>,
        path: Option<&Path>,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Report {
        let mut report = self.check_raw(artifact, lang, path, cancel, deadline).await;
        for o in &mut report.outcomes {
            o.message = self.cfg.redact(&o.message);
            if matches!(o.verdict, Verdict::Error | Verdict::Timeout) && !cancel.is_cancelled() {
                tracing::warn!(check = %o.name, "the check could not judge: {}", o.message);
            }
        }
        report
    }

    async fn check_raw(
        &self,
        artifact: &str,
        lang: Option<&Language>,
        path: Option<&Path>,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Report {
        let mut report = Report::default();
        let Some(lang) = lang else {
            return report;
        };
        if let Language::Known(l) = lang
            && let Some(outcome) = parse_check(*l, artifact).await
        {
            let failed = outcome.verdict == Verdict::Fail;
            report.outcomes.push(outcome);
            if failed {
                return report;
            }
        }
        let commands: Vec<&CheckCommand> = self.commands_for(lang).collect();
        if commands.is_empty() || cancel.is_cancelled() {
            return report;
        }
        // The candidate is staged where it will live, in a shadow of the project inside a fresh
        // temporary folder ([`stage`]); an inline artifact, or a project that cannot be staged,
        // goes to a file of its own there. Never into the workspace; the folder goes when this
        // returns, however it returns, and it is the only place the checks may write.
        let place = match path {
            Some(rel) => self.stage(artifact, rel).await,
            None => write_inline(artifact, lang),
        };
        let place = match place {
            Ok(place) => place,
            Err(e) => {
                for c in commands {
                    report.outcomes.push(Outcome::new(
                        command::name(&c.argv),
                        Verdict::Error,
                        format!("cannot write the temporary file: {e}"),
                    ));
                }
                return report;
            }
        };
        let env = sandbox::environment(
            self.inherited.iter().cloned(),
            &self.secrets(),
            &place.tmp(),
        );
        let writable = place.writable();
        for c in commands {
            let wide = command::project_wide(&c.argv);
            let (file, shown_as, workdir, shadow) = match &place {
                Place::Staged {
                    staged, shown_as, ..
                } => (
                    (!wide).then_some(staged.file.as_path()),
                    shown_as.as_str(),
                    staged.root.as_path(),
                    Some(staged.root.as_path()),
                ),
                // A project-wide command needs the candidate in the project: without a path
                // there is no project to check it in, and it does not run.
                Place::Detached { .. } if wide && path.is_none() => continue,
                Place::Detached { why: Some(why), .. } if wide => {
                    report.outcomes.push(Outcome::new(
                        command::name(&c.argv),
                        Verdict::Error,
                        format!("cannot stage the project: {why}"),
                    ));
                    continue;
                }
                Place::Detached { file, shown_as, .. } => (
                    Some(file.as_path()),
                    shown_as.as_str(),
                    self.workdir.as_path(),
                    None,
                ),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let run = command::Run {
                argv: &c.argv,
                file,
                shown_as,
                workdir,
                programs: &self.workdir,
                shadow,
                tmp: &writable,
                env: &env,
                timeout: self.timeout.min(left),
            };
            let outcome = run.run(cancel).await;
            let stop = outcome.verdict == Verdict::Fail || cancel.is_cancelled();
            report.outcomes.push(outcome);
            if stop {
                break;
            }
        }
        // Removing thousands of entries takes a while on some file systems: off the call's path.
        tokio::task::spawn_blocking(move || drop(place));
        report
    }

    /// The project staged with the candidate at `rel`, built off the async workers; when it
    /// cannot be (too many files, a path through a link), a detached copy that says why.
    async fn stage(&self, artifact: &str, rel: &Path) -> std::io::Result<Place> {
        let dir = temp_folder()?;
        let workspace = self.workdir.clone();
        let rel = rel.to_path_buf();
        let text = artifact.to_string();
        // Where the box keeps the check from writing the shadow, its files are hard links to the
        // user's (fast: no data is copied); elsewhere they are copies, which a check may write.
        let how = if sandbox::enforced() {
            stage::Files::Linked
        } else {
            stage::Files::Copied
        };
        // The folder travels with the work: if this call is dropped meanwhile, it is removed
        // once the staging ends, never while it is being written.
        let staged = tokio::task::spawn_blocking(move || {
            let staged = stage::list(&workspace).and_then(|files| {
                stage::stage(
                    &workspace,
                    &files,
                    &dir.path().join("project"),
                    &rel,
                    text.as_bytes(),
                    how,
                )
            });
            let staged = staged.and_then(|s| {
                std::fs::create_dir(dir.path().join(WORK))?;
                Ok(s)
            });
            (dir, staged, rel)
        })
        .await
        .map_err(std::io::Error::other)?;
        let (dir, staged, rel) = staged;
        let shown_as = slashed(&rel);
        match staged {
            Ok(staged) => Ok(Place::Staged {
                dir,
                staged,
                shown_as,
                how,
            }),
            Err(e) => {
                tracing::warn!(path = %shown_as, "checking a detached copy: cannot stage the project: {e}");
                drop(dir);
                let name = rel
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "artifact".into());
                let dir = temp_folder()?;
                let file = dir.path().join(&name);
                std::fs::write(&file, artifact)?;
                Ok(Place::Detached {
                    dir,
                    file,
                    shown_as,
                    why: Some(e.to_string()),
                })
            }
        }
    }
}

/// Where a candidate is checked: staged in a shadow of the project, or detached in a file of its
/// own. Either lives in a temporary folder that goes with it.
enum Place {
    Staged {
        dir: tempfile::TempDir,
        staged: stage::Staged,
        shown_as: String,
        how: stage::Files,
    },
    Detached {
        dir: tempfile::TempDir,
        file: PathBuf,
        shown_as: String,
        /// Why the project could not be staged, when it was asked for.
        why: Option<String>,
    },
}

/// The staged check's own folder beside the shadow: its `TMPDIR` and caches.
const WORK: &str = "work";

impl Place {
    /// The check's temporary folder (`TMPDIR`).
    fn tmp(&self) -> PathBuf {
        match self {
            Place::Staged { dir, .. } => dir.path().join(WORK),
            Place::Detached { dir, .. } => dir.path().to_path_buf(),
        }
    }

    /// What the box lets the check write: its temporary folder, and a shadow of copies (never
    /// one of hard links, which would reach the user's files).
    fn writable(&self) -> PathBuf {
        match self {
            Place::Staged {
                how: stage::Files::Linked,
                ..
            } => self.tmp(),
            Place::Staged { dir, .. } | Place::Detached { dir, .. } => dir.path().to_path_buf(),
        }
    }
}

fn slashed(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The in-process parse for `lang`, off the async workers (a large file takes milliseconds);
/// `None` when no parser knows the language.
async fn parse_check(lang: Lang, artifact: &str) -> Option<Outcome> {
    let name = lang.parse_check_name()?;
    let text = artifact.to_string();
    let result = tokio::task::spawn_blocking(move || parse_now(lang, &text)).await;
    Some(match result {
        Ok(Some(Ok(()))) | Ok(None) => Outcome::new(name, Verdict::Pass, ""),
        Ok(Some(Err(syntax::Error::Invalid(msg)))) => Outcome::new(name, Verdict::Fail, msg),
        Ok(Some(Err(syntax::Error::TooSlow))) => {
            Outcome::new(name, Verdict::Timeout, "the parse ran past its time budget")
        }
        Err(e) => Outcome::new(name, Verdict::Error, format!("the parser crashed: {e}")),
    })
}

fn parse_now(lang: Lang, text: &str) -> Option<Result<(), syntax::Error>> {
    if data::is_data(lang) {
        return Some(data::validate(text, Some(lang.name())).map_err(syntax::Error::Invalid));
    }
    syntax::check(lang, text)
}

/// The syntax or parse error of `text` in `lang`, or `None` when it parses (or nothing parses
/// `lang`). Public for the benchmark; the engine goes through [`Checker::check`].
pub fn syntax_error(lang: Lang, text: &str) -> Option<String> {
    match parse_now(lang, text)? {
        Ok(()) => None,
        Err(syntax::Error::Invalid(msg)) => Some(msg),
        Err(syntax::Error::TooSlow) => Some("the parse ran past its time budget".into()),
    }
}

/// The start of every check's temporary folder; the server's process id follows it, so that a
/// later server can tell the folders of a server that is gone ([`sweep`]).
const TEMP_PREFIX: &str = "local-executor-check-";

/// A fresh temporary folder for one check: `local-executor-check-<pid>-<random>`.
fn temp_folder() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempdir()
}

/// Removes, off the caller's thread, the check folders that a server killed mid-check left in the
/// temporary directory (a staged project among them): those whose process is gone. A folder of
/// another user, or of a server that still runs, stays.
pub(crate) fn sweep() {
    #[cfg(unix)]
    std::thread::spawn(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(TEMP_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<i32>().ok())
                .filter(|pid| *pid > 0)
            else {
                continue;
            };
            // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
            let gone = unsafe { libc::kill(pid, 0) } != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone && entry.file_type().is_ok_and(|t| t.is_dir()) {
                // Links are removed, never followed: the user's files stay as they are.
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

fn write_inline(artifact: &str, lang: &Language) -> std::io::Result<Place> {
    let dir = temp_folder()?;
    let shown_as = format!("artifact.{}", lang.extension());
    let file = dir.path().join(&shown_as);
    std::fs::write(&file, artifact)?;
    Ok(Place::Detached {
        dir,
        file,
        shown_as,
        why: None,
    })
}

/// The first lines of a checker's message, at most [`MESSAGE_CHARS`] characters, ending in `…`
/// when cut. Trailing blanks go; nothing else is rewritten.
pub(crate) fn trim_message(message: &str) -> String {
    let lines: Vec<&str> = message
        .trim_matches(|c: char| c == '\n' || c == '\r')
        .lines()
        .map(str::trim_end)
        .collect();
    let mut out = lines
        .iter()
        .take(MESSAGE_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let mut cut = lines.len() > MESSAGE_LINES;
    if out.chars().count() > MESSAGE_CHARS {
        out = out.chars().take(MESSAGE_CHARS).collect();
        cut = true;
    }
    let out = out.trim_end().to_string();
    if cut { format!("{out}\n…") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checker for `commands` in `workdir`, with the backend key `sk-local-SECRET-123`.
    fn checker_with(commands: &[(&str, &str)], workdir: &Path) -> Checker {
        let mut cfg = Config::with_defaults("/tmp/h".into(), workdir.to_path_buf());
        cfg.api_key = Some("sk-local-SECRET-123".into());
        cfg.checks = commands
            .iter()
            .map(|(l, c)| check_command(l, c).unwrap())
            .collect();
        cfg.check_timeout = Duration::from_secs(20);
        Checker::new(&cfg)
    }

    #[test]
    fn aliases_resolve_to_one_canonical_name() {
        let cases = [
            ("py", "python"),
            ("Python3", "python"),
            ("ts", "typescript"),
            ("typescript", "typescript"),
            ("tsx", "tsx"),
            ("js", "javascript"),
            ("jsx", "javascript"),
            ("mjs", "javascript"),
            ("rs", "rust"),
            ("go", "go"),
            ("java", "java"),
            ("c", "c"),
            ("h", "c"),
            ("c++", "cpp"),
            ("CPP", "cpp"),
            ("cc", "cpp"),
            ("hpp", "cpp"),
            ("cs", "csharp"),
            ("C#", "csharp"),
            ("csharp", "csharp"),
            ("rb", "ruby"),
            ("php", "php"),
            ("sh", "bash"),
            ("shell", "bash"),
            ("html", "html"),
            ("css", "css"),
            ("sql", "sql"),
            ("json", "json"),
            ("yml", "yaml"),
            ("toml", "toml"),
            ("xml", "xml"),
            ("csv", "csv"),
            ("md", "markdown"),
            ("text", "text"),
            (" Kotlin ", "kotlin"),
            ("zsh", "zsh"),
        ];
        for (given, canonical) in cases {
            assert_eq!(canonical_name(given).as_deref(), Some(canonical), "{given}");
        }
        assert_eq!(canonical_name("  "), None);
        assert_eq!(
            Language::from_name("Kotlin"),
            Some(Language::Other("kotlin".into()))
        );
    }

    #[test]
    fn every_language_has_a_distinct_canonical_name_and_alias() {
        let mut seen = std::collections::HashSet::new();
        for (lang, names) in NAMES {
            assert_eq!(lang.name(), names[0]);
            for n in *names {
                assert!(seen.insert(*n), "{n} listed twice");
                assert_eq!(Lang::from_name(n), Some(*lang));
            }
        }
    }

    #[test]
    fn the_language_argument_wins_over_the_extension() {
        let r = |l, p| resolve(l, p).map(|l| l.name().to_string());
        assert_eq!(r(None, Some("src/app.py")).as_deref(), Some("python"));
        assert_eq!(r(None, Some("web/App.TSX")).as_deref(), Some("tsx"));
        assert_eq!(r(None, Some("types.d.ts")).as_deref(), Some("typescript"));
        assert_eq!(r(None, Some("conf/app.yml")).as_deref(), Some("yaml"));
        assert_eq!(r(None, Some("lib/x.hpp")).as_deref(), Some("cpp"));
        assert_eq!(r(None, Some("run.sh")).as_deref(), Some("bash"));
        assert_eq!(r(None, Some("README.md")).as_deref(), Some("markdown"));
        assert_eq!(r(None, Some("Main.kt")).as_deref(), Some("kt"));
        assert_eq!(r(None, Some("Dockerfile")), None);
        assert_eq!(r(None, None), None);
        assert_eq!(r(Some("json"), Some("x.py")).as_deref(), Some("json"));
        assert_eq!(r(Some(" "), Some("x.py")).as_deref(), Some("python"));
        // A prose format does not turn off a code file's checks; it stands where the path names
        // prose, no known language, or nothing.
        assert_eq!(r(Some("text"), Some("app.py")).as_deref(), Some("python"));
        assert_eq!(r(Some("md"), Some("conf/app.yml")).as_deref(), Some("yaml"));
        assert_eq!(r(Some("text"), Some("notes.md")).as_deref(), Some("text"));
        assert_eq!(
            r(Some("markdown"), Some("Main.kt")).as_deref(),
            Some("markdown")
        );
        assert_eq!(r(Some("text"), Some("Dockerfile")).as_deref(), Some("text"));
        assert_eq!(r(Some("text"), None).as_deref(), Some("text"));
    }

    #[test]
    fn plan_lists_the_parse_then_the_commands() {
        let checker = checker_with(&[("py", "ruff check {file}")], &std::env::temp_dir());
        let py = Language::from_name("python");
        assert_eq!(checker.plan(py.as_ref()), ["python syntax", "ruff"]);
        let json = Language::from_name("json");
        assert_eq!(checker.plan(json.as_ref()), ["json parse"]);
        assert!(
            checker
                .plan(Language::from_name("markdown").as_ref())
                .is_empty()
        );
        assert!(
            checker
                .plan(Language::from_name("kotlin").as_ref())
                .is_empty()
        );
        assert!(checker.plan(None).is_empty());
    }

    #[test]
    fn messages_keep_the_first_lines_and_a_few_hundred_chars() {
        assert_eq!(trim_message("\nline 1: bad\n\n"), "line 1: bad");
        let many: String = (0..50).map(|i| format!("e{i}\n")).collect();
        let t = trim_message(&many);
        assert_eq!(t.lines().count(), MESSAGE_LINES + 1);
        assert!(t.starts_with("e0\ne1\n") && t.ends_with('…'));
        let long = "é".repeat(5000);
        let t = trim_message(&long);
        assert_eq!(t.chars().count(), MESSAGE_CHARS + 2);
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(600)
    }

    #[tokio::test]
    async fn a_parse_failure_stops_before_the_commands() {
        let ws = tempfile::tempdir().unwrap();
        let checker = checker_with(&[("python", "sh -c 'exit 0' {file}")], ws.path());
        let lang = Language::from_name("py");
        let cancel = CancellationToken::new();
        let report = checker
            .check("def f(:\n", lang.as_ref(), None, &cancel, far())
            .await;
        assert_eq!(report.outcomes.len(), 1);
        let failure = report.failure().unwrap();
        assert_eq!(failure.name, "python syntax");
        assert!(failure.message.contains("line 1"), "{}", failure.message);
        assert!(!report.checked());

        let report = checker
            .check(
                "def f():\n    return 1\n",
                lang.as_ref(),
                None,
                &cancel,
                far(),
            )
            .await;
        assert_eq!(report.names(), "python syntax, sh");
        assert!(report.checked());
        assert_eq!(report.records().len(), 2);
    }

    #[tokio::test]
    async fn an_inline_artifact_is_checked_in_a_temporary_file_with_its_extension() {
        let ws = tempfile::tempdir().unwrap();
        // Fails and prints the file's name and content, so both show in the message.
        let checker = checker_with(
            &[("ts", "sh -c 'echo \"$0\"; cat \"$0\"; exit 1' {file}")],
            ws.path(),
        );
        let cancel = CancellationToken::new();
        let report = checker
            .check(
                "const a: number = 1;\n",
                Language::from_name("ts").as_ref(),
                None,
                &cancel,
                far(),
            )
            .await;
        let failure = report.failure().unwrap();
        assert_eq!(failure.name, "sh");
        assert!(
            failure
                .message
                .starts_with("artifact.ts\nconst a: number = 1;"),
            "{}",
            failure.message
        );
        // Nothing was written to the workspace.
        assert_eq!(std::fs::read_dir(ws.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_missing_program_does_not_stop_the_next_command() {
        let ws = tempfile::tempdir().unwrap();
        let checker = checker_with(
            &[
                ("kotlin", "no-such-checker-program-xyz {file}"),
                ("kotlin", "sh -c 'exit 0' {file}"),
            ],
            ws.path(),
        );
        let cancel = CancellationToken::new();
        let report = checker
            .check(
                "fun main() {}\n",
                Language::from_name("kotlin").as_ref(),
                None,
                &cancel,
                far(),
            )
            .await;
        let verdicts: Vec<Verdict> = report.outcomes.iter().map(|o| o.verdict).collect();
        assert_eq!(verdicts, [Verdict::Missing, Verdict::Pass]);
        assert!(report.failure().is_none());
        assert!(!report.checked());
    }

    #[tokio::test]
    async fn no_language_means_no_checks() {
        let checker = checker_with(&[("python", "sh -c 'exit 1'")], &std::env::temp_dir());
        let cancel = CancellationToken::new();
        let report = checker.check("x", None, None, &cancel, far()).await;
        assert!(report.outcomes.is_empty() && !report.checked());
        let md = Language::from_name("md");
        let report = checker
            .check("# T\n", md.as_ref(), None, &cancel, far())
            .await;
        assert!(report.outcomes.is_empty());
    }

    #[tokio::test]
    async fn check_output_has_the_key_masked() {
        let ws = tempfile::tempdir().unwrap();
        let checker = checker_with(
            &[(
                "python",
                "sh -c 'echo key sk-local-SECRET-123; exit 1' {file}",
            )],
            ws.path(),
        );
        let cancel = CancellationToken::new();
        let report = checker
            .check(
                "x = 1\n",
                Language::from_name("py").as_ref(),
                None,
                &cancel,
                far(),
            )
            .await;
        let failure = report.failure().unwrap();
        assert_eq!(failure.message, "key <LOCAL_LLM_API_KEY>");
    }

    #[tokio::test]
    async fn a_spent_budget_runs_no_command() {
        let ws = tempfile::tempdir().unwrap();
        let marker = ws.path().join("ran");
        let command = format!("sh -c 'touch {}' {{file}}", marker.display());
        let checker = checker_with(&[("kotlin", &command)], ws.path());
        let cancel = CancellationToken::new();
        let report = checker
            .check(
                "fun main() {}\n",
                Language::from_name("kotlin").as_ref(),
                None,
                &cancel,
                Instant::now(),
            )
            .await;
        assert_eq!(report.outcomes[0].verdict, Verdict::Timeout);
        assert!(!marker.exists());
    }

    #[test]
    fn guarded_names_the_command_that_runs_the_path() {
        let ws = tempfile::tempdir().unwrap();
        let checker = checker_with(
            &[
                ("python", "python3 -m py_compile {file}"),
                ("ts", "./tools/tsc"),
            ],
            ws.path(),
        );
        let why = checker.guarded("py_compile.py").unwrap();
        assert!(why.contains("python3 -m py_compile"), "{why}");
        assert!(checker.guarded("tools/tsc").is_some());
        assert_eq!(checker.guarded("src/app.py"), None);
        assert_eq!(checker.is_read_only(), sandbox::enforced());
    }
}
