//! `delegate_files` through the real binary: new files and edits of existing ones, several side
//! by side, each checked before it is written; what the tools list says with writing on and off.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Gate, Harness, Mock, Reply, Step, is_error, text_of};
use rmcp::model::ServerResult;
use serde_json::{Value, json};

const WRITE: (&str, &str) = ("LOCAL_EXECUTOR_ALLOW_WRITE", "1");
const MODEL: (&str, &str) = ("LOCAL_LLM_MODEL_QUALITY", "m");
/// Edits asked as SEARCH/REPLACE blocks whatever the routing rule says.
const BLOCKS: (&str, &str) = ("LOCAL_EXECUTOR_EDIT_FORMAT", "blocks");

async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 30 s"))
}

fn put(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A Python file long enough to be edited by blocks rather than rewritten whole.
fn long_module() -> String {
    let mut s = String::from("import os\n\n");
    for i in 0..70 {
        s.push_str(&format!("def f{i}(x):\n    return x + {i}\n\n"));
    }
    s
}

#[tokio::test]
async fn tools_carry_annotations_true_to_the_setting() {
    let mock = Mock::start(&[]).await;
    let h = Harness::start(&mock, &[]).await;
    let tools = h.client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, vec!["delegate_code", "list_local_models"]);
    for t in &tools {
        let a = t.annotations.as_ref().unwrap();
        assert_eq!(a.read_only_hint, Some(true), "{}", t.name);
        assert_eq!(a.destructive_hint, Some(false), "{}", t.name);
        assert!(a.title.is_some());
    }
    let schema = serde_json::to_string(&tools[0].input_schema).unwrap();
    assert!(
        !schema.contains("output_path") && !schema.contains("overwrite"),
        "{schema}"
    );
    assert!(
        common::tool_tokens(&tools) <= 300,
        "{} tokens",
        common::tool_tokens(&tools)
    );
    h.stop().await;

    let h = Harness::start(&mock, &[WRITE]).await;
    let tools = h.client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        vec!["delegate_code", "delegate_files", "list_local_models"]
    );
    let files = tools[1].annotations.as_ref().unwrap();
    assert_eq!(files.read_only_hint, Some(false));
    assert_eq!(files.destructive_hint, Some(true));
    assert_eq!(
        tools[0].annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );
    let schema = serde_json::to_string(&tools[1].input_schema).unwrap();
    assert!(
        !schema.contains("$ref") && !schema.contains("null"),
        "{schema}"
    );
    let tokens = common::tool_tokens(&tools);
    assert!(tokens <= 550, "{tokens} tokens with writing on");
    // The other design weighed: one tool with the file arguments folded in, which could then
    // not be read-only and so would lose parallel calls.
    let mut folded = tools[0].clone();
    let mut schema = (*folded.input_schema).clone();
    let files_schema = &tools[1].input_schema;
    for key in ["files", "overwrite"] {
        schema["properties"]
            .as_object_mut()
            .unwrap()
            .insert(key.into(), files_schema["properties"][key].clone());
    }
    schema.remove("required");
    folded.input_schema = std::sync::Arc::new(schema);
    folded.description = Some(
        format!(
            "{} {}",
            tools[0].description.as_deref().unwrap(),
            tools[1].description.as_deref().unwrap()
        )
        .into(),
    );
    let one_tool = common::tool_tokens(&[folded, tools[2].clone()]);
    eprintln!(
        "tools/list tokens (o200k): writing off {off}, writing on {tokens}; one folded tool {one_tool}",
        off = common::tool_tokens(&[tools[0].clone(), tools[2].clone()])
    );
    h.stop().await;
}

#[tokio::test]
async fn delegate_code_refuses_output_path_and_names_the_tool_that_writes() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[MODEL, WRITE]).await;
    let r = h
        .call("delegate_code", json!({"task": "x", "output_path": "a.py"}))
        .await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (bad_request): "),
        "{text}"
    );
    assert!(text.contains("delegate_files"), "{text}");
    assert!(mock.chats().is_empty());
    assert!(!h.workspace.path().join("a.py").exists());
    let lines = h.stop().await;
    assert_eq!(lines[0]["reason"], "bad_request");
}

#[tokio::test]
async fn an_edit_is_applied_with_a_diff_and_the_files_mode_kept() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[MODEL, WRITE, BLOCKS]).await;
    let root = h.workspace.path().to_path_buf();
    let original = long_module();
    put(&root, "pkg/mod.py", &original);
    std::fs::set_permissions(
        root.join("pkg/mod.py"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    mock.push(Reply::text(
        "<<<<<<< SEARCH\ndef f3(x):\n    return x + 3\n=======\ndef f3(x):\n    \"\"\"Add three.\"\"\"\n    return x + 3\n>>>>>>> REPLACE\n",
    ));
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "pkg/mod.py", "task": "give f3 a docstring"}]}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.starts_with("edited pkg/mod.py · +1 −0 lines\n@@ "),
        "{text}"
    );
    assert!(text.contains("+    \"\"\"Add three.\"\"\""), "{text}");
    assert!(text.contains("checked: python syntax"), "{text}");
    let now = std::fs::read_to_string(root.join("pkg/mod.py")).unwrap();
    assert_eq!(
        now,
        original.replace("def f3(x):\n", "def f3(x):\n    \"\"\"Add three.\"\"\"\n")
    );
    let mode = std::fs::metadata(root.join("pkg/mod.py"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    // The model saw the file and the block format.
    let body = &mock.chats()[0].body;
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("SEARCH")
    );
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("def f69(x):")
    );
    let lines = h.stop().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["tool"], "delegate_files");
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["output_path"], "pkg/mod.py");
    assert_eq!(lines[0]["disk_chars"], "    \"\"\"Add three.\"\"\"\n".len());
    assert_eq!(lines[0]["files"], 1);
    assert_eq!(lines[0]["files_failed"], 0);
}

#[tokio::test]
async fn a_search_text_that_matches_nowhere_is_sent_back_and_repaired() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[MODEL, WRITE, BLOCKS]).await;
    let root = h.workspace.path().to_path_buf();
    put(&root, "m.py", &long_module());
    mock.push(Reply::text(
        "<<<<<<< SEARCH\ndef f3(y):\n=======\ndef g3(y):\n>>>>>>> REPLACE\n",
    ));
    mock.push(Reply::text(
        "<<<<<<< SEARCH\ndef f3(x):\n=======\ndef g3(x):\n>>>>>>> REPLACE\n",
    ));
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "m.py", "task": "rename f3 to g3"}]}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(text.contains("· 1 repair]"), "{text}");
    let repair = mock.chats()[1].body["messages"][3]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        repair.contains("def f3(y):") || repair.to_lowercase().contains("match"),
        "{repair}"
    );
    assert!(
        std::fs::read_to_string(root.join("m.py"))
            .unwrap()
            .contains("def g3(x):")
    );
    let lines = h.stop().await;
    assert_eq!(lines[0]["repairs"], 1);
}

#[tokio::test]
async fn an_ambiguous_search_text_is_refused_and_the_file_left_alone() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(
        &mock,
        &[MODEL, WRITE, BLOCKS, ("LOCAL_EXECUTOR_REPAIRS", "0")],
    )
    .await;
    let root = h.workspace.path().to_path_buf();
    let original = long_module() + "def a():\n    pass\n\ndef b():\n    pass\n";
    put(&root, "m.py", &original);
    mock.push(Reply::text(
        "<<<<<<< SEARCH\n    pass\n=======\n    return None\n>>>>>>> REPLACE\n",
    ));
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "m.py", "task": "return None"}]}),
        )
        .await;
    let text = text_of(&r);
    assert!(is_error(&r), "{text}");
    assert!(
        text.starts_with("DELEGATION_FAILED (invalid_output): m.py: "),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("m.py")).unwrap(),
        original
    );
    h.stop().await;
}

#[tokio::test]
async fn an_edit_whose_result_fails_its_check_leaves_the_file_untouched() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(
        &mock,
        &[MODEL, WRITE, BLOCKS, ("LOCAL_EXECUTOR_REPAIRS", "0")],
    )
    .await;
    let root = h.workspace.path().to_path_buf();
    let original = long_module();
    put(&root, "m.py", &original);
    mock.push(Reply::text(
        "<<<<<<< SEARCH\ndef f3(x):\n=======\ndef f3(x:\n>>>>>>> REPLACE\n",
    ));
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "m.py", "task": "break it"}]}),
        )
        .await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (invalid_output): m.py: python syntax"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("m.py")).unwrap(),
        original
    );
    let lines = h.stop().await;
    assert_eq!(
        lines[0]["checks"],
        json!([{"name": "python syntax", "verdict": "fail"}])
    );
}

#[tokio::test]
async fn a_file_changed_on_disk_during_generation_is_not_overwritten() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[MODEL, WRITE, BLOCKS]).await;
    let root = h.workspace.path().to_path_buf();
    put(&root, "m.py", &long_module());
    let gate = Gate::default();
    mock.push(
        Reply::tokens(
            &["<<<<<<< SEARCH\ndef f3(x):\n=======\ndef g3(x):\n>>>>>>> REPLACE\n"],
            "stop",
        )
        .before_head(vec![Step::Gate(gate.clone())]),
    );
    let handle = h
        .start_call(
            "delegate_files",
            json!({"files": [{"path": "m.py", "task": "rename f3"}]}),
        )
        .await;
    bounded("the request reaching the model", mock.wait_chats(1)).await;
    put(&root, "m.py", "# rewritten by someone else\n");
    gate.open();
    let ServerResult::CallToolResult(r) =
        bounded("the call", handle.await_response()).await.unwrap()
    else {
        panic!("not a tool result");
    };
    let text = text_of(&r);
    assert!(is_error(&r), "{text}");
    assert!(text.contains("changed"), "{text}");
    assert_eq!(
        std::fs::read_to_string(root.join("m.py")).unwrap(),
        "# rewritten by someone else\n"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_batch_of_three_runs_side_by_side_and_reports_its_one_failure() {
    let mock = Mock::start(&["m"]).await;
    let gate = Gate::default();
    // Each answer waits until all three requests have arrived: only overlapping calls pass.
    for text in ["{\"a\": 1}", "{\"b\": 2}", "{broken"] {
        mock.push(Reply::tokens(&[text], "stop").before_head(vec![Step::Gate(gate.clone())]));
    }
    let h = Harness::start(&mock, &[MODEL, WRITE, ("LOCAL_EXECUTOR_REPAIRS", "0")]).await;
    let root = h.workspace.path().to_path_buf();
    let handle = h
        .start_call(
            "delegate_files",
            json!({"files": [
                {"path": "data/a.json", "task": "the object"},
                {"path": "data/c.json", "task": "a third"},
                {"path": "data/b.json", "task": "another object"},
            ]}),
        )
        .await;
    bounded("three overlapping requests", mock.wait_chats(3)).await;
    for _ in 0..3 {
        gate.open();
    }
    let ServerResult::CallToolResult(r) =
        bounded("the batch", handle.await_response()).await.unwrap()
    else {
        panic!("not a tool result");
    };
    let text = text_of(&r);
    assert!(!is_error(&r), "two files landed: {text}");
    // Which request got which answer depends on arrival order; one file fails either way.
    let wrote = text.matches("\nwrote ").count() + usize::from(text.starts_with("wrote "));
    assert_eq!(wrote, 2, "{text}");
    assert_eq!(
        text.matches("DELEGATION_FAILED (invalid_output): ").count(),
        1,
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("1 of 3 files failed: write those yourself."),
        "{text}"
    );
    let written = ["data/a.json", "data/c.json", "data/b.json"]
        .iter()
        .filter(|p| root.join(p).exists())
        .count();
    assert_eq!(written, 2);
    let lines = h.stop().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["files"], 3);
    assert_eq!(lines[0]["files_failed"], 1);
    assert_eq!(lines[0]["ok"], false);
    assert!(lines[0]["disk_chars"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bad_batches_are_refused_before_any_generation() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[MODEL, WRITE]).await;
    for (args, words) in [
        (json!({"files": []}), "empty"),
        (
            json!({"files": [{"path": "a.py", "task": "x"}, {"path": "./a.py", "task": "y"}]}),
            "twice",
        ),
        (
            json!({"files": (0..17).map(|i| json!({"path": format!("f{i}.py"), "task": "x"})).collect::<Vec<Value>>()}),
            "at most",
        ),
    ] {
        let text = text_of(&h.call("delegate_files", args).await);
        assert!(
            text.starts_with("DELEGATION_FAILED (bad_request): "),
            "{text}"
        );
        assert!(text.contains(words), "{text}");
    }
    for path in [
        ".git/config",
        ".mcp.json",
        "../outside.py",
        ".claude/settings.json",
    ] {
        let text = text_of(
            &h.call(
                "delegate_files",
                json!({"files": [{"path": path, "task": "x"}]}),
            )
            .await,
        );
        assert!(
            text.starts_with("DELEGATION_FAILED (bad_request): "),
            "{path}: {text}"
        );
    }
    assert!(mock.chats().is_empty(), "nothing refused reached the model");
    let lines = h.stop().await;
    assert!(
        lines.iter().all(|l| l["reason"] == "bad_request"),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn delegate_files_is_not_served_when_writing_is_off() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[MODEL]).await;
    let mut params = rmcp::model::CallToolRequestParams::new("delegate_files");
    params.arguments = json!({"files": [{"path": "a.py", "task": "x"}]})
        .as_object()
        .cloned();
    assert!(h.client.call_tool(params).await.is_err(), "an unknown tool");
    assert!(!h.workspace.path().join("a.py").exists());
    assert!(mock.chats().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn the_context_files_of_a_batch_are_read_once_and_reach_every_file() {
    let mock = Mock::start(&["m"]).await;
    mock.always(Reply::text("{\"ok\": true}"));
    let h = Harness::start(&mock, &[MODEL, WRITE]).await;
    put(h.workspace.path(), "spec.md", "fields: id, name\n");
    let r = h
        .call(
            "delegate_files",
            json!({"files": [
                {"path": "a.json", "task": "one"},
                {"path": "b.json", "task": "two"},
            ], "context_files": ["spec.md"]}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    for chat in mock.chats() {
        let user = chat.body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(user.contains("fields: id, name"), "{user}");
    }
    let lines = h.stop().await;
    assert_eq!(lines[0]["context_bytes"], "fields: id, name\n".len());
}

#[tokio::test]
async fn a_refused_context_file_refuses_the_batch_before_any_generation() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[MODEL, WRITE]).await;
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "a.json", "task": "one"}, {"path": "b.json", "task": "two"}],
                   "context_files": ["../outside.md"]}),
        )
        .await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (bad_request): "),
        "{text}"
    );
    assert!(mock.chats().is_empty());
    assert!(!h.workspace.path().join("a.json").exists());
    h.stop().await;
}

/// One `delegate_files` edit of `path` (holding `original`) that the model answers with
/// `answers`, in order: the tool's text, the file's bytes after, the usage line, the requests.
async fn edit_once(
    path: &str,
    original: &str,
    answers: &[&str],
    args: Value,
    env: &[(&str, &str)],
) -> (String, String, Value, Vec<common::Seen>) {
    let mock = Mock::start(&["m"]).await;
    for a in answers {
        mock.push(Reply::text(a));
    }
    let mut all = vec![MODEL, WRITE];
    all.extend_from_slice(env);
    let h = Harness::start(&mock, &all).await;
    let root = h.workspace.path().to_path_buf();
    put(&root, path, original);
    let mut call = json!({"files": [{"path": path, "task": "make the change"}]});
    if let Value::Object(extra) = args {
        call.as_object_mut().unwrap().extend(extra);
    }
    let text = text_of(&h.call("delegate_files", call).await);
    let after = std::fs::read_to_string(root.join(path)).unwrap();
    let lines = h.stop().await;
    (text, after, lines[0].clone(), mock.chats())
}

#[tokio::test]
async fn a_whole_file_edit_keeps_crlf_the_bom_and_a_missing_final_newline() {
    for (name, original, answer, expected) in [
        (
            "crlf.py",
            "a = 1\r\nb = 2\r\nc = 3\r\n",
            "a = 1\nb = 20\nc = 3\n",
            "a = 1\r\nb = 20\r\nc = 3\r\n",
        ),
        (
            "bom.py",
            "\u{feff}p = 1\nq = 2\n",
            "p = 1\nq = 3\n",
            "\u{feff}p = 1\nq = 3\n",
        ),
        ("nonl.py", "x = 1\ny = 2", "x = 1\ny = 3\n", "x = 1\ny = 3"),
        // Thinking first, the answer fenced, the model's line endings CRLF: none of it lands.
        (
            "mixed.py",
            "a = 1\r\nb = 2\nc = 3\r\n",
            "<think>\nchange b\n</think>\n\n```python\r\na = 1\r\nb = 4\r\nc = 3\r\n```\r\n",
            "a = 1\r\nb = 4\nc = 3\r\n",
        ),
    ] {
        let (text, after, usage, _) = edit_once(name, original, &[answer], json!({}), &[]).await;
        assert_eq!(after, expected, "{name}: {text}");
        assert!(
            text.starts_with(&format!("edited {name} · +1 −1 lines\n")),
            "{name}: {text}"
        );
        assert_eq!(usage["ok"], true, "{name}");
    }
}

#[tokio::test]
async fn a_whole_file_edit_keeps_the_files_own_fences_and_think_lines() {
    // A Markdown file that is one fenced block keeps its fences.
    let md = "```sh\nmake install\n```\n";
    let (text, after, _, _) = edit_once(
        "install.md",
        md,
        &["```sh\nmake install PREFIX=/usr\n```\n"],
        json!({}),
        &[],
    )
    .await;
    assert_eq!(after, "```sh\nmake install PREFIX=/usr\n```\n", "{text}");
    // A fence around such a file goes; the file's own stays.
    let (text, after, _, _) = edit_once(
        "install.md",
        md,
        &["````markdown\n```sh\nmake install PREFIX=/opt\n```\n````\n"],
        json!({}),
        &[],
    )
    .await;
    assert_eq!(after, "```sh\nmake install PREFIX=/opt\n```\n", "{text}");
    // A `</think>` line of the file is content, not the end of the model's thinking.
    let doc = "# Qwen3\n\nIts answers open with a block:\n\n<think>\n</think>\n\nThen the text.\n";
    let (text, after, _, _) = edit_once(
        "qwen3.md",
        doc,
        &[&doc.replace("Then the text.", "Then the answer.")],
        json!({}),
        &[],
    )
    .await;
    assert_eq!(
        after,
        doc.replace("Then the text.", "Then the answer."),
        "{text}"
    );
    assert!(
        text.starts_with("edited qwen3.md · +1 −1 lines\n"),
        "{text}"
    );
    // With the model's own thinking before it (Qwen3's orphan closing tag), that goes.
    let answer = format!(
        "The task wants the last line.\n</think>\n\n{}",
        doc.replace("Then the text.", "Then more.")
    );
    let (text, after, _, _) = edit_once("qwen3.md", doc, &[&answer], json!({}), &[]).await;
    assert_eq!(after, doc.replace("Then the text.", "Then more."), "{text}");
}

#[tokio::test]
async fn an_unchanged_answer_is_reported_unchanged_not_as_an_edit() {
    let (text, after, usage, chats) = edit_once(
        "same.py",
        "x = 1\ny = 2",
        &["x = 1\ny = 2\n"],
        json!({}),
        &[("LOCAL_EXECUTOR_REPAIRS", "0")],
    )
    .await;
    assert!(
        text.starts_with(
            "DELEGATION_FAILED (invalid_output): same.py: the file came back unchanged"
        ),
        "{text}"
    );
    assert_eq!(after, "x = 1\ny = 2");
    assert_eq!(usage["disk_chars"], 0);
    assert_eq!(chats.len(), 1);
    // With a repair left, the model is told so and asked for the file.
    let (text, after, usage, chats) = edit_once(
        "same.py",
        "x = 1\ny = 2",
        &["x = 1\ny = 2\n", "x = 1\ny = 5\n"],
        json!({}),
        &[],
    )
    .await;
    assert_eq!(after, "x = 1\ny = 5", "{text}");
    let repair = chats[1].body["messages"][3]["content"].as_str().unwrap();
    assert!(repair.contains("unchanged"), "{repair}");
    assert!(repair.contains("complete corrected file"), "{repair}");
    assert_eq!(usage["disk_chars"], "y = 5".len());
}

#[tokio::test]
async fn blocks_drafted_inside_think_are_never_applied() {
    let original = long_module();
    let answer = "<think>\nFirst idea, a draft:\n<<<<<<< SEARCH\ndef f1(x):\n=======\ndef f1_draft(x):\n>>>>>>> REPLACE\nNo wait, the task says f2 only.\n</think>\n<<<<<<< SEARCH\ndef f2(x):\n=======\ndef g2(x):\n>>>>>>> REPLACE\n";
    let (text, after, _, _) = edit_once("m.py", &original, &[answer], json!({}), &[BLOCKS]).await;
    assert_eq!(
        after,
        original.replace("def f2(x):", "def g2(x):"),
        "{text}"
    );
    assert!(text.starts_with("edited m.py · +1 −1 lines\n"), "{text}");
    // The same with Qwen3's orphan closing tag.
    let answer = answer.replacen("<think>\n", "", 1);
    let (text, after, _, _) = edit_once("m.py", &original, &[&answer], json!({}), &[BLOCKS]).await;
    assert_eq!(
        after,
        original.replace("def f2(x):", "def g2(x):"),
        "{text}"
    );
}

#[tokio::test]
async fn a_loose_match_in_a_tab_indented_file_writes_tabs() {
    let mut original = String::new();
    for i in 0..30 {
        original.push_str(&format!(
            "def f{i}(a):\n\tif a:\n\t\treturn {i}\n\treturn 0\n\n"
        ));
    }
    original.push_str("def target(a):\n\tif a:\n\t\treturn 1\n\treturn 2\n");
    let answer = "<<<<<<< SEARCH\ndef target(a):\n    if a:\n        return 1\n=======\ndef target(a):\n    if a:\n        if a > 9:\n            return 9\n        return 10\n>>>>>>> REPLACE\n";
    let (text, after, _, _) = edit_once("t.py", &original, &[answer], json!({}), &[BLOCKS]).await;
    assert_eq!(
        after,
        original.replace(
            "def target(a):\n\tif a:\n\t\treturn 1\n",
            "def target(a):\n\tif a:\n\t\tif a > 9:\n\t\t\treturn 9\n\t\treturn 10\n"
        ),
        "{text}"
    );
    // What CPython's tokenizer rejects as a TabError: a line indented with both.
    for l in after.lines() {
        let lead: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        assert!(!(lead.contains(' ') && after.contains('\t')), "{l:?}");
    }
}

#[tokio::test]
async fn a_block_edit_of_a_mixed_file_keeps_every_lines_ending() {
    let original: String = (0..80)
        .map(|i| format!("line {i}{}", if i % 2 == 0 { "\r\n" } else { "\n" }))
        .collect();
    let answer = "<<<<<<< SEARCH\nline 70\n=======\nline seventy\n>>>>>>> REPLACE\n";
    let (text, after, _, _) = edit_once("mixed.txt", &original, &[answer], json!({}), &[]).await;
    assert_eq!(
        after,
        original.replace("line 70\r\n", "line seventy\r\n"),
        "{text}"
    );
    assert!(
        text.starts_with("edited mixed.txt · +1 −1 lines\n"),
        "{text}"
    );
}

#[tokio::test]
async fn overwrite_sends_the_file_to_the_model_and_answers_with_a_diff() {
    let original: String = (0..200)
        .map(|i| format!("def f{i}(x):\n    return x + {i}\n"))
        .collect::<Vec<_>>()
        .join("")
        .lines()
        .take(200)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(original.lines().count(), 200);
    let changed = original.replace("def f3(x):\n", "def f3(x):\n    \"\"\"Add three.\"\"\"\n");
    let (text, after, usage, chats) = edit_once(
        "m.py",
        &original,
        &[&changed],
        json!({"overwrite": true}),
        &[],
    )
    .await;
    assert_eq!(after, changed, "{text}");
    assert!(text.starts_with("edited m.py · +1 −0 lines\n@@ "), "{text}");
    assert!(text.contains("+    \"\"\"Add three.\"\"\""), "{text}");
    let user = chats[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("def f99(x):\n    return x + 99"),
        "the file is in the prompt"
    );
    assert_eq!(usage["disk_chars"], "    \"\"\"Add three.\"\"\"\n".len());
    // An answer of the one function it was asked about never replaces the file whole.
    let (text, after, _, _) = edit_once(
        "m.py",
        &original,
        &["def f3(x):\n    \"\"\"Add three.\"\"\"\n    return x + 3\n"],
        json!({"overwrite": true}),
        &[("LOCAL_EXECUTOR_REPAIRS", "0")],
    )
    .await;
    assert!(
        text.starts_with(
            "DELEGATION_FAILED (invalid_output): m.py: your answer has 3 of the file's 200"
        ),
        "{text}"
    );
    assert_eq!(after, original);
}

/// A 40-line module: asked for whole, and long enough for the data-loss guard.
fn small_module() -> String {
    (0..20)
        .map(|i| format!("def f{i}(x):\n    return x + {i}\n"))
        .collect()
}

#[tokio::test]
async fn a_whole_file_answer_that_drops_most_of_the_file_is_refused_and_the_file_kept() {
    let original = small_module();
    let part = "def f3(x):\n    \"\"\"Add three.\"\"\"\n    return x + 3\n";
    // The model answers with the one function it changed, twice: the file is left as it was.
    let (text, after, usage, chats) =
        edit_once("m.py", &original, &[part, part, part], json!({}), &[]).await;
    assert!(
        text.starts_with(
            "DELEGATION_FAILED (invalid_output): m.py: your answer has 3 of the file's 40 non-blank lines"
        ),
        "{text}"
    );
    assert_eq!(after, original);
    assert_eq!(usage["ok"], false);
    assert_eq!(usage["disk_chars"], 0);
    assert_eq!(chats.len(), 3, "the first answer and two repairs");
    // Each repair turn says what was wrong and asks for the complete file.
    let repair = chats[1].body["messages"][3]["content"].as_str().unwrap();
    assert!(
        repair.contains("38 lines of the file are missing"),
        "{repair}"
    );
    assert!(repair.contains("must be the complete file"), "{repair}");
    assert!(repair.contains("complete corrected file"), "{repair}");
    // A placeholder comment for the rest is refused the same way; the repair then lands.
    let lazy = format!("{part}# ... rest of the file unchanged\n");
    let fixed = original.replace("def f3(x):\n", "def f3(x):\n    \"\"\"Add three.\"\"\"\n");
    let (text, after, _, chats) =
        edit_once("m.py", &original, &[&lazy, &fixed], json!({}), &[]).await;
    assert_eq!(after, fixed, "{text}");
    assert!(text.starts_with("edited m.py · +1 −0 lines\n"), "{text}");
    assert!(text.contains("· 1 repair]"), "{text}");
    let repair = chats[1].body["messages"][3]["content"].as_str().unwrap();
    assert!(
        repair.contains("stands for lines of the file you left out"),
        "{repair}"
    );
}

#[tokio::test]
async fn a_task_that_removes_code_may_shrink_the_file() {
    let original = small_module();
    let kept: String = original.lines().take(6).map(|l| format!("{l}\n")).collect();
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(&kept));
    let h = Harness::start(&mock, &[MODEL, WRITE]).await;
    let root = h.workspace.path().to_path_buf();
    put(&root, "m.py", &original);
    let text = text_of(
        &h.call(
            "delegate_files",
            json!({"files": [{"path": "m.py", "task": "Delete every function after f2."}]}),
        )
        .await,
    );
    assert!(text.starts_with("edited m.py · +0 −34 lines\n"), "{text}");
    assert_eq!(std::fs::read_to_string(root.join("m.py")).unwrap(), kept);
    h.stop().await;
}

#[tokio::test]
async fn overwrite_of_a_file_too_large_to_rewrite_whole_is_refused() {
    let original = "x = 1\n".repeat(20_000);
    let (text, after, _, chats) = edit_once(
        "big.py",
        &original,
        &["x = 2\n"],
        json!({"overwrite": true}),
        &[],
    )
    .await;
    assert!(
        text.starts_with("DELEGATION_FAILED (bad_request): big.py: "),
        "{text}"
    );
    assert!(text.contains("leave overwrite off"), "{text}");
    assert_eq!(after, original);
    assert!(chats.is_empty());
}

#[tokio::test]
async fn a_blocks_repair_asks_for_blocks_and_quotes_the_failing_lines() {
    let original = long_module();
    let (text, after, _, chats) = edit_once(
        "m.py",
        &original,
        &[
            "<<<<<<< SEARCH\n    return x + 3\n=======\n    return x + 3 3\n>>>>>>> REPLACE\n",
            "<<<<<<< SEARCH\ndef f3(x):\n=======\ndef f3(x, y=0):\n>>>>>>> REPLACE\n",
        ],
        json!({}),
        &[BLOCKS],
    )
    .await;
    assert!(text.contains("· 1 repair]"), "{text}");
    assert!(after.contains("def f3(x, y=0):"));
    let repair = chats[1].body["messages"][3]["content"].as_str().unwrap();
    assert!(repair.contains("SEARCH/REPLACE blocks"), "{repair}");
    assert!(!repair.contains("whole corrected artifact"), "{repair}");
    // The line the check names, from a file the model never saw, is quoted with its text.
    assert!(repair.contains(">     return x + 3 3\n"), "{repair}");
    assert!(repair.contains("  def f3(x):\n"), "{repair}");
}

#[tokio::test]
async fn a_block_addressed_to_another_file_is_refused() {
    let original = long_module();
    let (text, after, _, chats) = edit_once(
        "m.py",
        &original,
        &[
            "other.py\n<<<<<<< SEARCH\ndef f3(x):\n=======\ndef g3(x):\n>>>>>>> REPLACE\n",
            "m.py\n<<<<<<< SEARCH\ndef f3(x):\n=======\ndef g3(x):\n>>>>>>> REPLACE\n",
        ],
        json!({}),
        &[BLOCKS],
    )
    .await;
    assert!(text.contains("· 1 repair]"), "{text}");
    assert!(after.contains("def g3(x):"));
    let repair = chats[1].body["messages"][3]["content"].as_str().unwrap();
    assert!(repair.contains("addressed to `other.py`"), "{repair}");
}

#[tokio::test]
async fn a_file_that_ends_with_a_think_line_is_edited_not_reported_empty() {
    // Cleaned as a new artifact, this answer is empty: all of it stands before a `</think>`.
    let doc = "End the block with:\n</think>\n";
    let (text, after, _, _) = edit_once(
        "tags.md",
        doc,
        &["Close the block with:\n</think>\n"],
        json!({}),
        &[],
    )
    .await;
    assert_eq!(after, "Close the block with:\n</think>\n", "{text}");
}

/// A class and functions over 60 lines: edited by its definitions under the routing rule.
fn long_class_module() -> String {
    let mut s = String::from(
        "import os\r\n\r\n\r\nclass Shop:\r\n    def __init__(self):\r\n        self.items = {}\r\n\r\n    def get(self, sku):\r\n        return self.items[sku]\r\n",
    );
    for i in 0..30 {
        s.push_str(&format!("\r\n\r\ndef f{i}(x):\r\n    return x + {i}\r\n"));
    }
    s
}

#[tokio::test]
async fn a_long_python_file_is_edited_by_its_definitions_every_other_byte_kept() {
    let original = long_class_module();
    // The model rewrites one function and adds a method inside its class line, fenced, with a
    // draft in its thinking that is never applied.
    let answer = "<think>\ndef f3(x):\n    return 0\n</think>\n```python\ndef f3(x):\n    \"\"\"Add three.\"\"\"\n    return x + 3\n\n\nclass Shop:\n    def remove(self, sku):\n        return self.items.pop(sku)\n```\n";
    let (text, after, usage, chats) =
        edit_once("shop.py", &original, &[answer], json!({}), &[]).await;
    let expected = original
        .replace(
            "def f3(x):\r\n",
            "def f3(x):\r\n    \"\"\"Add three.\"\"\"\r\n",
        )
        .replace(
            "        return self.items[sku]\r\n",
            "        return self.items[sku]\r\n\r\n    def remove(self, sku):\r\n        return self.items.pop(sku)\r\n",
        );
    assert_eq!(after, expected, "{text}");
    assert!(text.starts_with("edited shop.py · +4 −0 lines\n"), "{text}");
    assert_eq!(usage["ok"], true);
    let system = chats[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("complete new code of each function"),
        "{system}"
    );
    assert!(!system.contains("SEARCH"), "{system}");
}

#[tokio::test]
async fn a_definition_that_cannot_be_placed_is_sent_back_and_the_file_kept() {
    let original = long_class_module();
    // A new method without its class, twice: the file is left as it was.
    let lone = "def remove(self, sku):\n    return self.items.pop(sku)\n";
    let (text, after, _, chats) =
        edit_once("shop.py", &original, &[lone, lone, lone], json!({}), &[]).await;
    assert!(
        text.starts_with("DELEGATION_FAILED (invalid_output): shop.py: `remove` is a new method"),
        "{text}"
    );
    assert_eq!(after, original);
    let repair = chats[1].body["messages"][3]["content"].as_str().unwrap();
    assert!(repair.contains("`class Shop:`"), "{repair}");
    assert!(
        repair.contains("complete code of each function"),
        "{repair}"
    );
    // A rename is asked as blocks: its call sites lie outside any one definition.
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(
        "<<<<<<< SEARCH\ndef f3(x):\n=======\ndef g3(x):\n>>>>>>> REPLACE\n",
    ));
    let h = Harness::start(&mock, &[MODEL, WRITE]).await;
    put(h.workspace.path(), "shop.py", &original);
    let text = text_of(
        &h.call(
            "delegate_files",
            json!({"files": [{"path": "shop.py", "task": "Rename f3 to g3."}]}),
        )
        .await,
    );
    assert!(text.starts_with("edited shop.py · +1 −1 lines\n"), "{text}");
    let system = mock.chats()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("<<<<<<< SEARCH"), "{system}");
    h.stop().await;
}
