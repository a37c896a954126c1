//! What a check command runs inside: a box and a clean environment. The box (Landlock on Linux
//! 6.2 and later) lets the check read everything but write only its own temporary folder (and
//! `/dev/null`), and from Linux 6.7 neither connect to nor listen on a TCP port; from 6.12 it
//! cannot signal processes outside it. It is applied to the child alone, between fork and exec,
//! so the server keeps its rights. Where the kernel has no Landlock, or on macOS and Windows, the
//! check runs unboxed with the user's rights, and [`describe`] says so for `doctor`. The
//! environment is an allow-list: what toolchains need to find themselves, never the backend's
//! key or credentialed URL.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// Variables passed through to a check, when the server has them. Everything else (the
/// backend's `LOCAL_LLM_*` settings, tokens, `PYTHONPATH` that could name the workspace) stays
/// out.
const PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    // Toolchains that find themselves through these.
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "GOROOT",
    "GOPATH",
    "JAVA_HOME",
    "DOTNET_ROOT",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "NODE_PATH",
    // Windows: programs fail in odd ways without these.
    "SystemRoot",
    "SystemDrive",
    "windir",
    "ComSpec",
    "PATHEXT",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "ProgramData",
    "ProgramFiles",
    "ProgramFiles(x86)",
    "NUMBER_OF_PROCESSORS",
    "PROCESSOR_ARCHITECTURE",
];

/// Set for every check: Python does not put the working directory (the workspace) first on
/// `sys.path`, so `python3 -m py_compile` cannot import a `py_compile.py` a delegation wrote
/// (Python 3.11 and later), and writes no bytecode beside the files it reads.
const FIXED: &[(&str, &str)] = &[("PYTHONSAFEPATH", "1"), ("PYTHONDONTWRITEBYTECODE", "1")];

/// The environment of a check whose temporary folder is `tmp`: the allowed variables of
/// `inherited` (except any that holds one of `secrets`), the fixed ones, and the temporary and
/// cache folders pointed into `tmp`, where the box lets the check write.
pub(crate) fn environment(
    inherited: impl Iterator<Item = (OsString, OsString)>,
    secrets: &[String],
    tmp: &Path,
) -> Vec<(OsString, OsString)> {
    let holds_secret = |v: &OsStr| {
        let v = v.to_string_lossy();
        secrets
            .iter()
            .any(|s| !s.is_empty() && v.contains(s.as_str()))
    };
    let mut env: Vec<(OsString, OsString)> = inherited
        .filter(|(k, v)| passed(k) && !holds_secret(v))
        .collect();
    for (k, v) in FIXED {
        env.push((k.into(), v.into()));
    }
    for k in ["TMPDIR", "TMP", "TEMP"] {
        env.push((k.into(), tmp.as_os_str().to_owned()));
    }
    let cache = tmp.join(".cache");
    // Checkers that keep a cache in the project or the home folder, which the box does not let
    // them write: pointed into the temporary folder, they run as usual instead of failing on it.
    for (k, sub) in CACHES {
        env.push((k.into(), cache.join(sub).into_os_string()));
    }
    env.push(("XDG_CACHE_HOME".into(), cache.into_os_string()));
    env
}

/// Cache locations of common checkers (ruff, mypy, npm for `npx`, cargo's build output), under
/// the check's cache.
const CACHES: &[(&str, &str)] = &[
    ("RUFF_CACHE_DIR", "ruff"),
    ("MYPY_CACHE_DIR", "mypy"),
    ("npm_config_cache", "npm"),
    ("CARGO_TARGET_DIR", "cargo-target"),
];

/// Whether a variable of the server's environment may reach a check (its value aside).
pub(crate) fn passed(key: &OsStr) -> bool {
    let Some(key) = key.to_str() else {
        return false;
    };
    // Windows names are case-insensitive (`Path`, `SYSTEMROOT`).
    let windows = cfg!(windows);
    PASSED.iter().any(|p| {
        if windows {
            p.eq_ignore_ascii_case(key)
        } else {
            *p == key
        }
    }) || key.starts_with("LC_")
}

pub(crate) use imp::{active, describe, enforced, prepare};

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{AsRawFd, OwnedFd, RawFd};
    use std::path::Path;
    use std::sync::OnceLock;

    use anyhow::Context;
    use landlock::{
        ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
        RulesetAttr, RulesetCreatedAttr, Scope,
    };

    /// The newest rights this crate knows; the kernel takes the part it supports.
    const RIGHTS: ABI = ABI::V10;
    /// `LANDLOCK_CREATE_RULESET_VERSION`: asks the kernel for its Landlock ABI.
    const CREATE_RULESET_VERSION: libc::c_uint = 1;
    /// Truncation is confined from ABI 3 (Linux 6.2); before it, a check could empty any file.
    const WRITES_BOXED_FROM: i64 = 3;
    const TCP_BOXED_FROM: i64 = 4;
    const SIGNALS_BOXED_FROM: i64 = 6;

    /// The running kernel's Landlock ABI, 0 without Landlock.
    fn abi() -> i64 {
        static ABI_VERSION: OnceLock<i64> = OnceLock::new();
        *ABI_VERSION.get_or_init(|| {
            // SAFETY: with a null attribute, size 0 and the VERSION flag the call reads no memory
            // and only returns a number.
            let v = unsafe {
                libc::syscall(
                    libc::SYS_landlock_create_ruleset,
                    std::ptr::null::<libc::c_void>(),
                    0usize,
                    CREATE_RULESET_VERSION,
                )
            };
            v.max(0)
        })
    }

    /// Whether checks run boxed here: nothing they run can write outside their temporary folder.
    pub(crate) fn enforced() -> bool {
        abi() >= WRITES_BOXED_FROM
    }

    /// Whether checks run in a box at all, if only a partial one (Landlock before ABI 3 cannot
    /// confine truncation).
    pub(crate) fn active() -> bool {
        abi() > 0
    }

    /// Whether the box holds on this machine, and one line on what it stops.
    pub(crate) fn describe() -> (bool, String) {
        let v = abi();
        if v < WRITES_BOXED_FROM {
            let why = if v == 0 {
                "this kernel has no Landlock (Linux 6.2 or later with Landlock enabled)".to_string()
            } else {
                format!(
                    "this kernel's Landlock (ABI {v}) boxes writes but not truncation, nor the network; Linux 6.2 confines both"
                )
            };
            return (
                false,
                format!(
                    "check commands run unboxed, with your rights: {why}; only configure checks you trust"
                ),
            );
        }
        let mut stops = vec!["write outside their temporary folder"];
        if v >= TCP_BOXED_FROM {
            stops.push("use TCP");
        }
        if v >= SIGNALS_BOXED_FROM {
            stops.push("signal other processes");
        }
        let mut text = format!(
            "check commands run in a Landlock box (ABI {v}): they read files but cannot {}",
            stops.join(", ")
        );
        if v < TCP_BOXED_FROM {
            text.push_str("; the network is open to them (Linux 6.7 closes it)");
        }
        (true, text)
    }

    /// The box for one check, built in the server and applied in the child.
    pub(crate) struct Prepared {
        ruleset: Option<OwnedFd>,
    }

    /// Builds the box for a check that may write only under `writable`. Without Landlock it is
    /// an empty box, as [`describe`] reports; where Landlock exists (even an early one, which
    /// boxes part of it) a failure to build it fails the check rather than running it unboxed.
    pub(crate) fn prepare(writable: &Path) -> anyhow::Result<Prepared> {
        if !active() {
            return Ok(Prepared { ruleset: None });
        }
        let file_rights = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate;
        let created = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(RIGHTS))?
            .handle_access(AccessNet::from_all(RIGHTS))?
            .scope(Scope::from_all(RIGHTS))?
            .create()?
            .add_rule(PathBeneath::new(
                PathFd::new("/")?,
                AccessFs::from_read(RIGHTS),
            ))?
            .add_rule(PathBeneath::new(
                PathFd::new(writable).with_context(|| format!("open {}", writable.display()))?,
                AccessFs::from_all(RIGHTS),
            ))?
            .add_rule(PathBeneath::new(
                PathFd::new("/dev/null")?,
                file_rights | AccessFs::IoctlDev,
            ))?;
        let ruleset: Option<OwnedFd> = created.into();
        anyhow::ensure!(ruleset.is_some(), "the kernel refused the Landlock ruleset");
        Ok(Prepared { ruleset })
    }

    impl Prepared {
        /// Restricts the child `cmd` will start; the server itself stays free.
        pub(crate) fn apply(&self, cmd: &mut tokio::process::Command) {
            let Some(fd) = self.ruleset.as_ref().map(AsRawFd::as_raw_fd) else {
                return;
            };
            // SAFETY: the closure runs in the child between fork and exec, where only
            // async-signal-safe calls are allowed: it makes two system calls, allocates nothing
            // and takes no lock. `fd` stays open in the server until the spawn returns (self
            // outlives it), and the child's copy is closed by exec (a Landlock ruleset fd is
            // always close-on-exec).
            unsafe {
                cmd.pre_exec(move || restrict(fd));
            }
        }
    }

    fn restrict(fd: RawFd) -> std::io::Result<()> {
        // SAFETY: plain system calls on integers; Landlock requires no_new_privs for an
        // unprivileged process, and it also stops a set-uid program from leaving the box.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::path::Path;

    pub(crate) fn enforced() -> bool {
        false
    }

    pub(crate) fn active() -> bool {
        false
    }

    pub(crate) fn describe() -> (bool, String) {
        (
            false,
            "check commands run unboxed, with your rights: this platform has no Landlock (a box exists on Linux 6.2 and later); only configure checks you trust"
                .to_string(),
        )
    }

    pub(crate) struct Prepared;

    pub(crate) fn prepare(_writable: &Path) -> anyhow::Result<Prepared> {
        Ok(Prepared)
    }

    impl Prepared {
        pub(crate) fn apply(&self, _cmd: &mut tokio::process::Command) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_keeps_toolchains_and_drops_secrets() {
        let inherited = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("LC_ALL", "C.UTF-8"),
            ("CARGO_HOME", "/home/u/.cargo"),
            ("LOCAL_LLM_API_KEY", "sk-local-SECRET-123"),
            ("LOCAL_LLM_BASE_URL", "http://u:pw@box/v1"),
            ("OPENAI_API_KEY", "sk-other"),
            ("PYTHONPATH", "."),
            ("TERM", "xterm sk-local-SECRET-123"),
            ("TMPDIR", "/tmp"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = environment(
            inherited.into_iter(),
            &["sk-local-SECRET-123".into(), "pw".into()],
            Path::new("/t/check"),
        );
        let get = |k: &str| {
            env.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("PATH").as_deref(), Some("/usr/bin"));
        assert_eq!(get("LC_ALL").as_deref(), Some("C.UTF-8"));
        assert_eq!(get("CARGO_HOME").as_deref(), Some("/home/u/.cargo"));
        assert_eq!(get("TMPDIR").as_deref(), Some("/t/check"));
        assert_eq!(get("PYTHONSAFEPATH").as_deref(), Some("1"));
        assert_eq!(get("PYTHONDONTWRITEBYTECODE").as_deref(), Some("1"));
        assert_eq!(
            get("RUFF_CACHE_DIR").as_deref(),
            Some("/t/check/.cache/ruff")
        );
        for gone in [
            "LOCAL_LLM_API_KEY",
            "LOCAL_LLM_BASE_URL",
            "OPENAI_API_KEY",
            "PYTHONPATH",
            "TERM",
        ] {
            assert_eq!(get(gone), None, "{gone}");
        }
        assert_eq!(env.iter().filter(|(k, _)| k == "TMPDIR").count(), 1);
    }

    #[test]
    fn the_description_matches_the_enforcement() {
        let (boxed, text) = describe();
        assert_eq!(boxed, enforced());
        assert!(text.starts_with("check commands run"), "{text}");
    }
}
