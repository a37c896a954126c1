//! The workspace boundary: `context_files` read in, `output_path` written out, and never a byte
//! outside the workspace root. Paths are checked by where they really lead (symlinks resolved,
//! and on Linux by the opened file's own path in `/proc/self/fd`), not by how they are spelled.
//! Writes are atomic: a temp file in the target's directory, fsync, then rename.

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

pub(crate) struct Workspace {
    /// Canonical root.
    root: PathBuf,
    max_file_bytes: u64,
    max_context_bytes: u64,
}

/// A `context_files` entry: `path` or `path:START-END` (1-based, inclusive).
#[derive(Debug, PartialEq)]
pub(crate) struct FileSpec {
    pub path: String,
    pub lines: Option<(usize, usize)>,
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
            root,
            max_file_bytes,
            max_context_bytes,
        })
    }

    /// The spelled path joined to the root and folded lexically; `..` may not climb above it.
    fn lexical(&self, spelled: &str) -> Result<PathBuf, Failure> {
        let p = Path::new(spelled);
        let mut out = if p.is_absolute() {
            PathBuf::new()
        } else {
            self.root.clone()
        };
        for c in p.components() {
            match c {
                Component::Prefix(_) | Component::RootDir => out.push(c.as_os_str()),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(outside(spelled));
                    }
                }
                Component::Normal(n) => out.push(n),
            }
        }
        if !out.starts_with(&self.root) {
            return Err(outside(spelled));
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
            out.push_str(&format!(
                "\n\n### {header}\n```\n{}\n```",
                body.trim_end_matches('\n')
            ));
        }
        Ok((out, total))
    }

    /// Reads one workspace file as text, refusing anything outside, special, binary or too big.
    fn read_text(&self, spelled: &str) -> Result<String, Failure> {
        let lexical = self.lexical(spelled)?;
        let real = lexical.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                bad(format!("{spelled}: no such file in the workspace"))
            }
            _ => bad(format!("{spelled}: cannot be read: {e}")),
        })?;
        if !self.inside(&real) {
            return Err(outside(spelled));
        }
        let file =
            open_no_follow(&real).map_err(|e| bad(format!("{spelled}: cannot be opened: {e}")))?;
        // The opened file decides, not the path: a link swapped in since canonicalize is caught.
        if let Some(opened) = fd_path(&file)
            && !self.inside(&opened)
        {
            return Err(outside(spelled));
        }
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
        if bytes[..bytes.len().min(SNIFF_BYTES)].contains(&0) {
            return Err(bad(format!("{spelled} is binary")));
        }
        String::from_utf8(bytes).map_err(|_| bad(format!("{spelled} is not UTF-8 text")))
    }

    /// Checks an `output_path` before any token is generated: inside the workspace through every
    /// existing directory, not a link, not a directory, and not an existing file unless
    /// `overwrite`.
    pub(crate) fn check_output(&self, spelled: &str, overwrite: bool) -> Result<PathBuf, Failure> {
        let target = self.lexical(spelled)?;
        if target == self.root {
            return Err(bad(format!("{spelled}: is the workspace root, not a file")));
        }
        let parent = target.parent().unwrap_or(&self.root);
        let existing = parent
            .ancestors()
            .find(|a| a.exists())
            .unwrap_or(&self.root);
        let real = existing
            .canonicalize()
            .map_err(|e| bad(format!("{spelled}: {e}")))?;
        if !self.inside(&real) || real != existing {
            // A directory on the way is a symlink: where it leads is not what the path says.
            return Err(outside(spelled));
        }
        if !existing.is_dir() {
            return Err(bad(format!(
                "{spelled}: {} is not a directory",
                existing.display()
            )));
        }
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => Err(outside(spelled)),
            Ok(m) if !m.is_file() => {
                Err(bad(format!("{spelled}: exists and is not a regular file")))
            }
            Ok(_) if !overwrite => Err(bad(format!(
                "{spelled} exists; pass overwrite: true to replace it"
            ))),
            _ => Ok(target),
        }
    }

    /// Writes `content` atomically to a path that passed [`Workspace::check_output`], checking
    /// every directory it creates and the temp file's real location again.
    pub(crate) fn write(
        &self,
        spelled: &str,
        content: &str,
        overwrite: bool,
    ) -> Result<Receipt, Failure> {
        let target = self.check_output(spelled, overwrite)?;
        let parent = target.parent().unwrap_or(&self.root).to_path_buf();
        let rel = parent
            .strip_prefix(&self.root)
            .map_err(|_| outside(spelled))?;
        let mut dir = self.root.clone();
        for c in rel.components() {
            dir.push(c);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(bad(format!(
                        "{spelled}: cannot create {}: {e}",
                        dir.display()
                    )));
                }
            }
            let m = std::fs::symlink_metadata(&dir).map_err(|e| bad(format!("{spelled}: {e}")))?;
            if m.file_type().is_symlink() || !m.is_dir() {
                return Err(outside(spelled));
            }
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".local-executor-")
            .suffix(".tmp")
            .tempfile_in(&parent)
            .map_err(|e| bad(format!("{spelled}: cannot create a temp file: {e}")))?;
        if let Some(real) = fd_path(tmp.as_file())
            && !self.inside(&real)
        {
            return Err(outside(spelled));
        }
        tmp.write_all(content.as_bytes())
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| bad(format!("{spelled}: cannot write: {e}")))?;
        let persisted = if overwrite {
            tmp.persist(&target).map(|_| ())
        } else {
            tmp.persist_noclobber(&target).map(|_| ())
        };
        persisted.map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => bad(format!(
                "{spelled} exists; pass overwrite: true to replace it"
            )),
            _ => bad(format!("{spelled}: cannot write: {}", e.error)),
        })?;
        // Make the rename itself durable; a failure here leaves a complete file, so it is no error.
        if let Ok(d) = File::open(&parent) {
            let _ = d.sync_all();
        }
        Ok(Receipt::new(
            target
                .strip_prefix(&self.root)
                .unwrap_or(&target)
                .display()
                .to_string(),
            content,
        ))
    }
}

fn outside(spelled: &str) -> Failure {
    bad(format!(
        "{spelled}: refused, it resolves outside the workspace"
    ))
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

/// What the planner gets instead of the artifact when it was written to disk.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub path: String,
    pub lines: usize,
    pub bytes: u64,
    pub sha256: String,
    pub head: Vec<String>,
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
                .map(|l| crate::failure::one_line(l, RECEIPT_LINE_CHARS))
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

    #[test]
    fn writes_atomically_and_refuses_to_clobber() {
        let (dir, w) = ws();
        let r = w.write("new/dir/out.py", "a = 1\nb = 2\n", false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new/dir/out.py")).unwrap(),
            "a = 1\nb = 2\n"
        );
        assert_eq!(r.lines, 2);
        assert_eq!(r.bytes, 12);
        assert_eq!(r.sha256.len(), 12);
        let e = w.write("new/dir/out.py", "c = 3\n", false).unwrap_err();
        assert!(e.detail.contains("overwrite"), "{}", e.detail);
        w.write("new/dir/out.py", "c = 3\n", true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new/dir/out.py")).unwrap(),
            "c = 3\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("new/dir"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file is left behind");
    }

    #[test]
    fn refuses_to_write_through_links_or_outside() {
        let (dir, w) = ws();
        let outside_dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside_dir.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink(outside_dir.path().join("f"), dir.path().join("f")).unwrap();
        for p in ["out/x.py", "f", "../x.py", "/tmp/x.py", "."] {
            assert!(w.write(p, "x\n", true).is_err(), "{p} was written");
        }
        assert_eq!(std::fs::read_dir(outside_dir.path()).unwrap().count(), 0);
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
