//! The model's window through the real binary, against the mock backend: where it is learned
//! from, prompts fitted to it (outlined, or refused before any generation), a backend's
//! "context exceeded" answered by one reduced retry, and answers cut at the token limit
//! continued into a whole, checked artifact.

mod common;

use common::{Harness, Mock, Reply, is_error, text_of};
use serde_json::{Value, json};

/// A Python module of `n` functions with ten-line bodies: about 60 tokens a function.
fn module(n: usize) -> String {
    let mut out = String::from("import math\n\n\n");
    for i in 0..n {
        out.push_str(&format!("def f{i}(x):\n"));
        for j in 0..10 {
            out.push_str(&format!("    x = x + {j} * math.pi\n"));
        }
        out.push_str("    return x\n\n\n");
    }
    out
}

fn user_message(chat: &common::Seen) -> String {
    let messages = chat.body["messages"].as_array().unwrap();
    messages
        .iter()
        .find(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .unwrap()
}

async fn listed(mock: &Mock, env: &[(&str, &str)]) -> String {
    let h = Harness::start(mock, env).await;
    let r = h.call("list_local_models", json!({})).await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let text = text_of(&r);
    h.stop().await;
    text
}

#[tokio::test]
async fn the_window_comes_from_props_from_the_setting_or_the_default() {
    let mock = Mock::start(&["m"]).await;
    let text = listed(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    assert!(
        text.contains(
            "context window: quality (m) 4096 tokens (default; set LOCAL_LLM_CONTEXT_QUALITY)"
        ),
        "{text}"
    );
    let text = listed(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_CONTEXT_QUALITY", "16384"),
        ],
    )
    .await;
    assert!(
        text.contains("quality (m) 16384 tokens (LOCAL_LLM_CONTEXT_QUALITY)"),
        "{text}"
    );

    let mock = Mock::start(&["m"]).await;
    mock.route(
        "/props",
        json!({"default_generation_settings": {"n_ctx": 8192}}),
    );
    let text = listed(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    assert!(
        text.contains("quality (m) 8192 tokens (llama.cpp /props)"),
        "{text}"
    );
    // A setting smaller than the backend's window wins: the user runs less than the model allows.
    let text = listed(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_CONTEXT_QUALITY", "2048"),
        ],
    )
    .await;
    assert!(
        text.contains("quality (m) 2048 tokens (LOCAL_LLM_CONTEXT_QUALITY)"),
        "{text}"
    );
}

#[tokio::test]
async fn ollamas_num_ctx_and_llama_swaps_upstream_say_the_window() {
    let mock = Mock::start(&["qwen"]).await;
    mock.route(
        "/api/show",
        json!({"parameters": "stop \"<|im_end|>\"\nnum_ctx 12288", "model_info": {"qwen2.context_length": 32768}}),
    );
    let text = listed(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "qwen")]).await;
    assert!(text.contains("12288 tokens (Ollama num_ctx)"), "{text}");
    // A loaded model's window, as `ollama ps` shows it, wins.
    mock.route(
        "/api/ps",
        json!({"models": [{"name": "qwen:latest", "model": "qwen:latest", "context_length": 8192}]}),
    );
    let text = listed(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "qwen")]).await;
    assert!(text.contains("8192 tokens (Ollama /api/ps)"), "{text}");
    // The length a model was trained for is not the window Ollama runs it with.
    let mock = Mock::start(&["qwen"]).await;
    mock.route(
        "/api/show",
        json!({"parameters": "stop \"<|im_end|>\"", "model_info": {"qwen2.context_length": 32768}}),
    );
    let text = listed(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "qwen")]).await;
    assert!(
        text.contains("quality (qwen) 4096 tokens (default;"),
        "{text}"
    );

    // llama-swap's upstream loads the model, so only a delegation asks it.
    let mock = Mock::start(&["coder"]).await;
    mock.route("/upstream/coder/props", json!({"n_ctx": 3000}));
    mock.push(Reply::text("def f():\n    return 1\n"));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "coder")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "write f", "language": "python"}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let lines = h.stop().await;
    assert_eq!(lines[0]["context_window"], 3000);
}

#[tokio::test]
async fn a_prompt_that_fits_once_outlined_is_sent_outlined_and_marked() {
    let mock = Mock::start(&["m"]).await;
    mock.route(
        "/props",
        json!({"default_generation_settings": {"n_ctx": 2048}}),
    );
    mock.push(Reply::text("def g(x):\n    return f0(x)\n"));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let big = module(40);
    assert!(big.len() > 9000);
    std::fs::write(h.workspace.path().join("big.py"), &big).unwrap();
    let r = h
        .call(
            "delegate_code",
            json!({"task": "write g calling f0", "language": "python",
                   "context_files": ["big.py"], "max_tokens": 512}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let chats = mock.chats();
    assert_eq!(chats.len(), 1);
    let user = user_message(&chats[0]);
    assert!(
        user.contains("### big.py (reduced to an outline of its 561 lines"),
        "{user}"
    );
    assert!(user.contains("big.py:START-END"), "{user}");
    assert!(user.contains("def f39(x):\n    ...\n"), "{user}");
    assert!(!user.contains("x = x + 3"), "{user}");
    let lines = h.stop().await;
    assert_eq!(lines[0]["context_window"], 2048);
    assert_eq!(lines[0]["context_reduced"], 1);
}

#[tokio::test]
async fn a_prompt_that_cannot_fit_fails_before_any_generation_naming_the_sizes() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_CONTEXT_QUALITY", "1024"),
        ],
    )
    .await;
    std::fs::write(h.workspace.path().join("big.py"), module(40)).unwrap();
    let task = format!("write g; {}", "the spec goes on. ".repeat(300));
    let r = h
        .call(
            "delegate_code",
            json!({"task": task, "context_files": ["big.py"], "max_tokens": 256}),
        )
        .await;
    let text = text_of(&r);
    assert!(is_error(&r), "{text}");
    assert!(
        text.starts_with("DELEGATION_FAILED (context_too_large): the prompt is ~"),
        "{text}"
    );
    for part in [
        "with files outlined",
        "the window 1024 tokens (LOCAL_LLM_CONTEXT_QUALITY)",
        "the answer needs 256",
        "path:START-END",
        "fewer files",
        "larger window",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert!(mock.chats().is_empty(), "no generation was asked for");
    let lines = h.stop().await;
    assert_eq!(lines[0]["reason"], "context_too_large");
}

#[tokio::test]
async fn a_backends_context_exceeded_is_retried_once_with_the_files_outlined() {
    let mock = Mock::start(&["m"]).await;
    // llama.cpp's server's wording (tools/server/server.cpp, `exceed_context_size_error`).
    mock.push(Reply::status(
        400,
        r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
    ));
    mock.push(Reply::text("def g(x):\n    return f0(x)\n"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_CONTEXT_QUALITY", "100000"),
        ],
    )
    .await;
    std::fs::write(h.workspace.path().join("big.py"), module(40)).unwrap();
    let r = h
        .call(
            "delegate_code",
            json!({"task": "write g", "language": "python", "context_files": ["big.py"]}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let chats = mock.chats();
    assert_eq!(chats.len(), 2);
    assert!(user_message(&chats[0]).contains("x = x + 3"));
    let second = user_message(&chats[1]);
    assert!(second.contains("(reduced to an outline"), "{second}");
    assert!(!second.contains("x = x + 3"), "{second}");
    let lines = h.stop().await;
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["context_reduced"], 1);

    // Nothing to reduce: the backend's answer is the failure.
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::status(
        400,
        r#"{"error":{"message":"Requested tokens (5000) exceed context window of 4096","code":"context_length_exceeded"}}"#,
    ));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h.call("delegate_code", json!({"task": "write g"})).await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (context_too_large)"),
        "{text}"
    );
    assert_eq!(mock.chats().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_cut_answer_is_continued_into_a_whole_checked_artifact() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::tokens(
        &["```python\ndef add(a, b):\n", "    total = a +"],
        "length",
    ));
    // The model repeats the line it was cut in, and closes the fence the first part opened.
    mock.push(Reply::tokens(
        &["    total = a + b\n", "    return total\n```"],
        "stop",
    ));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "write add", "language": "python", "max_tokens": 12}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.starts_with("def add(a, b):\n    total = a + b\n    return total\n"),
        "{text}"
    );
    assert!(text.contains("checked: python syntax"), "{text}");
    assert!(text.contains("· continued 1]"), "{text}");
    let chats = mock.chats();
    assert_eq!(chats.len(), 2);
    let turn = chats[1].body["messages"].as_array().unwrap();
    let n = turn.len();
    assert_eq!(turn[n - 2]["role"], "assistant");
    assert!(
        turn[n - 2]["content"]
            .as_str()
            .unwrap()
            .ends_with("total = a +")
    );
    assert!(
        turn[n - 1]["content"]
            .as_str()
            .unwrap()
            .contains("cut off at the token limit")
    );
    let lines = h.stop().await;
    assert_eq!(lines[0]["continued"], 1);
    assert_eq!(lines[0]["ok"], true);
}

#[tokio::test]
async fn continuation_that_keeps_being_cut_ends_truncated_with_the_attempts_counted() {
    let mock = Mock::start(&["m"]).await;
    mock.always(Reply::tokens(&["x = [1,"], "length"));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "write x", "language": "python", "max_tokens": 4}),
        )
        .await;
    let text = text_of(&r);
    assert!(text.starts_with("DELEGATION_FAILED (truncated)"), "{text}");
    assert!(text.contains("continued 2 times"), "{text}");
    assert_eq!(mock.chats().len(), 3);
    let lines: Vec<Value> = h.stop().await;
    assert_eq!(lines[0]["continued"], 2);
    assert_eq!(lines[0]["reason"], "truncated");
}

#[tokio::test]
async fn an_edit_fits_its_context_files_around_the_file_it_changes() {
    let mock = Mock::start(&["m"]).await;
    mock.route(
        "/props",
        json!({"default_generation_settings": {"n_ctx": 4096}}),
    );
    mock.push(Reply::text("def g(x):\n    return f0(x) + 1\n"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
        ],
    )
    .await;
    std::fs::write(h.workspace.path().join("big.py"), module(60)).unwrap();
    std::fs::write(
        h.workspace.path().join("g.py"),
        "def g(x):\n    return f0(x)\n",
    )
    .unwrap();
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "g.py", "task": "add one to what g returns"}],
                   "context_files": ["big.py"]}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let user = user_message(&mock.chats()[0]);
    // The context file is outlined; the file being changed is sent whole.
    assert!(user.contains("### big.py (reduced to an outline"), "{user}");
    assert!(user.contains("return f0(x)"), "{user}");
    assert_eq!(
        std::fs::read_to_string(h.workspace.path().join("g.py")).unwrap(),
        "def g(x):\n    return f0(x) + 1\n"
    );
    let lines = h.stop().await;
    assert_eq!(lines[0]["context_window"], 4096);
    assert_eq!(lines[0]["context_reduced"], 1);
}

#[tokio::test]
async fn a_whole_file_answer_too_big_for_the_window_is_asked_as_blocks_and_the_receipt_says_so() {
    let mock = Mock::start(&["m"]).await;
    mock.route(
        "/props",
        json!({"default_generation_settings": {"n_ctx": 8192}}),
    );
    // 40 wide lines: few enough for a whole-file answer, too many tokens for half the window.
    let wide: String = (0..40)
        .map(|i| format!("ROW_{i} = \"{}\"\n", "x".repeat(300)))
        .collect();
    let row0 = wide.lines().next().unwrap().to_string();
    mock.push(Reply::text(&format!(
        "<<<<<<< SEARCH\n{row0}\n=======\n{}\n>>>>>>> REPLACE\n",
        row0.replace("= \"x", "= \"y")
    )));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
        ],
    )
    .await;
    std::fs::write(h.workspace.path().join("rows.py"), &wide).unwrap();
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "rows.py", "task": "start ROW_0 with y"}]}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    let system = mock.chats()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("SEARCH/REPLACE"), "{system}");
    assert!(
        text.contains("whole file would not fit the model's window"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn llama_cpps_tokenize_decides_when_the_estimate_does_not_fit() {
    let mock = Mock::start(&["m"]).await;
    mock.route(
        "/props",
        json!({"default_generation_settings": {"n_ctx": 2048}}),
    );
    // The estimate errs high; the server's own count says the prompt fits.
    mock.route("/tokenize", json!({"tokens": vec![1; 900]}));
    mock.push(Reply::text("def g(x):\n    return f0(x)\n"));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    std::fs::write(h.workspace.path().join("big.py"), module(40)).unwrap();
    let r = h
        .call(
            "delegate_code",
            json!({"task": "write g", "language": "python",
                   "context_files": ["big.py"], "max_tokens": 512}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let asked = mock
        .seen()
        .into_iter()
        .find(|s| s.path == "/tokenize")
        .expect("the prompt was counted by the server");
    assert!(
        asked.body["content"]
            .as_str()
            .unwrap()
            .contains("x = x + 3")
    );
    let user = user_message(&mock.chats()[0]);
    assert!(user.contains("x = x + 3"), "sent whole");
    assert!(!user.contains("(reduced to"), "{user}");
    let lines = h.stop().await;
    assert!(lines[0].get("context_reduced").is_none(), "{}", lines[0]);
}
