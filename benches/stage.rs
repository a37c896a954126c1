//! The cost of staging a candidate where it will live (issue 18): a shadow of a 2,000-file git
//! repository (100 folders, sources of 1 to 4 KB, a linked `node_modules`) built in a temporary
//! folder with the candidate at its path, as every check command of a delegation with a path
//! gets, once of hard links (in the box) and once of copies (without it). Printed: what a check
//! waits for (listing the files by `git ls-files`, building the shadow), the first run (cold) and
//! the median of the rest (warm); removing the shadow, which happens after the call's answer; and
//! the walk used outside git. Printed, never asserted.
//!
//! Run: `cargo bench --bench stage` (or `cargo test --bench stage` for an unoptimised build).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use local_executor_mcp::check::stage;

const FILES: usize = 2000;
const FOLDERS: usize = 100;
const RUNS: usize = 21;

fn project(root: &Path) {
    for i in 0..FILES {
        let dir = root.join(format!("src/mod{:03}", i % FOLDERS));
        std::fs::create_dir_all(&dir).unwrap();
        let body = format!("export const value{i} = {i};\n").repeat(30 + (i % 4) * 30);
        std::fs::write(dir.join(format!("file{i}.ts")), body).unwrap();
    }
    std::fs::write(root.join("tsconfig.json"), "{\"compilerOptions\": {}}\n").unwrap();
    std::fs::write(root.join(".gitignore"), "node_modules/\n").unwrap();
    std::fs::create_dir_all(root.join("node_modules/lib")).unwrap();
    std::fs::write(
        root.join("node_modules/lib/index.js"),
        "module.exports = 1;\n",
    )
    .unwrap();
}

fn git(root: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn main() {
    let ws = tempfile::tempdir().unwrap();
    project(ws.path());
    let in_git = git(ws.path(), &["init", "-q"])
        && git(ws.path(), &["add", "-A"])
        && git(
            ws.path(),
            &[
                "-c",
                "user.name=b",
                "-c",
                "user.email=b@b",
                "commit",
                "-qm",
                "x",
            ],
        );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let candidate = "export const candidate = 1;\n".repeat(40);
    let rel = PathBuf::from("src/mod007/new.ts");
    for how in [stage::Files::Linked, stage::Files::Copied] {
        run(ws.path(), &rel, &candidate, how, in_git);
    }
    if in_git {
        // The walk used outside git, on the same tree with `.git` moved aside.
        let aside = tempfile::tempdir().unwrap();
        std::fs::rename(ws.path().join(".git"), aside.path().join("git")).unwrap();
        let walks: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(stage::list(ws.path()).unwrap());
                t.elapsed()
            })
            .collect();
        println!(
            "listing the same tree by a walk (no git): {:.1} ms (median of {RUNS})",
            ms(median(walks))
        );
    }
}

fn run(ws: &Path, rel: &Path, candidate: &str, how: stage::Files, in_git: bool) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut listing, mut building, mut removing) = (Vec::new(), Vec::new(), Vec::new());
    let mut staged_files = 0;
    for _ in 0..RUNS {
        let tmp = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let files = stage::list(ws).unwrap();
        listing.push(t.elapsed());
        let t = Instant::now();
        let staged = stage::stage(
            ws,
            &files,
            &tmp.path().join("project"),
            rel,
            candidate.as_bytes(),
            how,
        )
        .unwrap();
        building.push(t.elapsed());
        staged_files = staged.files;
        let t = Instant::now();
        drop(tmp);
        removing.push(t.elapsed());
    }
    // What a check waits for: the list and the shadow. Removal happens after the call's answer.
    let path: Vec<Duration> = (0..RUNS).map(|i| listing[i] + building[i]).collect();
    println!(
        "staging ({how:?}), {FILES}-file {}: {staged_files} entries; on the call's path cold {:.1} ms, warm {:.1} ms (list {:.1} + build {:.1}); removal after the answer {:.1} ms (median of {})",
        if in_git {
            "git repository"
        } else {
            "folder (no git here)"
        },
        ms(path[0]),
        ms(median(path[1..].to_vec())),
        ms(median(listing[1..].to_vec())),
        ms(median(building[1..].to_vec())),
        ms(median(removing[1..].to_vec())),
        RUNS - 1
    );
}
