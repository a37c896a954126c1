//! Several files in one call (`delegate_files`): each file is its own delegation, written to the
//! workspace when it passed its checks, and all of them run side by side. The planner reads one
//! receipt per file written and one DELEGATION_FAILED line per file that failed, so it does just
//! those itself; the usage log gets one line for the call, summing its files.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::{CallCtx, Delivered, Engine, Job, ProgressTx, Shape, prompt};
use crate::check::{self, Language};
use crate::edit;
use crate::failure::{Failure, Reason};
use crate::request::{CodeRequest, FileTask, FilesRequest};
use crate::usage::UsageRecord;
use crate::workspace::{EditSource, Workspace};

/// Most files in one call: a scaffold, not a repository.
pub(crate) const MAX_FILES: usize = 16;

/// What a `delegate_files` call answers.
pub(crate) struct FilesOutcome {
    pub text: String,
    pub failed: usize,
}

impl Engine {
    pub(crate) async fn delegate_files(
        &self,
        req: &FilesRequest,
        progress: Option<&ProgressTx>,
        ct: &CancellationToken,
        record: &mut UsageRecord,
    ) -> Result<FilesOutcome, Failure> {
        let started = tokio::time::Instant::now();
        record.tier = Some(req.tier.as_str().to_string());
        record.files = Some(u32::try_from(req.files.len()).unwrap_or(u32::MAX));
        let result = self.files_inner(req, progress, ct, record).await;
        record.latency_ms = super::millis(started.elapsed());
        match &result {
            Ok(o) => {
                record.files_failed = Some(u32::try_from(o.failed).unwrap_or(u32::MAX));
                record.ok = o.failed == 0;
            }
            Err(f) => {
                record.files_failed = record.files;
                record.ok = false;
                record.reason = Some(f.reason);
            }
        }
        result
    }

    async fn files_inner(
        &self,
        req: &FilesRequest,
        progress: Option<&ProgressTx>,
        ct: &CancellationToken,
        record: &mut UsageRecord,
    ) -> Result<FilesOutcome, Failure> {
        let ws = self.admit(req)?;
        // Read once for every file of the call; a refused context file refuses the call.
        let shared = if req.context_files.is_empty() {
            String::new()
        } else {
            let (text, bytes) = ws.read_context(&req.context_files)?;
            record.context_bytes = bytes;
            text
        };
        let results = self.run_files(req, &ws, &shared, progress, ct).await;
        Ok(outcome(req, results, record))
    }

    /// The workspace, when the batch may run at all: writing is on, it has between one and
    /// [`MAX_FILES`] files, and no file is named twice. Refused before any generation.
    fn admit(&self, req: &FilesRequest) -> Result<Workspace, Failure> {
        if !self.cfg.allow_write {
            return Err(Failure::new(
                Reason::BadRequest,
                "writing files is off; start the server with LOCAL_EXECUTOR_ALLOW_WRITE=1 to turn it on",
            ));
        }
        if req.files.is_empty() {
            return Err(Failure::new(Reason::BadRequest, "`files` is empty"));
        }
        if req.files.len() > MAX_FILES {
            return Err(Failure::new(
                Reason::BadRequest,
                format!(
                    "{} files in one call; at most {MAX_FILES}: split the call",
                    req.files.len()
                ),
            ));
        }
        let ws = self.workspace()?;
        let mut seen = HashMap::new();
        for f in &req.files {
            // A path that leaves the workspace has no identity; its own check refuses it.
            let Ok(key) = ws.identity(&f.path) else {
                continue;
            };
            if let Some(first) = seen.insert(key, f.path.trim()) {
                return Err(Failure::new(
                    Reason::BadRequest,
                    format!(
                        "{first} and {} name one file twice; one entry per file",
                        f.path.trim()
                    ),
                ));
            }
        }
        Ok(ws)
    }

    /// Each file as its own delegation, side by side on this task, in the request's order: a new
    /// file is written from its task, an existing one edited.
    async fn run_files(
        &self,
        req: &FilesRequest,
        ws: &Workspace,
        shared: &str,
        progress: Option<&ProgressTx>,
        ct: &CancellationToken,
    ) -> Vec<(Result<Delivered, Failure>, UsageRecord)> {
        let started = tokio::time::Instant::now();
        let jobs = req.files.iter().map(|f| {
            // An existing file is edited; with `overwrite` it is rewritten whole, but from the
            // file as it is, never from the task alone.
            let source = ws
                .check_write_path(&f.path)
                .ok()
                .filter(|rel| ws.root().join(rel).is_file())
                .map(|_| ws.read_for_edit(&f.path));
            let one = CodeRequest {
                task: f.task.clone(),
                context: req.context.clone(),
                context_files: req.context_files.clone(),
                language: f.language.clone(),
                tier: req.tier,
                output_path: Some(f.path.clone()),
                overwrite: req.overwrite,
                max_tokens: None,
            };
            async move {
                let mut rec = UsageRecord::default();
                let mut cx = CallCtx {
                    progress,
                    ct,
                    record: &mut rec,
                    started,
                };
                let result = match source {
                    None => self.run(&one, Some(shared), &mut cx).await,
                    Some(Err(f)) => Err(f),
                    Some(Ok(src)) => self.edit(f, req, src, shared, &mut cx).await,
                };
                (result, rec)
            }
        });
        // Each waits on its own stream, and the limiter orders them.
        futures::future::join_all(jobs).await
    }
}

/// The call's answer from each file's result: receipts and DELEGATION_FAILED lines in the
/// request's order, then what the planner must do itself; each file's record is added to the
/// call's.
fn outcome(
    req: &FilesRequest,
    results: Vec<(Result<Delivered, Failure>, UsageRecord)>,
    record: &mut UsageRecord,
) -> FilesOutcome {
    let mut text = String::new();
    let mut failed = 0;
    for (f, (result, rec)) in req.files.iter().zip(results) {
        merge(record, &rec);
        match result {
            Ok(d) => {
                text.push_str(&d.artifact);
                text.push_str(&d.footer);
                text.push('\n');
            }
            Err(fail) => {
                failed += 1;
                record.reason.get_or_insert(fail.reason);
                text.push_str(&format!(
                    "DELEGATION_FAILED ({}): {}: {}\n",
                    fail.reason,
                    f.path.trim(),
                    fail.detail
                ));
            }
        }
    }
    if failed == req.files.len() {
        text.push_str("Do this task yourself.");
    } else if failed > 0 {
        text.push_str(&format!(
            "{failed} of {} files failed: write those yourself.",
            req.files.len()
        ));
    }
    FilesOutcome { text, failed }
}

/// Adds one file's record to the call's.
fn merge(call: &mut UsageRecord, file: &UsageRecord) {
    call.model = call.model.take().or_else(|| file.model.clone());
    // The first file written names the call's output, as a single-file call's would.
    call.output_path = call.output_path.take().or_else(|| file.output_path.clone());
    call.language = call.language.take().or_else(|| file.language.clone());
    call.prompt_tokens += file.prompt_tokens;
    call.completion_tokens += file.completion_tokens;
    call.usage_estimated |= file.usage_estimated;
    call.first_token_ms = match (call.first_token_ms, file.first_token_ms) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    call.output_chars += file.output_chars;
    call.disk_chars += file.disk_chars;
    call.bytes_written = match (call.bytes_written, file.bytes_written) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    call.attempts += file.attempts;
    call.repairs += file.repairs;
    call.continued += file.continued;
    call.context_reduced += file.context_reduced;
    call.context_window = call.context_window.or(file.context_window);
    call.checks.extend(file.checks.iter().cloned());
    call.checked = if call.output_chars == file.output_chars {
        file.checked
    } else {
        call.checked && file.checked
    };
    if call.escalated_from.is_none() {
        call.escalated_from = file.escalated_from.clone();
    }
    if call.finish_reason.is_none() {
        call.finish_reason = file.finish_reason.clone();
    }
}

impl Engine {
    /// Edits one existing file as its task says: the model answers in the format
    /// [`edit::mode_for`] routes it to (the whole new file, SEARCH/REPLACE blocks, or the changed
    /// definitions; `overwrite` always whole), which is applied exactly; the
    /// result is checked and written only if the file did not change on disk meanwhile. The
    /// receipt is a diff, and the usage record counts the added lines as landed on disk.
    pub(super) async fn edit(
        &self,
        f: &FileTask,
        req: &FilesRequest,
        src: EditSource,
        files: &str,
        cx: &mut CallCtx<'_>,
    ) -> Result<Delivered, Failure> {
        if f.task.trim().is_empty() {
            return Err(Failure::new(Reason::BadRequest, "`task` is empty"));
        }
        let ws = self.workspace()?;
        let language = check::resolve(
            f.language.as_deref().filter(|l| !l.trim().is_empty()),
            Some(&src.path),
        );
        cx.record.language = language.as_ref().map(|l| l.name().to_string());
        let lang = match &language {
            Some(Language::Known(l)) => Some(*l),
            _ => None,
        };
        let (mode, narrowed) = if req.overwrite {
            let chars = src.content.chars().count();
            if chars > edit::WHOLE_REWRITE_MAX_CHARS {
                return Err(Failure::new(
                    Reason::BadRequest,
                    format!(
                        "{} has {chars} characters, over the {} a model rewrites whole; leave overwrite off to edit it",
                        src.path,
                        edit::WHOLE_REWRITE_MAX_CHARS
                    ),
                ));
            }
            (edit::Mode::WholeFile, false)
        } else {
            // A whole-file answer too big for the model's window is asked as blocks.
            self.edit_mode(req.tier, &src.content, (lang, &f.task), cx.ct)
                .await?
        };
        let section = edit::file_section(&src.path, &src.content);
        // A symbol edit shows the definitions the task names, else the whole file.
        let shown = match (mode, lang) {
            (edit::Mode::Symbols, Some(l)) => crate::symbols::excerpt(&src.content, l, &f.task),
            _ => None,
        };
        let (code, names) = match &shown {
            Some((text, names)) => (
                edit::file_section(
                    &format!(
                        "{} (only the definitions the task names; the rest of the file stays as it is)",
                        src.path
                    ),
                    text,
                ),
                names.clone(),
            ),
            None => (format!("The file to change:\n{section}"), Vec::new()),
        };
        let build = |files: &str| {
            let spec = prompt::Spec {
                task: &f.task,
                context: req.context.as_deref().filter(|c| !c.trim().is_empty()),
                language: language.as_ref().map(Language::name),
                files,
            };
            if mode == edit::Mode::Symbols {
                return prompt::symbol_messages(
                    &spec,
                    &edit::instructions(mode, lang),
                    &code,
                    &names,
                );
            }
            prompt::edit_messages(&spec, &edit::instructions(mode, lang), &section)
        };
        let answer = crate::context::edit_answer_room(&src.content, mode);
        let shape = match mode {
            edit::Mode::WholeFile => Shape::WholeEdit {
                original: &src.content,
                task: &f.task,
            },
            edit::Mode::Blocks => Shape::Blocks {
                original: &src.content,
                path: &src.path,
            },
            edit::Mode::Symbols => Shape::Symbols {
                original: &src.content,
                // Symbols are asked only of a language that has them.
                lang: lang.unwrap_or(check::Lang::Python),
            },
        };
        let one = CodeRequest {
            task: f.task.clone(),
            tier: req.tier,
            ..CodeRequest::default()
        };
        let job = Job {
            req: &one,
            shape,
            language: language.as_ref(),
            cap: super::MAX_WRITTEN_CHARS,
            path: Some(std::path::Path::new(&src.path)),
        };
        let checked = self
            .produce_fitting(job, files, Some(answer), build, cx)
            .await?;
        let record = &mut *cx.record;
        let new = checked.artifact;
        ws.write_if_unchanged(&src, &new)?;
        let diff = edit::diff(&src.content, &new, self.cfg.max_diff_lines);
        record.output_path = Some(src.path.clone());
        record.bytes_written = Some(new.len() as u64);
        record.output_chars = new.chars().count() as u64;
        record.disk_chars = diff.added_chars as u64;
        let mut receipt = edit::receipt(&src.path, &diff);
        if narrowed {
            receipt = format!("{receipt}\n{}", crate::context::BLOCKS_FOR_WINDOW);
        }
        let footer = super::footer(checked.escalated_from, req.tier, record);
        Ok(Delivered {
            artifact: receipt,
            footer,
        })
    }
}
