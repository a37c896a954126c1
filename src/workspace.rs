//! The workspace boundary: `context_files` read in, files written or edited out, and never a byte
//! outside the workspace root. A spelled path is judged by where it really leads: a relative one
//! is folded under the root, an absolute one must pass through a directory whose canonical form is
//! the root (so `/tmp/link/a.py` is inside a root that is `/tmp/real`). Writes walk from the root
//! by directory handle without following links (on Unix), so a directory swapped for a link after
//! the check is never written through, and land by an atomic rename inside that handle: a new file
//! gets 0666 under the umask as an editor's would, a replaced file keeps its permission bits.
//! Reading and writing are refused in a root that is the home directory or `/`; secret-holding
//! files are not read unless the user allows them, judged by the spelled and the real path;
//! writing is refused on protected paths (version control, files that run commands or steer
//! agents, secrets), on read-only files, and on names that alias others on Windows. An edit is
//! written only if the file still holds what was read, compared by content hash just before the
//! rename. [`Workspace::identity`] is the one answer to "are these two spellings one file?".

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::failure::{Failure, Reason};

/// Bytes looked at to tell text from binary.
const SNIFF_BYTES: usize = 8192;
/// First lines shown in a write receipt, and their longest length.
const RECEIPT_LINES: usize = 3;
const RECEIPT_LINE_CHARS: usize = 100;

/// Paths never written, whatever the user adds: version control; files that run commands
/// without being asked (git hooks managers, build-tool and package-manager configuration, dev
/// containers, CI pipelines); files that steer coding agents (their instructions are obeyed by
/// every later session, so a write there is a lasting prompt injection); the configuration of
/// agents and editors (which can run commands); and files that usually hold secrets or hand out
/// credentials. A name matches that file or directory at any depth, case-insensitively; see
/// [`protects`]. docs/security.md says why each is here.
pub(crate) const PROTECTED: &[&str] = &[
    // Version control.
    ".git/",
    ".hg/",
    ".svn/",
    ".jj/",
    // Agents and editors: their configuration and the instructions they obey.
    ".claude/",
    ".codex/",
    ".cursor/",
    ".gemini/",
    ".windsurf/",
    ".vscode/",
    ".idea/",
    ".mcp.json",
    "CLAUDE.md",
    "CLAUDE.local.md",
    "AGENTS.md",
    "AGENTS.override.md",
    "GEMINI.md",
    ".cursorrules",
    ".windsurfrules",
    ".clinerules",
    ".aider.conf.yml",
    ".github/copilot-instructions.md",
    // Run on a commit, a build, an install or a checkout, without anyone running them by name.
    ".husky/",
    ".pre-commit-config.yaml",
    "lefthook.yml",
    ".lefthook.yml",
    "**/.cargo/config.toml",
    "**/.cargo/config",
    ".yarnrc.yml",
    ".yarnrc",
    ".pnpmfile.cjs",
    ".devcontainer/",
    ".devcontainer.json",
    ".envrc",
    // Run by CI on the next push, with the repository's secrets.
    ".github/workflows/",
    ".github/actions/",
    ".gitlab-ci.yml",
    ".circleci/",
    // Secrets, and the user-level configuration that names a program to fetch credentials.
    ".env",
    ".env.*",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".ssh/",
    ".aws/",
    ".gnupg/",
];

/// Files that usually hold secrets: never read as context, nor sent to the model to be edited,
/// unless the user allows them (`LOCAL_EXECUTOR_READ_SECRETS`). Each pattern is matched as a
/// protected one is (see [`protects`]), and lists the file names it does not cover.
const SECRETS: &[(&str, &[&str])] = &[
    (".env", &[]),
    (".env.*", &[".env.example", ".env.sample"]),
    (".envrc", &[]),
    (".netrc", &[]),
    (".npmrc", &[]),
    (".pypirc", &[]),
    (".pgpass", &[]),
    (".git-credentials", &[]),
    ("*.pem", &[]),
    ("*.key", &[]),
    // SSH private keys by their usual names; `id_utils.py` is not one, `id_rsa.pub` is public.
    ("id_rsa*", &["*.pub"]),
    ("id_dsa*", &["*.pub"]),
    ("id_ecdsa*", &["*.pub"]),
    ("id_ed25519*", &["*.pub"]),
    ("id_xmss*", &["*.pub"]),
    (".ssh/", &[]),
    (".aws/", &[]),
    (".gnupg/", &[]),
    // Remote URLs with tokens in them; registry logins.
    ("**/.git/config", &[]),
    ("**/.docker/config.json", &[]),
];

/// The setting that lets secret-holding files be read, as refusals name it.
const READ_SECRETS_SETTING: &str = "LOCAL_EXECUTOR_READ_SECRETS (--read-secrets)";

/// The secret pattern that covers `rel` (`/`-separated, under the root), if any.
fn secret_pattern(rel: &str) -> Option<&'static str> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    SECRETS
        .iter()
        .find(|(pattern, except)| protects(pattern, rel) && !except.iter().any(|e| glob(e, name)))
        .map(|(pattern, _)| *pattern)
}

/// Whether a name is another spelling of a different name on Windows: trailing dots and spaces
/// are dropped there (`.git.` is `.git`), `:` opens an alternate data stream (`.mcp.json::$DATA`
/// is `.mcp.json`), and `GIT~1` may be the 8.3 short name of `.git`. Refused for writing on every
/// platform: one rule, and such names are rare and useless in a project on Unix too.
fn aliases_on_windows(name: &str) -> bool {
    if name.ends_with('.') || name.ends_with(' ') || name.contains(':') {
        return true;
    }
    // 8.3: BASE~N with at most 8 characters, and an optional extension of at most 3.
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => (b, e),
        _ => (name, ""),
    };
    let Some((stem, digits)) = base.rsplit_once('~') else {
        return false;
    };
    !stem.is_empty()
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && base.chars().count() <= 8
        && ext.chars().count() <= 3
}

pub(crate) struct Workspace {
    /// Canonical root.
    root: PathBuf,
    max_file_bytes: u64,
    max_context_bytes: u64,
    /// [`PROTECTED`] and the user's own patterns.
    protected: Vec<String>,
    /// The user's patterns of secret-holding files that may be read anyway.
    read_secrets: Vec<String>,
    /// Whether names that differ only in case are one file here (macOS and Windows by default).
    case_insensitive: bool,
    /// Patterns that a configured check runs or loads, each with the reason shown on refusal.
    guards: Vec<(String, String)>,
}

/// A `context_files` entry: `path` or `path:START-END` (1-based, inclusive).
#[derive(Debug, PartialEq)]
pub(crate) struct FileSpec {
    pub path: String,
    pub lines: Option<(usize, usize)>,
}

/// What a file held when it was read for an edit: SHA-256 of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub(crate) fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(bytes).into())
    }
}

/// A workspace file read for editing, from [`Workspace::read_for_edit`].
#[derive(Debug, Clone)]
pub(crate) struct EditSource {
    /// The path relative to the root, `/`-separated: for the prompt and the receipt.
    pub path: String,
    pub content: String,
    pub fingerprint: Fingerprint,
    rel: PathBuf,
}

fn bad(detail: impl Into<String>) -> Failure {
    Failure::new(Reason::BadRequest, detail)
}

pub(crate) fn parse_spec(raw: &str) -> Result<FileSpec, Failure> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(bad("a context_files entry is empty"));
    }
    if let Some((path, range)) = raw.rsplit_once(':')
        && let Some((a, b)) = range.split_once('-')
        && let (Ok(start), Ok(end)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>())
    {
        if start == 0 || end < start {
            return Err(bad(format!(
                "{raw}: line ranges are 1-based START-END with START <= END"
            )));
        }
        return Ok(FileSpec {
            path: path.to_string(),
            lines: Some((start, end)),
        });
    }
    Ok(FileSpec {
        path: raw.to_string(),
        lines: None,
    })
}

/// A Markdown fence longer than any run of backticks in `body`, so the body cannot close it.
pub(crate) fn fence_for(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// Whether a protected-path `pattern` covers `rel` (a `/`-separated path under the root).
/// A pattern without `/` inside (a trailing `/` is allowed) is a name: it matches a file or
/// directory of that name at any depth, so `.git/` also covers the `.git` file of a worktree.
/// A pattern with `/` inside is a path from the root and covers what lies under it; starting
/// with `**/` it is such a path at any depth (`**/.git/config` covers `vendor/x/.git/config`).
/// `*` and `?` match within one name; matching ignores ASCII case (macOS and Windows file
/// systems do too).
pub(crate) fn protects(pattern: &str, rel: &str) -> bool {
    let pattern = pattern
        .trim()
        .trim_start_matches("./")
        .trim_end_matches('/');
    let (anywhere, pattern) = match pattern.strip_prefix("**/") {
        Some(rest) => (true, rest.trim_start_matches('/')),
        None => (false, pattern),
    };
    if pattern.is_empty() {
        return false;
    }
    let names: Vec<&str> = rel.split('/').filter(|n| !n.is_empty()).collect();
    if !pattern.contains('/') {
        return names.iter().any(|n| glob(pattern, n));
    }
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let at = |start: usize| parts.iter().zip(&names[start..]).all(|(p, n)| glob(p, n));
    if parts.len() > names.len() {
        return false;
    }
    if anywhere {
        (0..=names.len() - parts.len()).any(at)
    } else {
        at(0)
    }
}

/// `*` (any run) and `?` (one character) against one name, ignoring ASCII case.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            // Let the last star swallow one more character and try again.
            star = Some((sp, sn + 1));
            pi = sp + 1;
            ni = sn + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Text or a refusal: binary (a NUL in the first bytes) and non-UTF-8 files are not text.
fn text_of(spelled: &str, bytes: Vec<u8>) -> Result<String, Failure> {
    if bytes[..bytes.len().min(SNIFF_BYTES)].contains(&0) {
        return Err(bad(format!("{spelled} is binary")));
    }
    String::from_utf8(bytes).map_err(|_| bad(format!("{spelled} is not UTF-8 text")))
}

/// How a replacement lands: whether an existing file may be replaced, and for an edit the
/// fingerprint the file must still have.
struct Landing {
    overwrite: bool,
    expect: Option<Fingerprint>,
}

impl Workspace {
    pub(crate) fn new(
        root: &Path,
        max_file_bytes: u64,
        max_context_bytes: u64,
    ) -> Result<Workspace, Failure> {
        let root = root.canonicalize().map_err(|e| {
            bad(format!(
                "the workspace root {} is not usable: {e}",
                root.display()
            ))
        })?;
        Ok(Workspace {
            case_insensitive: case_insensitive(&root),
            root,
            max_file_bytes,
            max_context_bytes,
            protected: PROTECTED.iter().map(|p| p.to_string()).collect(),
            read_secrets: Vec::new(),
            guards: Vec::new(),
        })
    }

    /// The key that names one file of the workspace however it is spelled: `sub/../a.py`,
    /// `./a.py` and an absolute path through the root are all `a.py`, and on a file system that
    /// ignores case `A.PY` is too. A path that leaves the workspace is refused as for a write.
    pub(crate) fn identity(&self, spelled: &str) -> Result<String, Failure> {
        let rel = slashed(&self.relative(spelled)?);
        Ok(if self.case_insensitive {
            rel.to_lowercase()
        } else {
            rel
        })
    }

    /// Refuses reading and writing alike in a root that is the home directory or `/`: there
    /// every key and credential of the user is "inside the workspace".
    fn refuse_home_root(&self, spelled: &str, doing: &str) -> Result<(), Failure> {
        let home = dirs::home_dir().and_then(|h| h.canonicalize().ok());
        if self.root.parent().is_none() || home.as_deref() == Some(self.root.as_path()) {
            return Err(bad(format!(
                "{spelled}: {doing} is refused because the workspace root {} is the home directory or /; start the server in a project directory or set LOCAL_EXECUTOR_WORKSPACE",
                self.root.display()
            )));
        }
        Ok(())
    }

    /// Refuses a secret-holding file (`rel`, `/`-separated) the user has not allowed.
    fn refuse_secret(&self, spelled: &str, rel: &str) -> Result<(), Failure> {
        let Some(pattern) = secret_pattern(rel) else {
            return Ok(());
        };
        if self.read_secrets.iter().any(|p| protects(p, rel)) {
            return Ok(());
        }
        Err(bad(format!(
            "{spelled}: refused, files like it usually hold secrets ({pattern}) and are not read unless {READ_SECRETS_SETTING} allows them"
        )))
    }

    /// The spelled path as plain names under the root. A relative path is folded lexically and
    /// `..` may not climb above the root. An absolute path must lead through a directory whose
    /// canonical form is the root; the shallowest such directory decides, so links below it are
    /// judged as those of a relative path are.
    fn relative(&self, spelled: &str) -> Result<PathBuf, Failure> {
        let p = Path::new(spelled);
        if p.is_absolute() {
            let mut folded = PathBuf::new();
            for c in p.components() {
                match c {
                    Component::Prefix(_) | Component::RootDir => folded.push(c.as_os_str()),
                    Component::CurDir => {}
                    Component::ParentDir => {
                        if !folded.pop() {
                            return Err(outside(spelled));
                        }
                    }
                    Component::Normal(n) => folded.push(n),
                }
            }
            if let Ok(rest) = folded.strip_prefix(&self.root) {
                return Ok(rest.to_path_buf());
            }
            let mut ancestors: Vec<&Path> = folded.ancestors().collect();
            ancestors.reverse();
            for a in ancestors {
                if a.canonicalize().is_ok_and(|c| c == self.root) {
                    return folded
                        .strip_prefix(a)
                        .map(Path::to_path_buf)
                        .map_err(|_| outside(spelled));
                }
            }
            return Err(outside(spelled));
        }
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(outside(spelled));
                    }
                }
                Component::Normal(n) => out.push(n),
                // `\x` on Windows: rooted, yet not absolute.
                Component::Prefix(_) | Component::RootDir => return Err(outside(spelled)),
            }
        }
        Ok(out)
    }

    fn inside(&self, real: &Path) -> bool {
        real.starts_with(&self.root)
    }

    /// Reads the `context_files` in order into one prompt section; returns it and the bytes read.
    pub(crate) fn read_context(&self, specs: &[String]) -> Result<(String, u64), Failure> {
        let mut out = String::new();
        let mut total: u64 = 0;
        for raw in specs {
            let spec = parse_spec(raw)?;
            self.refuse_home_root(&spec.path, "reading")?;
            let text = self.read_text(&spec.path)?;
            let (header, body) = match spec.lines {
                None => (spec.path.clone(), text.as_str().to_string()),
                Some((start, end)) => {
                    let lines: Vec<&str> = text.lines().collect();
                    if start > lines.len() {
                        return Err(bad(format!(
                            "{}: line {start} is past the end ({} lines)",
                            spec.path,
                            lines.len()
                        )));
                    }
                    let end = end.min(lines.len());
                    (
                        format!("{} (lines {start}-{end})", spec.path),
                        lines[start - 1..end].join("\n"),
                    )
                }
            };
            // What goes into the prompt counts, not the whole file a range was cut from.
            total += body.len() as u64;
            if total > self.max_context_bytes {
                return Err(bad(format!(
                    "context_files exceed the {}-byte total cap at {}; pass fewer or narrower files",
                    self.max_context_bytes, spec.path
                )));
            }
            let body = body.trim_end_matches('\n');
            let fence = fence_for(body);
            out.push_str(&format!("\n\n### {header}\n{fence}\n{body}\n{fence}"));
        }
        Ok((out, total))
    }

    /// Reads one workspace file as text, refusing anything outside, special, binary or too big,
    /// and a secret-holding file by its spelled name or by its real one.
    fn read_text(&self, spelled: &str) -> Result<String, Failure> {
        let rel = self.relative(spelled)?;
        self.refuse_secret(spelled, &slashed(&rel))?;
        let lexical = self.root.join(rel);
        let real = lexical.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                bad(format!("{spelled}: no such file in the workspace"))
            }
            _ => bad(format!("{spelled}: cannot be read: {e}")),
        })?;
        let Ok(real_rel) = real.strip_prefix(&self.root) else {
            return Err(outside(spelled));
        };
        // A link named `notes.txt` that leads to `.env` is `.env`.
        self.refuse_secret(spelled, &slashed(real_rel))?;
        let file =
            open_no_follow(&real).map_err(|e| bad(format!("{spelled}: cannot be opened: {e}")))?;
        // The opened file decides, not the path: a link swapped in since canonicalize is caught.
        if let Some(opened) = fd_path(&file) {
            match opened.strip_prefix(&self.root) {
                Ok(now) => self.refuse_secret(spelled, &slashed(now))?,
                Err(_) => return Err(outside(spelled)),
            }
        }
        let bytes = self.read_capped(spelled, file)?;
        text_of(spelled, bytes)
    }

    /// The bytes of an open file, refusing a non-regular file and one over the size cap.
    fn read_capped(&self, spelled: &str, file: File) -> Result<Vec<u8>, Failure> {
        let meta = file
            .metadata()
            .map_err(|e| bad(format!("{spelled}: {e}")))?;
        if !meta.is_file() {
            return Err(bad(format!("{spelled}: not a regular file")));
        }
        if meta.len() > self.max_file_bytes {
            return Err(bad(format!(
                "{spelled} has {} bytes, over the {}-byte cap (LOCAL_EXECUTOR_MAX_FILE_BYTES); pass the parts the model needs as context",
                meta.len(),
                self.max_file_bytes
            )));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(self.max_file_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("{spelled}: {e}")))?;
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(bad(format!(
                "{spelled} grew past the {}-byte cap",
                self.max_file_bytes
            )));
        }
        Ok(bytes)
    }

    /// The check every write and edit starts with: the root is not the home directory or `/`,
    /// the path stays inside and is not protected. Returns the path relative to the root.
    pub(crate) fn check_write_path(&self, spelled: &str) -> Result<PathBuf, Failure> {
        self.refuse_home_root(spelled, "writing")?;
        let rel = self.relative(spelled)?;
        if rel.as_os_str().is_empty() {
            return Err(bad(format!("{spelled}: is the workspace root, not a file")));
        }
        let shown = slashed(&rel);
        if let Some(name) = shown.split('/').find(|n| aliases_on_windows(n)) {
            return Err(bad(format!(
                "{spelled}: refused, the name `{name}` ends in a dot or a space, holds a `:` or is an 8.3 short name, and so may name another file on Windows"
            )));
        }
        if let Some(p) = self.protected.iter().find(|p| protects(p, &shown)) {
            return Err(bad(format!(
                "{spelled}: refused, the path is protected ({p}); change it yourself if it must change"
            )));
        }
        if let Some((_, why)) = self.guards.iter().find(|(p, _)| protects(p, &shown)) {
            return Err(bad(format!(
                "{spelled}: refused, {why}; change it yourself if it must change"
            )));
        }
        Ok(rel)
    }

    /// Checks an `output_path` before any token is generated: writable, inside the workspace
    /// through every existing directory without a link, not a directory, and not an existing
    /// file unless `overwrite`. Returns the full path.
    pub(crate) fn check_output(&self, spelled: &str, overwrite: bool) -> Result<PathBuf, Failure> {
        let rel = self.check_write_path(spelled)?;
        if let Some(dir) = self.open_parent(spelled, &rel, false)? {
            match self.entry(spelled, &dir, &rel)? {
                sys::Entry::File { mode } if sys::read_only(mode) => {
                    return Err(read_only(spelled));
                }
                sys::Entry::File { .. } if !overwrite => {
                    return Err(exists(spelled));
                }
                _ => {}
            }
        }
        Ok(self.root.join(rel))
    }

    /// Writes `content` atomically to `spelled`, creating missing directories, checking every
    /// one on the way again; replaces an existing file only with `overwrite`.
    pub(crate) fn write(
        &self,
        spelled: &str,
        content: &str,
        overwrite: bool,
    ) -> Result<Receipt, Failure> {
        let rel = self.check_write_path(spelled)?;
        self.land(
            spelled,
            &rel,
            content,
            Landing {
                overwrite,
                expect: None,
            },
        )?;
        Ok(Receipt::new(slashed(&rel), content))
    }

    /// Opens the directory that holds `rel` from the root, one name at a time without following
    /// a link; creates missing directories when `create`, else answers `None` for one missing.
    fn open_parent(
        &self,
        spelled: &str,
        rel: &Path,
        create: bool,
    ) -> Result<Option<sys::Dir>, Failure> {
        let mut dir = sys::Dir::open_root(&self.root).map_err(|e| {
            bad(format!(
                "{spelled}: the workspace root cannot be opened: {e}"
            ))
        })?;
        let mut at = PathBuf::new();
        for name in rel.parent().into_iter().flat_map(Path::components) {
            let name = name.as_os_str();
            at.push(name);
            match dir.entry(name) {
                Ok(sys::Entry::Dir) => {}
                Ok(sys::Entry::Missing) if create => match dir.make_dir(name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(bad(format!(
                            "{spelled}: cannot create {}: {e}",
                            slashed(&at)
                        )));
                    }
                },
                Ok(sys::Entry::Missing) => return Ok(None),
                Ok(sys::Entry::Link) => return Err(self.through_link(spelled, &at)),
                Ok(_) => {
                    return Err(bad(format!(
                        "{spelled}: {} is not a directory",
                        slashed(&at)
                    )));
                }
                Err(e) => return Err(bad(format!("{spelled}: {e}"))),
            }
            // Opened without following a link: one swapped in since the look above fails here.
            dir = dir.open_dir(name).map_err(|e| match dir.entry(name) {
                Ok(sys::Entry::Link) => self.through_link(spelled, &at),
                _ => bad(format!("{spelled}: cannot open {}: {e}", slashed(&at))),
            })?;
        }
        Ok(Some(dir))
    }

    /// What the last name of `rel` is in its directory; a link or a non-file is refused.
    fn entry(&self, spelled: &str, dir: &sys::Dir, rel: &Path) -> Result<sys::Entry, Failure> {
        match dir.entry(file_name(rel)) {
            Ok(sys::Entry::Link) => Err(self.through_link(spelled, rel)),
            Ok(sys::Entry::Dir | sys::Entry::Other) => {
                Err(bad(format!("{spelled}: exists and is not a regular file")))
            }
            Ok(e) => Ok(e),
            Err(e) => Err(bad(format!("{spelled}: {e}"))),
        }
    }

    /// The refusal for a link on the way: outside if it leads out, else links are not followed.
    fn through_link(&self, spelled: &str, at: &Path) -> Failure {
        match self.root.join(at).canonicalize() {
            Ok(real) if self.inside(&real) => bad(format!(
                "{spelled}: refused, {} is a symbolic link and files are never written through links",
                slashed(at)
            )),
            _ => outside(spelled),
        }
    }

    /// Writes a temp file beside the target, syncs it, checks the fingerprint when editing,
    /// and renames it into place; the temp file is removed on every failure.
    fn land(&self, spelled: &str, rel: &Path, content: &str, how: Landing) -> Result<(), Failure> {
        let dir = self
            .open_parent(spelled, rel, how.expect.is_none())?
            .ok_or_else(|| bad(format!("{spelled}: its directory was removed")))?;
        let name = file_name(rel);
        let mode = match self.entry(spelled, &dir, rel)? {
            sys::Entry::File { mode } if sys::read_only(mode) => return Err(read_only(spelled)),
            sys::Entry::File { .. } if !how.overwrite => return Err(exists(spelled)),
            sys::Entry::File { mode } => Some(mode),
            _ if how.expect.is_some() => {
                return Err(bad(format!(
                    "{spelled} was removed since it was read; nothing was written"
                )));
            }
            _ => None,
        };
        let (tmp, mut file) = dir
            .create_temp(mode)
            .map_err(|e| bad(format!("{spelled}: cannot create a temp file: {e}")))?;
        let result = (|| {
            file.write_all(content.as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| bad(format!("{spelled}: cannot write: {e}")))?;
            drop(file);
            if let Some(expected) = how.expect {
                let now = dir
                    .open_file(name)
                    .map_err(|e| bad(format!("{spelled}: cannot be read again: {e}")))
                    .and_then(|f| self.read_capped(spelled, f));
                if now.map(|b| Fingerprint::of(&b)).ok() != Some(expected) {
                    return Err(bad(format!(
                        "{spelled} changed on disk since it was read; nothing was written"
                    )));
                }
            }
            dir.rename(&tmp, name, how.overwrite)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => exists(spelled),
                    _ => bad(format!("{spelled}: cannot write: {e}")),
                })
        })();
        if result.is_err() {
            dir.remove(&tmp);
        }
        result?;
        // Make the rename itself durable; a failure here leaves a complete file, so it is no error.
        dir.sync();
        Ok(())
    }
}

impl Workspace {
    /// The root, canonical.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The user's patterns of secret-holding files that may be read (`LOCAL_EXECUTOR_READ_SECRETS`).
    pub(crate) fn with_read_secrets(mut self, allowed: &[String]) -> Workspace {
        self.read_secrets = allowed
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        self
    }

    /// Adds the user's protected patterns (`LOCAL_EXECUTOR_PROTECTED`) to the built-in ones.
    pub(crate) fn with_protected(mut self, extra: &[String]) -> Workspace {
        self.protected.extend(
            extra
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
        );
        self
    }

    /// Refuses writes to these `(pattern, reason)` pairs: what the check commands run or load.
    pub(crate) fn with_guards(mut self, guards: Vec<(String, String)>) -> Workspace {
        self.guards.extend(guards);
        self
    }

    /// Reads an existing workspace file to edit it: writable and not protected, a regular file
    /// reached without links, not read-only, not secret-holding (unless allowed), within the
    /// size cap, UTF-8 text.
    pub(crate) fn read_for_edit(&self, spelled: &str) -> Result<EditSource, Failure> {
        let rel = self.check_write_path(spelled)?;
        let missing = || {
            bad(format!(
                "{spelled}: no such file in the workspace to edit; to create it, generate it whole"
            ))
        };
        let dir = self
            .open_parent(spelled, &rel, false)?
            .ok_or_else(missing)?;
        match self.entry(spelled, &dir, &rel)? {
            sys::Entry::Missing => return Err(missing()),
            sys::Entry::File { mode } if sys::read_only(mode) => return Err(read_only(spelled)),
            _ => {}
        }
        // Its content goes to the model, and the diff back to the planner.
        self.refuse_secret(spelled, &slashed(&rel))?;
        let file = dir
            .open_file(file_name(&rel))
            .map_err(|e| bad(format!("{spelled}: cannot be opened: {e}")))?;
        let bytes = self.read_capped(spelled, file)?;
        let fingerprint = Fingerprint::of(&bytes);
        Ok(EditSource {
            path: slashed(&rel),
            content: text_of(spelled, bytes)?,
            fingerprint,
            rel,
        })
    }

    /// Replaces an edited file atomically with `content`, only if it still holds exactly what
    /// [`Workspace::read_for_edit`] read (compared by content hash just before the rename);
    /// otherwise, or on any error, the file is left as it is.
    pub(crate) fn write_if_unchanged(
        &self,
        source: &EditSource,
        content: &str,
    ) -> Result<(), Failure> {
        // The rules may have changed since the read (another call, another root): check again.
        let rel = self.check_write_path(&source.path)?;
        if rel != source.rel {
            return Err(outside(&source.path));
        }
        self.land(
            &source.path,
            &rel,
            content,
            Landing {
                overwrite: true,
                expect: Some(source.fingerprint),
            },
        )
    }
}

fn outside(spelled: &str) -> Failure {
    bad(format!(
        "{spelled}: refused, it resolves outside the workspace"
    ))
}

/// One policy with `init`: an atomic rename would replace a read-only file without a word.
fn read_only(spelled: &str) -> Failure {
    bad(format!(
        "{spelled} is read-only; make it writable or leave it out"
    ))
}

fn exists(spelled: &str) -> Failure {
    bad(format!(
        "{spelled} exists; pass overwrite: true to replace it"
    ))
}

/// The last name of a path that [`Workspace::check_write_path`] accepted (never empty).
fn file_name(rel: &Path) -> &OsStr {
    rel.file_name().unwrap_or(rel.as_os_str())
}

/// A relative path with `/` between names, as receipts, prompts and patterns spell it.
fn slashed(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the file system of `root` ignores case: the deepest name on the way to the root that
/// has ASCII letters, spelled in the other case, leads to the same directory. Without such a
/// name (a root of `/`), the platform's default decides.
fn case_insensitive(root: &Path) -> bool {
    for dir in root.ancestors() {
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(OsStr::to_str))
        else {
            continue;
        };
        let flipped: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        if flipped != name {
            return sys::same_entry(dir, &parent.join(flipped));
        }
    }
    cfg!(any(target_os = "macos", windows))
}

/// Opens for reading without following a final symlink and without blocking on a FIFO.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    opts.open(path)
}

/// Where an open file really is, on Linux; elsewhere `None` and the path checks stand alone.
fn fd_path(file: &File) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// A unique temp-file name in the target's directory; creation with `O_EXCL` settles a clash.
fn temp_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        ".local-executor-{}-{}-{nanos}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Directory handles: on Unix file descriptors used with the `*at` calls, so every step is taken
/// from a directory already checked and no link is followed; elsewhere paths, checked with
/// `symlink_metadata` before each use (a window remains there between check and use).
#[cfg(unix)]
mod sys {
    use std::ffi::{OsStr, OsString};
    use std::fs::File;
    use std::io;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};

    /// Permission bits, as the platform spells them.
    pub(super) type Bits = rustix::fs::RawMode;

    pub(super) enum Entry {
        Missing,
        Link,
        Dir,
        /// A regular file and its permission bits.
        File {
            mode: Bits,
        },
        Other,
    }

    pub(super) struct Dir(OwnedFd);

    /// Permission bits kept on a replaced file; set-id bits are not carried onto new content.
    const KEPT_BITS: Bits = 0o777;

    /// No write bit for the owner: the user marked the file as not to be changed.
    pub(super) fn read_only(mode: Bits) -> bool {
        mode & 0o200 == 0
    }

    /// Whether two paths lead to one file (device and inode).
    pub(super) fn same_entry(a: &Path, b: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }

    impl Dir {
        pub(super) fn open_root(root: &Path) -> io::Result<Dir> {
            let fd = rustix::fs::openat(
                CWD,
                root,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(Dir(fd))
        }

        pub(super) fn entry(&self, name: &OsStr) -> io::Result<Entry> {
            match rustix::fs::statat(&self.0, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Ok(match FileType::from_raw_mode(st.st_mode) {
                    FileType::Symlink => Entry::Link,
                    FileType::Directory => Entry::Dir,
                    FileType::RegularFile => Entry::File {
                        mode: Mode::from_raw_mode(st.st_mode).bits() & KEPT_BITS,
                    },
                    _ => Entry::Other,
                }),
                Err(rustix::io::Errno::NOENT) => Ok(Entry::Missing),
                Err(e) => Err(e.into()),
            }
        }

        pub(super) fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
            let fd = rustix::fs::openat(
                &self.0,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(Dir(fd))
        }

        /// A new directory gets 0777 under the umask, as `mkdir` gives it.
        pub(super) fn make_dir(&self, name: &OsStr) -> io::Result<()> {
            rustix::fs::mkdirat(&self.0, name, Mode::from_raw_mode(0o777))?;
            Ok(())
        }

        /// Opens a file to read without following a link and without blocking on a FIFO.
        pub(super) fn open_file(&self, name: &OsStr) -> io::Result<File> {
            let fd = rustix::fs::openat(
                &self.0,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(File::from(fd))
        }

        /// A new temp file: created 0666 so the umask decides, as for any editor's new file,
        /// then given `mode` when it replaces a file that had it.
        pub(super) fn create_temp(&self, mode: Option<Bits>) -> io::Result<(OsString, File)> {
            let mut tries = 0;
            loop {
                let name = OsString::from(super::temp_name());
                match rustix::fs::openat(
                    &self.0,
                    name.as_os_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o666),
                ) {
                    Ok(fd) => {
                        let file = File::from(fd);
                        if let Some(mode) = mode {
                            let set = rustix::fs::fchmod(&file, Mode::from_bits_truncate(mode));
                            if let Err(e) = set {
                                self.remove(&name);
                                return Err(e.into());
                            }
                        }
                        return Ok((name, file));
                    }
                    Err(rustix::io::Errno::EXIST) if tries < 16 => tries += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }

        /// Renames `from` to `to` in this directory; without `clobber`, an existing `to` is an
        /// `AlreadyExists` error and stays as it is.
        pub(super) fn rename(&self, from: &OsStr, to: &OsStr, clobber: bool) -> io::Result<()> {
            if clobber {
                return Ok(rustix::fs::renameat(&self.0, from, &self.0, to)?);
            }
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
            match rustix::fs::renameat_with(
                &self.0,
                from,
                &self.0,
                to,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => return Ok(()),
                // A file system without the flag: fall back to a link, which never replaces.
                Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {}
                Err(e) => return Err(e.into()),
            }
            rustix::fs::linkat(&self.0, from, &self.0, to, AtFlags::empty())?;
            self.remove(from);
            Ok(())
        }

        pub(super) fn remove(&self, name: &OsStr) {
            let _ = rustix::fs::unlinkat(&self.0, name, AtFlags::empty());
        }

        pub(super) fn sync(&self) {
            let _ = rustix::fs::fsync(&self.0);
        }
    }
}

#[cfg(not(unix))]
mod sys {
    use std::ffi::{OsStr, OsString};
    use std::fs::File;
    use std::io;
    use std::path::{Path, PathBuf};

    /// Whether the file is read-only (1), the one permission bit kept here.
    pub(super) type Bits = u32;

    pub(super) enum Entry {
        Missing,
        Link,
        Dir,
        File { mode: Bits },
        Other,
    }

    pub(super) struct Dir(PathBuf);

    pub(super) fn read_only(mode: Bits) -> bool {
        mode == 1
    }

    /// Whether the other spelling exists at all: without a file id in std, the best guess.
    pub(super) fn same_entry(_: &Path, b: &Path) -> bool {
        b.exists()
    }

    impl Dir {
        pub(super) fn open_root(root: &Path) -> io::Result<Dir> {
            Ok(Dir(root.to_path_buf()))
        }

        pub(super) fn entry(&self, name: &OsStr) -> io::Result<Entry> {
            match std::fs::symlink_metadata(self.0.join(name)) {
                Ok(m) if m.file_type().is_symlink() => Ok(Entry::Link),
                Ok(m) if m.is_dir() => Ok(Entry::Dir),
                Ok(m) if m.is_file() => Ok(Entry::File {
                    mode: u32::from(m.permissions().readonly()),
                }),
                Ok(_) => Ok(Entry::Other),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Entry::Missing),
                Err(e) => Err(e),
            }
        }

        pub(super) fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
            match self.entry(name)? {
                Entry::Dir => Ok(Dir(self.0.join(name))),
                _ => Err(io::Error::other("not a directory")),
            }
        }

        pub(super) fn make_dir(&self, name: &OsStr) -> io::Result<()> {
            std::fs::create_dir(self.0.join(name))
        }

        pub(super) fn open_file(&self, name: &OsStr) -> io::Result<File> {
            match self.entry(name)? {
                Entry::File { .. } => File::open(self.0.join(name)),
                _ => Err(io::Error::other("not a regular file")),
            }
        }

        pub(super) fn create_temp(&self, mode: Option<Bits>) -> io::Result<(OsString, File)> {
            let name = OsString::from(super::temp_name());
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.0.join(&name))?;
            if mode == Some(1) {
                let mut p = file.metadata()?.permissions();
                p.set_readonly(true);
                file.set_permissions(p)?;
            }
            Ok((name, file))
        }

        pub(super) fn rename(&self, from: &OsStr, to: &OsStr, clobber: bool) -> io::Result<()> {
            if clobber {
                return std::fs::rename(self.0.join(from), self.0.join(to));
            }
            std::fs::hard_link(self.0.join(from), self.0.join(to))?;
            self.remove(from);
            Ok(())
        }

        pub(super) fn remove(&self, name: &OsStr) {
            let _ = std::fs::remove_file(self.0.join(name));
        }

        pub(super) fn sync(&self) {}
    }
}

/// What the planner gets instead of the artifact when it was written to disk.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub path: String,
    pub lines: usize,
    pub bytes: u64,
    pub sha256: String,
    pub head: Vec<String>,
}

/// One line of a receipt's preview: its indentation kept (it is half of what a line of code
/// says), control characters other than a tab dropped, cut at [`RECEIPT_LINE_CHARS`].
fn preview_line(line: &str) -> String {
    let kept: Vec<char> = line
        .trim_end()
        .chars()
        .filter(|c| *c == '\t' || !c.is_control())
        .collect();
    if kept.len() <= RECEIPT_LINE_CHARS {
        return kept.into_iter().collect();
    }
    let mut cut: String = kept[..RECEIPT_LINE_CHARS - 1].iter().collect();
    cut.push('…');
    cut
}

impl Receipt {
    fn new(path: String, content: &str) -> Receipt {
        let digest = Sha256::digest(content.as_bytes());
        let sha256 = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Receipt {
            path,
            lines: content.lines().count(),
            bytes: content.len() as u64,
            sha256,
            head: content
                .lines()
                .take(RECEIPT_LINES)
                .map(preview_line)
                .collect(),
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut s = format!(
            "wrote {} · {} lines · {} bytes · sha256 {}\n",
            self.path, self.lines, self.bytes, self.sha256
        );
        for l in &self.head {
            s.push_str("| ");
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let w = Workspace::new(dir.path(), 1000, 1500).unwrap();
        (dir, w)
    }

    #[test]
    fn specs_parse_ranges() {
        assert_eq!(
            parse_spec("a.py").unwrap(),
            FileSpec {
                path: "a.py".into(),
                lines: None
            }
        );
        assert_eq!(parse_spec("a.py:3-9").unwrap().lines, Some((3, 9)));
        assert_eq!(parse_spec("C:dir:1-2").unwrap().path, "C:dir");
        assert_eq!(parse_spec("weird:name.py").unwrap().path, "weird:name.py");
        assert!(parse_spec("a.py:0-3").is_err());
        assert!(parse_spec("a.py:5-3").is_err());
        assert!(parse_spec(" ").is_err());
    }

    #[test]
    fn reads_files_and_ranges_in_order() {
        let (dir, w) = ws();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), "bee\n").unwrap();
        let (text, bytes) = w
            .read_context(&["sub/b.txt".into(), "a.txt:2-9".into()])
            .unwrap();
        assert_eq!(
            text,
            "\n\n### sub/b.txt\n```\nbee\n```\n\n### a.txt (lines 2-3)\n```\ntwo\nthree\n```"
        );
        assert_eq!(bytes, 4 + "two\nthree".len() as u64);
    }

    #[test]
    fn a_file_with_backticks_gets_a_longer_fence() {
        let (dir, w) = ws();
        let md = "# Use\n```sh\nmake\n```\nand ````four````\n";
        std::fs::write(dir.path().join("README.md"), md).unwrap();
        let (text, _) = w.read_context(&["README.md".into()]).unwrap();
        assert_eq!(
            text,
            format!("\n\n### README.md\n`````\n{}\n`````", md.trim_end())
        );
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a `b` c"), "```");
        assert_eq!(fence_for("```"), "````");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_escapes_specials_binaries_and_big_files() {
        let (dir, w) = ws();
        let outside_dir = tempfile::tempdir().unwrap();
        std::fs::write(outside_dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside_dir.path().join("secret"), dir.path().join("link"))
            .unwrap();
        std::fs::write(dir.path().join("bin"), b"a\0b").unwrap();
        std::fs::write(dir.path().join("big"), "x".repeat(1001)).unwrap();
        let outside_path = outside_dir.path().join("secret").display().to_string();
        for (spec, word) in [
            ("../x", "outside"),
            (outside_path.as_str(), "outside"),
            ("link", "outside"),
            ("bin", "binary"),
            ("big", "cap"),
            ("/dev/null", "outside"),
            ("missing", "no such file"),
        ] {
            let e = w.read_context(&[spec.to_string()]).unwrap_err();
            assert_eq!(e.reason, Reason::BadRequest);
            assert!(e.detail.contains(word), "{spec}: {}", e.detail);
        }
    }

    #[test]
    fn total_cap_counts_every_file() {
        let (dir, w) = ws();
        std::fs::write(dir.path().join("a"), "x".repeat(800)).unwrap();
        let e = w.read_context(&["a".into(), "a".into()]).unwrap_err();
        assert!(e.detail.contains("total cap"), "{}", e.detail);
    }

    #[cfg(unix)]
    #[test]
    fn writes_atomically_and_refuses_to_clobber() {
        use std::os::unix::fs::MetadataExt;
        let (dir, w) = ws();
        let r = w.write("new/dir/out.py", "a = 1\nb = 2\n", false).unwrap();
        let path = dir.path().join("new/dir/out.py");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 1\nb = 2\n");
        assert_eq!(r.path, "new/dir/out.py");
        assert_eq!(r.lines, 2);
        assert_eq!(r.bytes, 12);
        assert_eq!(r.sha256.len(), 12);
        let e = w.write("new/dir/out.py", "c = 3\n", false).unwrap_err();
        assert!(e.detail.contains("overwrite"), "{}", e.detail);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 1\nb = 2\n");

        // Only a rename gives these: a reader holding the old file still sees all of it, and
        // the path names a new inode. Writing in place would truncate what the reader sees.
        let mut held = File::open(&path).unwrap();
        let old_inode = std::fs::metadata(&path).unwrap().ino();
        w.write("new/dir/out.py", "c = 3\n", true).unwrap();
        let mut seen = String::new();
        held.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "a = 1\nb = 2\n");
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), old_inode);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c = 3\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("new/dir"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_to_write_through_links_or_outside() {
        let (dir, w) = ws();
        let outside_dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside_dir.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink(outside_dir.path().join("f"), dir.path().join("f")).unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("inner")).unwrap();
        for (p, word) in [
            ("out/x.py", "outside"),
            ("f", "outside"),
            ("../x.py", "outside"),
            ("/tmp/x.py", "outside"),
            (".", "workspace root"),
            ("inner/x.py", "symbolic link"),
        ] {
            let e = w.write(p, "x\n", true).unwrap_err();
            assert!(e.detail.contains(word), "{p}: {}", e.detail);
            assert!(e.detail.starts_with(p), "{p}: {}", e.detail);
        }
        assert_eq!(std::fs::read_dir(outside_dir.path()).unwrap().count(), 0);
        assert_eq!(
            std::fs::read_dir(dir.path().join("real")).unwrap().count(),
            0
        );
    }

    /// The process umask, read without changing it (Linux); `None` elsewhere.
    #[cfg(unix)]
    fn umask() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Umask:"))?;
        u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn new_files_follow_the_umask_and_replaced_files_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, w) = ws();
        w.write("new.py", "x = 1\n", false).unwrap();
        if let Some(mask) = umask() {
            assert_eq!(mode(&dir.path().join("new.py")), 0o666 & !mask);
        }
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        w.write("run.sh", "#!/bin/sh\necho hi\n", true).unwrap();
        assert_eq!(mode(&script), 0o755);
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o640)).unwrap();
        let src = w.read_for_edit("run.sh").unwrap();
        w.write_if_unchanged(&src, "#!/bin/sh\necho bye\n").unwrap();
        assert_eq!(mode(&script), 0o640);
        assert_eq!(
            std::fs::read_to_string(&script).unwrap(),
            "#!/bin/sh\necho bye\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn absolute_paths_through_a_linked_root_are_inside() {
        let base = tempfile::tempdir().unwrap();
        let real = base.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("a.txt"), "alpha\n").unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let w = Workspace::new(&link, 1000, 1500).unwrap();
        let via_link = link.join("a.txt").display().to_string();
        let (text, _) = w.read_context(std::slice::from_ref(&via_link)).unwrap();
        assert!(text.contains("alpha"), "{text}");
        let r = w
            .write(&link.join("gen/b.py").display().to_string(), "b\n", false)
            .unwrap();
        assert_eq!(r.path, "gen/b.py");
        assert_eq!(
            std::fs::read_to_string(real.join("gen/b.py")).unwrap(),
            "b\n"
        );
        // The canonical spelling is inside too; a sibling of the root and `..` are not.
        w.write(&real.join("c.py").display().to_string(), "c\n", false)
            .unwrap();
        std::fs::write(base.path().join("sib.txt"), "s").unwrap();
        for p in [
            base.path().join("sib.txt").display().to_string(),
            format!("{}/../sib.txt", link.display()),
            "../sib.txt".to_string(),
        ] {
            let e = w.write(&p, "x\n", true).unwrap_err();
            assert!(e.detail.contains("outside"), "{p}: {}", e.detail);
            assert!(w.read_context(std::slice::from_ref(&p)).is_err(), "{p}");
        }
        assert_eq!(
            std::fs::read_to_string(base.path().join("sib.txt")).unwrap(),
            "s"
        );
    }

    #[test]
    fn protected_patterns_match_names_and_paths() {
        for (pattern, rel, hit) in [
            (".git/", ".git/config", true),
            (".git/", "sub/module/.git", true),
            (".git/", "src/git.rs", false),
            (".git/", ".github/workflows/ci.yml", false),
            ("**/.git/config", ".git/config", true),
            ("**/.git/config", "a/b/.git/config", true),
            ("**/.git/config", "a/.git/config/x", true),
            ("**/.git/config", "a/.git/configs", false),
            ("**/.git/config", "config", false),
            (".cargo/config.toml", "sub/.cargo/config.toml", false),
            (".env", "app/.env", true),
            (".env.*", ".env.local", true),
            (".env.*", ".environment", false),
            (".mcp.json", ".MCP.JSON", true),
            ("*.pem", "certs/server.pem", true),
            ("*.pem", "pem.txt", false),
            ("secrets/", "secrets/a.yaml", true),
            ("docs/api", "docs/api/v1.md", true),
            ("docs/api", "docs/apis.md", false),
            ("docs/api", "other/docs/api/x", false),
            ("src/*/gen.rs", "src/a/gen.rs", true),
            ("a?c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("  ", "x", false),
        ] {
            assert_eq!(protects(pattern, rel), hit, "{pattern} vs {rel}");
        }
    }

    #[test]
    fn protected_paths_are_refused_for_writing_and_editing() {
        let (dir, w) = ws();
        let w = w.with_protected(&["*.pem".into(), " ".into(), "deploy/".into()]);
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/config"), "[core]\n").unwrap();
        std::fs::write(dir.path().join(".env"), "KEY=1\n").unwrap();
        for p in [
            ".git/config",
            ".git/hooks/pre-commit",
            ".env",
            "svc/.env.production",
            ".mcp.json",
            ".claude/settings.json",
            ".codex/config.toml",
            "./.GIT/HEAD",
            "key.pem",
            "deploy/run.sh",
        ] {
            let e = w.write(p, "x\n", true).unwrap_err();
            assert!(e.detail.contains("protected"), "{p}: {}", e.detail);
            assert!(e.detail.starts_with(p), "{p}: {}", e.detail);
            assert!(w.check_output(p, true).is_err(), "{p}");
            assert!(w.read_for_edit(p).is_err(), "{p}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".git/config")).unwrap(),
            "[core]\n"
        );
        assert!(!dir.path().join("deploy").exists());
        // Near names are writable.
        w.write("src/env.py", "x\n", false).unwrap();
        w.write("docs/claude.md.txt", "x\n", false).unwrap();
        w.write(".github/ISSUE_TEMPLATE/bug.md", "x\n", false)
            .unwrap();
        w.write("src/cargo/config.toml", "x\n", false).unwrap();
    }

    #[test]
    fn files_that_run_commands_or_steer_agents_are_protected() {
        let (dir, w) = ws();
        for p in [
            "CLAUDE.md",
            "sub/claude.md",
            "AGENTS.md",
            "GEMINI.md",
            ".cursorrules",
            ".windsurfrules",
            ".husky/pre-commit",
            ".cargo/config.toml",
            "crates/x/.cargo/config",
            ".yarnrc.yml",
            ".devcontainer/devcontainer.json",
            ".github/workflows/ci.yml",
            ".github/actions/setup/action.yml",
            ".gitlab-ci.yml",
            ".pre-commit-config.yaml",
            ".envrc",
            ".aws/config",
        ] {
            let e = w.write(p, "x\n", true).unwrap_err();
            assert!(e.detail.contains("protected"), "{p}: {}", e.detail);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn names_that_alias_others_on_windows_are_not_written() {
        for (name, hit) in [
            (".git.", true),
            (".env ", true),
            (".mcp.json::$DATA", true),
            ("a:b.py", true),
            ("GIT~1", true),
            ("CLAUDE~1.MD", true),
            ("PROGR~12", true),
            ("PROGRA~12", false),
            ("a.py", false),
            ("file.py~", false),
            ("~1", false),
            ("notes~draft.md", false),
            ("averylongname~1.py", false),
            ("x~1.json5", false),
        ] {
            assert_eq!(aliases_on_windows(name), hit, "{name:?}");
        }
        let (dir, w) = ws();
        for p in [
            ".git./hooks/pre-commit",
            "src/a.py.",
            "a.py ",
            "x.py:stream",
        ] {
            let e = w.write(p, "x\n", true).unwrap_err();
            assert!(e.detail.contains("Windows"), "{p}: {}", e.detail);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn secret_holding_files_are_named_by_their_patterns() {
        for (rel, hit) in [
            (".env", Some(".env")),
            ("app/.env.local", Some(".env.*")),
            (".env.example", None),
            ("svc/.env.sample", None),
            (".netrc", Some(".netrc")),
            (".npmrc", Some(".npmrc")),
            (".pypirc", Some(".pypirc")),
            ("certs/server.pem", Some("*.pem")),
            ("tls/server.key", Some("*.key")),
            ("keys/id_rsa", Some("id_rsa*")),
            ("id_ed25519", Some("id_ed25519*")),
            ("id_ed25519.pub", None),
            ("src/id_utils.py", None),
            (".git/config", Some("**/.git/config")),
            ("vendor/lib/.git/config", Some("**/.git/config")),
            (".git/HEAD", None),
            (".aws/credentials", Some(".aws/")),
            (".ssh/config", Some(".ssh/")),
            (".gnupg/pubring.kbx", Some(".gnupg/")),
            (".git-credentials", Some(".git-credentials")),
            (".docker/config.json", Some("**/.docker/config.json")),
            ("src/main.rs", None),
            ("docs/env.md", None),
        ] {
            assert_eq!(secret_pattern(rel), hit, "{rel}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_read_only_when_allowed_judged_by_their_real_path() {
        let (dir, w) = ws();
        std::fs::write(dir.path().join(".env"), "KEY=1\n").unwrap();
        std::fs::write(dir.path().join(".env.example"), "KEY=\n").unwrap();
        std::fs::write(dir.path().join("tls.key"), "k\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join(".env"), dir.path().join("notes.txt")).unwrap();
        for p in [".env", "notes.txt", "./.env", "tls.key"] {
            let e = w.read_context(&[p.into()]).unwrap_err();
            assert!(
                e.detail.contains("LOCAL_EXECUTOR_READ_SECRETS"),
                "{p}: {}",
                e.detail
            );
            assert!(e.detail.starts_with(p), "{p}: {}", e.detail);
        }
        assert!(w.read_context(&[".env.example".into()]).is_ok());
        let e = w.read_for_edit("tls.key").unwrap_err();
        assert!(e.detail.contains("secrets"), "{}", e.detail);

        let w = w.with_read_secrets(&[".env".into(), " ".into()]);
        for p in [".env", "notes.txt"] {
            let (text, _) = w.read_context(&[p.into()]).unwrap();
            assert!(text.contains("KEY=1"), "{p}: {text}");
        }
        assert!(w.read_context(&["tls.key".into()]).is_err());
        let w = w.with_read_secrets(&["*".into()]);
        assert!(w.read_context(&["tls.key".into()]).is_ok());
    }

    #[test]
    fn one_file_has_one_identity_however_spelled() {
        let (dir, w) = ws();
        let abs = w.root().join("a.py").display().to_string();
        for p in ["a.py", "./a.py", "sub/../a.py", abs.as_str()] {
            assert_eq!(w.identity(p).unwrap(), "a.py", "{p}");
        }
        assert!(w.identity("../a.py").is_err());
        // Case variants are one file exactly when the file system says so.
        std::fs::write(dir.path().join("probe"), "").unwrap();
        let folds = dir.path().join("PROBE").exists();
        assert_eq!(w.identity("A.py").unwrap() == "a.py", folds);
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_file_is_neither_replaced_nor_edited() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, w) = ws();
        let path = dir.path().join("ro.py");
        std::fs::write(&path, "y = 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let e = w.write("ro.py", "y = 2\n", true).unwrap_err();
        assert!(e.detail.contains("read-only"), "{}", e.detail);
        assert!(w.check_output("ro.py", true).is_err());
        assert!(w.read_for_edit("ro.py").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "y = 1\n");
        assert_eq!(mode(&path), 0o444);
    }

    #[test]
    fn a_receipt_preview_keeps_indentation() {
        let r = Receipt::new(
            "a.py".into(),
            "def f():\n    \"\"\"Add.\"\"\"\n\treturn 1\x1b[31m  \n",
        );
        assert_eq!(
            r.head,
            ["def f():", "    \"\"\"Add.\"\"\"", "\treturn 1[31m"]
        );
        let long = format!("    {}", "x".repeat(300));
        let r = Receipt::new("b.py".into(), &long);
        assert_eq!(r.head[0].chars().count(), RECEIPT_LINE_CHARS);
        assert!(r.head[0].starts_with("    x"));
    }

    #[test]
    fn a_root_at_slash_is_neither_read_nor_written() {
        let w = Workspace::new(Path::new("/"), 1000, 1500).unwrap();
        let e = w.check_output("tmp/x.py", false).unwrap_err();
        assert!(e.detail.contains("home directory or /"), "{}", e.detail);
        assert!(e.detail.starts_with("tmp/x.py"), "{}", e.detail);
        let e = w.read_context(&["etc/hostname".into()]).unwrap_err();
        assert!(e.detail.contains("reading is refused"), "{}", e.detail);
        assert!(e.detail.starts_with("etc/hostname"), "{}", e.detail);
        assert_eq!(
            w.read_context(&[]).unwrap().1,
            0,
            "no file, nothing refused"
        );
    }

    #[cfg(unix)]
    #[test]
    fn edits_read_text_files_only() {
        let (dir, w) = ws();
        let outside_dir = tempfile::tempdir().unwrap();
        std::fs::write(outside_dir.path().join("o.py"), "o\n").unwrap();
        std::fs::write(dir.path().join("bin"), b"a\0b").unwrap();
        std::fs::write(dir.path().join("latin1"), b"caf\xe9\n").unwrap();
        std::fs::write(dir.path().join("big"), "x".repeat(1001)).unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink(outside_dir.path().join("o.py"), dir.path().join("l.py"))
            .unwrap();
        std::os::unix::fs::symlink(dir.path().join("bin"), dir.path().join("in.py")).unwrap();
        for (p, word) in [
            ("bin", "binary"),
            ("latin1", "UTF-8"),
            ("big", "cap"),
            ("d", "not a regular file"),
            ("l.py", "outside"),
            ("in.py", "symbolic link"),
            ("missing.py", "no such file"),
            ("nodir/missing.py", "no such file"),
            ("../o.py", "outside"),
        ] {
            let e = w.read_for_edit(p).unwrap_err();
            assert_eq!(e.reason, Reason::BadRequest);
            assert!(e.detail.contains(word), "{p}: {}", e.detail);
        }
        std::fs::write(dir.path().join("ok.py"), "a = 1\r\n").unwrap();
        let src = w.read_for_edit("./ok.py").unwrap();
        assert_eq!(src.path, "ok.py");
        assert_eq!(src.content, "a = 1\r\n");
        assert_eq!(src.fingerprint, Fingerprint::of(b"a = 1\r\n"));
    }

    #[test]
    fn an_edit_is_not_written_over_a_file_changed_since_it_was_read() {
        let (dir, w) = ws();
        let path = dir.path().join("m.py");
        std::fs::write(&path, "a = 1\n").unwrap();
        let src = w.read_for_edit("m.py").unwrap();
        // Same length, same second: only the content hash tells them apart.
        std::fs::write(&path, "a = 2\n").unwrap();
        let e = w.write_if_unchanged(&src, "a = 3\n").unwrap_err();
        assert!(e.detail.contains("changed on disk"), "{}", e.detail);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 2\n");

        let src = w.read_for_edit("m.py").unwrap();
        std::fs::remove_file(&path).unwrap();
        let e = w.write_if_unchanged(&src, "a = 3\n").unwrap_err();
        assert!(e.detail.contains("removed"), "{}", e.detail);
        assert!(!path.exists());

        std::fs::write(&path, "a = 1\n").unwrap();
        let src = w.read_for_edit("m.py").unwrap();
        w.write_if_unchanged(&src, "a = 4\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 4\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file is left behind"
        );
    }

    #[test]
    fn receipt_is_short() {
        let content: String = (0..200)
            .map(|i| format!("line {i} {}\n", "z".repeat(150)))
            .collect();
        let r = Receipt::new("a.py".into(), &content);
        let text = r.render();
        assert_eq!(text.lines().count(), 1 + RECEIPT_LINES);
        assert!(text.len() < 450, "{}", text.len());
    }
}
