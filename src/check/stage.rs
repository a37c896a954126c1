//! The candidate staged where it will live, without touching the user's tree: a shadow of the
//! project in the check's own temporary folder, the candidate written at its path in the shadow,
//! and the check run from the shadow's root. The shadow holds the project's files (`git ls-files`
//! in a git work tree: tracked and untracked-but-not-ignored files; elsewhere a bounded walk),
//! each a hard link to the user's file where the check's box keeps the shadow read-only
//! ([`Files::Linked`]), else a copy (`copy_file_range`, which clones the file where the file
//! system can; a file over [`LINKED_FILE_BYTES`] is a symbolic link instead). A submodule and the
//! dependency folders a checker resolves through (`node_modules`, `.venv`, …) are symbolic links to the real ones,
//! which the box lets a check read but never write. Every check gets a shadow of its own, so
//! concurrent delegations never see each other's candidates, and the shadow goes with the
//! temporary folder when the check ends, however it ends.
//!
//! Why a shadow and not the candidate in place with a restore: the user's tree then never holds a
//! candidate, even for the length of a check, concurrent checks need no lock, and a server killed
//! mid-check leaves nothing to recover there. Why links in the box: no data is copied (a 2,000-file
//! project stages in well under the 300 ms a check may spend on it, where copies can take seconds
//! on a busy disk), and the box refuses a write through them as it refuses any write to the
//! workspace.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// Most files a shadow holds; a larger project is checked on a detached copy as before.
pub const MAX_FILES: usize = 50_000;
/// A file larger than this (an asset, a data set) that cannot be hard-linked is linked by a
/// symbolic link rather than copied.
pub const LINKED_FILE_BYTES: u64 = 1024 * 1024;
/// Folders of installed dependencies, linked whole where they are not part of the file list.
const DEPENDENCY_DIRS: &[&str] = &[
    "node_modules",
    ".venv",
    "venv",
    "__pypackages__",
    ".yarn",
    "bower_components",
];
/// Folders a walk (outside git) never enters: version control and build output.
const SKIPPED_DIRS: &[&str] = &[".git", ".hg", ".svn", ".jj", "target", "dist", "build"];

/// How the project's files enter the shadow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Copied (cloned where the file system can): the check may write the shadow.
    Copied,
    /// Hard-linked to the user's files, copied where a link cannot be made (another file
    /// system, a file the user may not link): only for a shadow the check's box keeps it from
    /// writing, since a write through a link would reach the user's file.
    Linked,
}

/// A project staged with one candidate at its path.
#[derive(Debug)]
pub struct Staged {
    /// The shadow's root: the check's working directory.
    pub root: PathBuf,
    /// The candidate's full path in the shadow.
    pub file: PathBuf,
    /// How many files were copied and linked.
    pub files: usize,
}

/// The project's files under `workspace`, relative to it: `git ls-files` when it is in a git
/// work tree, else a walk that skips hidden version-control folders, build output and dependency
/// folders. More than [`MAX_FILES`] is an error.
pub fn list(workspace: &Path) -> io::Result<Vec<PathBuf>> {
    match git_files(workspace) {
        Some(files) => {
            if files.len() > MAX_FILES {
                return Err(too_many());
            }
            Ok(files)
        }
        None => walk(workspace),
    }
}

fn too_many() -> io::Error {
    io::Error::other(format!(
        "the project has more than {MAX_FILES} files to stage"
    ))
}

/// The tracked and untracked-but-not-ignored files, or `None` outside a git work tree or
/// without git. The repository's fsmonitor hook is turned off: listing files runs nothing.
fn git_files(workspace: &Path) -> Option<Vec<PathBuf>> {
    let out = Command::new("git")
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.untrackedCache=false",
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(workspace)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut seen = HashSet::new();
    let files = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let p = path_of(p)?;
            // A file in the index twice (a merge conflict's stages) is listed once.
            seen.insert(p.clone()).then_some(p)
        })
        .filter(|p| is_plain_relative(p))
        .collect();
    Some(files)
}

#[cfg(unix)]
fn path_of(bytes: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

#[cfg(not(unix))]
fn path_of(bytes: &[u8]) -> Option<PathBuf> {
    std::str::from_utf8(bytes).ok().map(PathBuf::from)
}

/// Only names below the root: no `..`, no root, no prefix.
fn is_plain_relative(p: &Path) -> bool {
    p.components().all(|c| matches!(c, Component::Normal(_)))
}

fn walk(workspace: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        for entry in std::fs::read_dir(workspace.join(&rel))? {
            let entry = entry?;
            let name = entry.file_name();
            let kind = entry.file_type()?;
            let path = rel.join(&name);
            if kind.is_dir() {
                let skip = name
                    .to_str()
                    .is_some_and(|n| SKIPPED_DIRS.contains(&n) || DEPENDENCY_DIRS.contains(&n));
                if !skip {
                    dirs.push(path);
                }
            } else {
                files.push(path);
                if files.len() > MAX_FILES {
                    return Err(too_many());
                }
            }
        }
    }
    Ok(files)
}

/// Builds the shadow of `workspace` under `shadow` (which must not exist yet) from `files`, and
/// writes `candidate` at `rel` in it, with the original's permission bits when there is one.
/// Nothing is written outside `shadow`: a candidate whose path goes through a linked folder is
/// refused.
pub fn stage(
    workspace: &Path,
    files: &[PathBuf],
    shadow: &Path,
    rel: &Path,
    candidate: &[u8],
    how: Files,
) -> io::Result<Staged> {
    if !is_plain_relative(rel) || rel.as_os_str().is_empty() {
        return Err(io::Error::other(format!(
            "{} is not a path inside the project",
            rel.display()
        )));
    }
    std::fs::create_dir(shadow)?;
    let mut made: HashSet<PathBuf> = HashSet::new();
    made.insert(PathBuf::new());
    let mut listed_dirs: HashSet<PathBuf> = HashSet::new();
    listed_dirs.insert(PathBuf::new());
    for f in files {
        let mut dir = f.parent();
        while let Some(d) = dir {
            if !listed_dirs.insert(d.to_path_buf()) {
                break;
            }
            dir = d.parent();
        }
    }
    let mut count = 0;
    let mut link = how == Files::Linked;
    for f in files {
        let src = workspace.join(f);
        let Ok(meta) = std::fs::symlink_metadata(&src) else {
            // Listed but gone (deleted, not yet staged in git): not part of the project now.
            continue;
        };
        if let Some(parent) = f.parent() {
            make_dirs(shadow, parent, &mut made)?;
        }
        let dst = shadow.join(f);
        if meta.file_type().is_symlink() {
            symlink(&std::fs::read_link(&src)?, &dst)?;
        } else if meta.is_dir() {
            // A submodule.
            symlink(&src, &dst)?;
        } else if link && hard_link(&src, &dst, &mut link) {
            // Linked: no data copied, and the box keeps the check from writing it.
        } else if meta.len() > LINKED_FILE_BYTES {
            // Too big to copy for every check.
            symlink(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
        count += 1;
    }
    // Dependency folders beside any folder of the project, unless the list holds their files.
    for dir in &listed_dirs {
        for name in DEPENDENCY_DIRS {
            let rel_dep = dir.join(name);
            if listed_dirs.contains(&rel_dep) {
                continue;
            }
            let real = workspace.join(&rel_dep);
            if std::fs::symlink_metadata(&real).is_ok_and(|m| m.is_dir()) {
                make_dirs(shadow, dir, &mut made)?;
                symlink(&real, &shadow.join(&rel_dep))?;
                count += 1;
            }
        }
    }
    let file = place(shadow, workspace, rel, candidate, &mut made)?;
    Ok(Staged {
        root: shadow.to_path_buf(),
        file,
        files: count,
    })
}

/// Writes the candidate at `rel` in the shadow, replacing the copy of the original (keeping its
/// permission bits) and refusing a path through any link, which would lead out of the shadow.
fn place(
    shadow: &Path,
    workspace: &Path,
    rel: &Path,
    candidate: &[u8],
    made: &mut HashSet<PathBuf>,
) -> io::Result<PathBuf> {
    let mut at = shadow.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            at.push(c);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(io::Error::other(format!(
                        "{} goes through a link or a file",
                        rel.display()
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        make_dirs(shadow, parent, made)?;
    }
    let file = shadow.join(rel);
    match std::fs::symlink_metadata(&file) {
        Ok(m) if m.is_dir() => {
            return Err(io::Error::other(format!("{} is a folder", rel.display())));
        }
        Ok(_) => std::fs::remove_file(&file)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::write(&file, candidate)?;
    if let Ok(m) = std::fs::metadata(workspace.join(rel))
        && m.is_file()
    {
        std::fs::set_permissions(&file, m.permissions())?;
    }
    Ok(file)
}

/// Links `dst` to `src`; false when it cannot, and `link` turned off when no link can be made at
/// all (the temporary folder is on another file system), so the rest are copied without trying.
fn hard_link(src: &Path, dst: &Path, link: &mut bool) -> bool {
    match std::fs::hard_link(src, dst) {
        Ok(()) => true,
        Err(e) => {
            if e.kind() == io::ErrorKind::CrossesDevices {
                *link = false;
            }
            false
        }
    }
}

fn make_dirs(shadow: &Path, rel: &Path, made: &mut HashSet<PathBuf>) -> io::Result<()> {
    if made.contains(rel) {
        return Ok(());
    }
    std::fs::create_dir_all(shadow.join(rel))?;
    let mut dir = Some(rel);
    while let Some(d) = dir {
        if !made.insert(d.to_path_buf()) {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    // Symlinks may need a privilege on Windows: a file is copied instead; a folder that cannot
    // be linked fails the staging, and the check runs on a detached copy.
    if target.is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::fs::copy(target, link).map(|_| ())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (p, text) in files {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    #[test]
    fn a_walk_lists_the_project_and_skips_dependencies_and_build_output() {
        let ws = tempfile::tempdir().unwrap();
        tree(
            ws.path(),
            &[
                ("a.py", ""),
                ("pkg/b.py", ""),
                ("node_modules/x/index.js", ""),
                ("target/debug/x", ""),
                (".git/HEAD", ""),
            ],
        );
        let mut files = walk(ws.path()).unwrap();
        files.sort();
        assert_eq!(files, [PathBuf::from("a.py"), PathBuf::from("pkg/b.py")]);
    }

    #[test]
    fn the_candidate_lands_in_the_shadow_with_the_originals_mode_and_links_stay_read_only() {
        let ws = tempfile::tempdir().unwrap();
        tree(
            ws.path(),
            &[
                ("tsconfig.json", "{}"),
                ("src/app.ts", "old"),
                ("src/types.ts", "export type T = 1;"),
                ("node_modules/lib/index.js", "lib"),
            ],
        );
        std::fs::set_permissions(
            ws.path().join("src/app.ts"),
            std::fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        let files = walk(ws.path()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let shadow = tmp.path().join("project");
        let staged = stage(
            ws.path(),
            &files,
            &shadow,
            Path::new("src/app.ts"),
            b"new",
            Files::Copied,
        )
        .unwrap();
        assert_eq!(std::fs::read(&staged.file).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&staged.file)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o751
        );
        assert_eq!(std::fs::read(ws.path().join("src/app.ts")).unwrap(), b"old");
        assert_eq!(
            std::fs::read(shadow.join("src/types.ts")).unwrap(),
            b"export type T = 1;"
        );
        assert!(
            std::fs::symlink_metadata(shadow.join("node_modules"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A candidate through the linked folder would be written into the real one: refused.
        let again = tmp.path().join("again");
        let e = stage(
            ws.path(),
            &files,
            &again,
            Path::new("node_modules/lib/index.js"),
            b"pwned",
            Files::Linked,
        )
        .unwrap_err();
        assert!(e.to_string().contains("through a link"), "{e}");
        assert_eq!(
            std::fs::read(ws.path().join("node_modules/lib/index.js")).unwrap(),
            b"lib"
        );
        for bad in ["../x.py", "/etc/x.py", ""] {
            assert!(
                stage(
                    ws.path(),
                    &files,
                    &tmp.path().join("b"),
                    Path::new(bad),
                    b"",
                    Files::Copied,
                )
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn git_lists_tracked_and_untracked_files_but_not_ignored_ones() {
        let ws = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(ws.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !git(&["init", "-q"]) {
            eprintln!("no git here");
            return;
        }
        tree(
            ws.path(),
            &[
                (".gitignore", "ignored/\n"),
                ("tracked.py", ""),
                ("new.py", ""),
                ("ignored/x.py", ""),
            ],
        );
        assert!(git(&["add", ".gitignore", "tracked.py"]));
        let mut files = list(ws.path()).unwrap();
        files.sort();
        assert_eq!(
            files,
            [
                PathBuf::from(".gitignore"),
                PathBuf::from("new.py"),
                PathBuf::from("tracked.py")
            ]
        );
    }
}
