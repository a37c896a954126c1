//! The delegation engine through the real binary: checks and repairs, escalation from `fast` to
//! `quality`, thinking models, and what reaches the backend (credentials, proxies, a host that is
//! off). Each test checks the tool result, what the mock received, and the usage line.

mod common;

use common::{Harness, Mock, Reply, Step, is_error, sse, text_of};
use rmcp::model::ServerResult;
use serde_json::{Value, json};

async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 30 s"))
}

fn only(lines: Vec<Value>) -> Value {
    assert_eq!(lines.len(), 1, "expected one usage line: {lines:#?}");
    lines.into_iter().next().unwrap()
}

fn user_turns(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn broken_json_is_repaired_on_the_second_answer() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("{\"a\": 1,}"));
    mock.push(Reply::text("{\"a\": 1}"));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "an object", "language": "json"}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(text.starts_with("{\"a\": 1}\n[local-executor ok"), "{text}");
    assert!(text.contains("checked: json parse · 1 repair]"), "{text}");
    let chats = mock.chats();
    assert_eq!(chats.len(), 2);
    // The repair request carries the broken answer and what the check said about it.
    let repair = &chats[1].body["messages"];
    assert_eq!(repair[2]["role"], "assistant");
    assert_eq!(repair[2]["content"], "{\"a\": 1,}");
    let turns = user_turns(&chats[1].body);
    assert!(turns[1].contains("not valid JSON"), "{turns:?}");
    let line = only(h.stop().await);
    assert_eq!(line["ok"], true);
    assert_eq!(line["repairs"], 1);
    assert_eq!(line["checked"], true);
    assert_eq!(
        line["checks"],
        json!([{"name": "json parse", "verdict": "pass"}])
    );
    assert_eq!(line["language"], "json");
    assert_eq!(line["completion_tokens"], 2, "both answers' tokens count");
}

#[tokio::test]
async fn json_that_stays_broken_is_invalid_output_with_the_checkers_message() {
    let mock = Mock::start(&["m"]).await;
    mock.always(Reply::text("{broken"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_REPAIRS", "2"),
        ],
    )
    .await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "an object", "language": "json"}),
        )
        .await;
    let text = text_of(&r);
    assert!(is_error(&r));
    assert!(
        text.starts_with("DELEGATION_FAILED (invalid_output): "),
        "{text}"
    );
    assert!(text.contains("not valid JSON"), "{text}");
    assert!(text.len() < 500, "{text}");
    assert_eq!(mock.chats().len(), 3, "the first answer and two repairs");
    let line = only(h.stop().await);
    assert_eq!(line["reason"], "invalid_output");
    assert_eq!(line["repairs"], 2);
    assert_eq!(line["checked"], false);
    assert_eq!(
        line["checks"],
        json!([{"name": "json parse", "verdict": "fail"}])
    );
}

#[tokio::test]
async fn a_fast_failure_is_escalated_to_quality() {
    let mock = Mock::start(&["big", "small"]).await;
    mock.push(Reply::text("{nope"));
    mock.push(Reply::text("{still nope"));
    mock.push(Reply::text("{\"ok\": true}"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "big"),
            ("LOCAL_LLM_MODEL_FAST", "small"),
            ("LOCAL_EXECUTOR_REPAIRS", "1"),
        ],
    )
    .await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "an object", "language": "json", "tier": "fast"}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.contains("[local-executor ok · fast→quality · "),
        "{text}"
    );
    let models: Vec<Value> = mock
        .chats()
        .iter()
        .map(|c| c.body["model"].clone())
        .collect();
    assert_eq!(models, vec![json!("small"), json!("small"), json!("big")]);
    let chats = mock.chats();
    let line = only(h.stop().await);
    assert_eq!(line["ok"], true);
    assert_eq!(line["escalated_from"], "fast");
    assert_eq!(line["tier"], "fast");
    assert_eq!(line["model"], "big");
    assert_eq!(line["repairs"], 1);
    // Every request sent is one attempt and is paid once: the mock sends no usage, so each prompt
    // is estimated from its characters and each one-event answer is one token.
    assert_eq!(line["attempts"], 3);
    let prompts: u64 = chats.iter().map(|c| estimated_prompt(&c.body)).sum();
    assert_eq!(line["prompt_tokens"], prompts);
    assert_eq!(line["completion_tokens"], 3);
    assert_eq!(line["usage_estimated"], true);
}

/// The prompt tokens the server estimates for a request without usage: its characters / 4.
fn estimated_prompt(body: &Value) -> u64 {
    let chars: usize = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().chars().count())
        .sum();
    (chars as u64).div_ceil(4)
}

#[tokio::test]
async fn a_fast_model_that_spends_the_total_budget_is_not_escalated() {
    // The fast model never answers; the total timeout passes while waiting for it. Nothing is
    // left for quality, so no request goes to it and the failure is the fast model's own.
    let mock = Mock::start(&["big", "small"]).await;
    mock.push(Reply::text("never sent").before_head(vec![Step::Hang]));
    mock.push(Reply::text("{\"ok\": true}"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "big"),
            ("LOCAL_LLM_MODEL_FAST", "small"),
            ("LOCAL_LLM_TIMEOUT", "1"),
            ("LOCAL_LLM_CONNECT_TIMEOUT", "2"),
        ],
    )
    .await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "an object", "language": "json", "tier": "fast"}),
        )
        .await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (timeout): no first token from small within "),
        "{text}"
    );
    let chats = mock.chats();
    let models: Vec<Value> = chats.iter().map(|c| c.body["model"].clone()).collect();
    assert_eq!(models, vec![json!("small")], "no request for quality");
    let line = only(h.stop().await);
    assert_eq!(line["reason"], "timeout");
    assert_eq!(line["model"], "small");
    assert!(line.get("escalated_from").is_none(), "{line}");
    assert_eq!(line["attempts"], 1);
    assert_eq!(line["prompt_tokens"], estimated_prompt(&chats[0].body));
    assert_eq!(line["completion_tokens"], 0);
}

#[tokio::test]
async fn an_artifact_no_check_applies_to_is_marked_unchecked() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("Some notes."));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "notes", "language": "markdown"}),
        )
        .await;
    let text = text_of(&r);
    assert!(text.ends_with(" · unchecked]"), "{text}");
    let line = only(h.stop().await);
    assert_eq!(line["checked"], false);
    assert!(line.get("checks").is_none(), "{line}");
}

#[tokio::test]
async fn a_404_for_a_listed_model_is_model_missing() {
    // The model list names it, so the pre-check passes; the chat request is what says it is
    // gone (a backend that unloaded it, a proxy whose route is broken).
    let mock = Mock::start(&["gamma", "alpha"]).await;
    mock.push(Reply::status(
        404,
        r#"{"error":{"message":"The model `gamma` does not exist."}}"#,
    ));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "gamma")]).await;
    let r = h.call("delegate_code", json!({"task": "x"})).await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (model_missing): "),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");
    assert_eq!(mock.chats().len(), 1, "the chat request was sent");
    let line = only(h.stop().await);
    assert_eq!(line["reason"], "model_missing");
    assert_eq!(line["attempts"], 1);
}

#[tokio::test]
async fn a_whole_answer_in_one_json_body_is_served_with_estimated_tokens() {
    let mock = Mock::start(&["m"]).await;
    let answer = "def add(a, b):\n    return a + b\n".repeat(4);
    let body = json!({"choices": [{"message": {"role": "assistant", "content": answer},
                                   "finish_reason": "stop"}]});
    mock.push(Reply::status(200, &body.to_string()));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h.call("delegate_code", json!({"task": "x"})).await;
    let text = text_of(&r);
    assert!(text.starts_with(&answer), "{text}");
    let tokens = (answer.chars().count() as u64).div_ceil(4);
    assert!(text.contains(&format!("· ~{tokens} tok out ·")), "{text}");
    let line = only(h.stop().await);
    assert_eq!(line["completion_tokens"], tokens);
    assert_eq!(line["usage_estimated"], true);
}

#[tokio::test]
async fn a_model_that_thinks_away_its_budget_is_told_apart_from_a_long_answer() {
    let mock = Mock::start(&["m"]).await;
    let mut body = vec![Step::Send(sse(
        &json!({"choices":[{"delta":{"content":"<think>"}}]}),
    ))];
    for _ in 0..5 {
        body.push(Step::Send(sse(
            &json!({"choices":[{"delta":{"content":"let me consider "}}]}),
        )));
    }
    body.push(Step::Send(sse(
        &json!({"choices":[{"delta":{},"finish_reason":"length"}]}),
    )));
    body.push(Step::Send(b"data: [DONE]\n\n".to_vec()));
    mock.push(Reply::stream(body));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h.call("delegate_code", json!({"task": "x"})).await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (truncated): "),
        "{text}"
    );
    assert!(
        text.contains("thinking") && text.contains("LOCAL_LLM_THINK=off"),
        "{text}"
    );
    assert!(mock.chats()[0].body.get("chat_template_kwargs").is_none());
    h.stop().await;
}

#[tokio::test]
async fn think_off_asks_the_backend_not_to_think() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(
        &mock,
        &[("LOCAL_LLM_MODEL_QUALITY", "m"), ("LOCAL_LLM_THINK", "off")],
    )
    .await;
    h.call("delegate_code", json!({"task": "x"})).await;
    assert_eq!(
        mock.chats()[0].body["chat_template_kwargs"],
        json!({"enable_thinking": false})
    );
    h.stop().await;
}

#[tokio::test]
async fn credentials_in_the_base_url_are_sent_as_basic_auth_and_never_shown() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::status(500, r#"{"error":{"message":"boom"}}"#));
    let url = mock.url.replace("http://", "http://team:s3cr%40t@");
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_BASE_URL", &url),
            ("LOCAL_LLM_MODEL_QUALITY", "gone"),
        ],
    )
    .await;
    // model_missing names the base URL's models; http_error quotes the backend.
    let missing = text_of(&h.call("delegate_code", json!({"task": "x"})).await);
    assert!(missing.contains("model_missing"), "{missing}");
    let seen = mock.seen();
    let auth = seen[0]
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // base64("team:s3cr@t")
    assert_eq!(auth, "Basic dGVhbTpzM2NyQHQ=");
    let listed = text_of(&h.call("list_local_models", json!({})).await);
    for text in [&missing, &listed] {
        assert!(!text.contains("s3cr"), "{text}");
    }
    h.stop().await;
}

#[tokio::test]
async fn a_host_whose_connect_times_out_costs_one_connect_timeout_and_no_chat() {
    // A host that is off, made on loopback: a listener that never accepts, its accept queue
    // full, so the kernel drops the backend's SYN and the connect hangs until the connect timeout.
    // This is Linux's behaviour, and deterministic there: `listen(1)` queues backlog + 1 = 2
    // connections (`sk_acceptq_is_full` is `queued > backlog`) and a SYN to a full queue is
    // dropped, never refused (unless `tcp_abort_on_overflow`, off by default). Addresses that
    // are meant not to answer (TEST-NET, an unrouted private host) fail at once with "network
    // unreachable" on a machine without a route, so they would test something else. The fillers
    // are connected one after the other and each completes: no timing decides how many there
    // are.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let _listener = socket.listen(1).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..2 {
        let filler = bounded("a filler connection", tokio::net::TcpStream::connect(addr)).await;
        fillers.push(filler.unwrap());
    }
    let mock = Mock::start(&["m"]).await;
    let url = format!("http://{addr}/v1");
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_BASE_URL", &url),
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_CONNECT_TIMEOUT", "0.5"),
        ],
    )
    .await;
    let r = h.call("delegate_code", json!({"task": "x"})).await;
    let text = text_of(&r);
    assert!(
        text.starts_with("DELEGATION_FAILED (unreachable): "),
        "{text}"
    );
    assert!(text.contains("timed out"), "{text}");
    let line = only(h.stop().await);
    assert_eq!(
        line["attempts"], 0,
        "no chat request follows a failed pre-check"
    );
}

#[tokio::test]
async fn a_proxy_in_the_environment_is_not_used_for_a_loopback_backend() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("direct = True"));
    // Nothing listens on port 9 of loopback: a request sent through this proxy would fail.
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("HTTP_PROXY", "http://127.0.0.1:9"),
            ("http_proxy", "http://127.0.0.1:9"),
            ("ALL_PROXY", "http://127.0.0.1:9"),
        ],
    )
    .await;
    let r = h.call("delegate_code", json!({"task": "x"})).await;
    assert!(
        text_of(&r).starts_with("direct = True\n"),
        "{}",
        text_of(&r)
    );
    h.stop().await;
}

#[tokio::test]
async fn a_call_over_the_concurrency_limit_waits_for_a_slot() {
    let mock = Mock::start(&["m"]).await;
    let gate = common::Gate::default();
    mock.push(Reply::tokens(&["first = 1"], "stop").before_head(vec![Step::Gate(gate.clone())]));
    mock.push(Reply::text("second = 2"));
    let mut h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_MAX_CONCURRENT", "1"),
        ],
    )
    .await;
    let first = h.start_call("delegate_code", json!({"task": "one"})).await;
    bounded("the first call reaching the backend", mock.wait_chats(1)).await;
    let second = h.start_call("delegate_code", json!({"task": "two"})).await;
    bounded("the second call saying it is queued", async {
        loop {
            let note = h.progress.recv().await.unwrap();
            if note.message.is_some_and(|m| m.starts_with("queued (")) {
                break;
            }
        }
    })
    .await;
    assert_eq!(
        mock.chats().len(),
        1,
        "the second call waits while the first runs"
    );
    gate.open();
    for (handle, want) in [(first, "first = 1"), (second, "second = 2")] {
        let ServerResult::CallToolResult(r) =
            bounded("a call", handle.await_response()).await.unwrap()
        else {
            panic!("not a tool result");
        };
        assert!(text_of(&r).starts_with(want), "{}", text_of(&r));
    }
    let chats = mock.chats();
    assert_eq!(user_turns(&chats[1].body), vec!["two".to_string()]);
    let lines = h.stop().await;
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:#?}");
}

#[tokio::test]
async fn a_failing_check_command_is_sent_back_and_its_pass_is_in_the_footer() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("def f():\n    return 1  # TODO\n"));
    mock.push(Reply::text("def f():\n    return 1\n"));
    // A project linter, as the user configured it: it refuses TODOs.
    let lint = "sh -c 'if grep -n TODO \"$0\"; then exit 1; fi' {file}";
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_CHECK_PYTHON", lint),
        ],
    )
    .await;
    let r = h
        .call("delegate_code", json!({"task": "f", "language": "py"}))
        .await;
    let text = text_of(&r);
    assert!(
        text.ends_with("· checked: python syntax, sh · 1 repair]"),
        "{text}"
    );
    let turns = user_turns(&mock.chats()[1].body);
    assert!(turns[1].contains("sh: 2:    return 1  # TODO"), "{turns:?}");
    let line = only(h.stop().await);
    assert_eq!(
        line["checks"],
        json!([{"name": "python syntax", "verdict": "pass"}, {"name": "sh", "verdict": "pass"}])
    );
    assert_eq!(line["language"], "python");
}

#[tokio::test]
async fn a_check_command_that_hangs_or_is_missing_leaves_the_artifact_unchecked() {
    for (command, word) in [
        ("sh -c 'sleep 30' {file}", "sh timed out"),
        ("no-such-linter {file}", "no-such-linter missing"),
    ] {
        let mock = Mock::start(&["m"]).await;
        mock.push(Reply::text("def f():\n    return 1\n"));
        let h = Harness::start(
            &mock,
            &[
                ("LOCAL_LLM_MODEL_QUALITY", "m"),
                ("LOCAL_EXECUTOR_CHECK_PYTHON", command),
                ("LOCAL_EXECUTOR_CHECK_TIMEOUT", "0.5"),
            ],
        )
        .await;
        let r = h
            .call("delegate_code", json!({"task": "f", "language": "python"}))
            .await;
        let text = text_of(&r);
        assert!(
            !is_error(&r),
            "the model is not blamed for its checker: {text}"
        );
        assert!(text.ends_with(&format!("· unchecked: {word}]")), "{text}");
        assert_eq!(mock.chats().len(), 1, "no repair is asked for");
        let line = only(h.stop().await);
        assert_eq!(line["checked"], false);
        assert_eq!(line["repairs"], 0);
    }
}

#[tokio::test]
async fn the_language_comes_from_the_files_extension_when_not_given() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("{\"a\": }"));
    mock.push(Reply::text("{\"a\": 1}"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
        ],
    )
    .await;
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "conf/a.json", "task": "an object"}]}),
        )
        .await;
    let text = text_of(&r);
    assert!(text.starts_with("wrote conf/a.json · "), "{text}");
    assert!(text.contains("checked: json parse · 1 repair]"), "{text}");
    let line = only(h.stop().await);
    assert_eq!(line["language"], "json");
    assert_eq!(line["disk_chars"], "{\"a\": 1}\n".len());
}

#[tokio::test]
async fn a_fenced_answer_with_an_explanation_delivers_the_code_without_a_repair() {
    // How coder models answer: a block, then what it does.
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(
        "```python\ndef one():\n    return 1\n```\n\nThis function returns one.\n",
    ));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "one() returning 1", "language": "python"}),
        )
        .await;
    let text = text_of(&r);
    assert!(!is_error(&r), "{text}");
    assert!(
        text.starts_with("def one():\n    return 1\n[local-executor ok"),
        "{text}"
    );
    assert_eq!(mock.chats().len(), 1, "no repair");
    let line = only(h.stop().await);
    assert_eq!(line["repairs"], 0);
}

#[tokio::test]
async fn a_repair_turn_names_a_shape_failure_and_only_that() {
    // Prose right after the code, with no blank line: cleaning leaves it, the parse fails on it.
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(
        "def one():\n    return 1\nThis function returns one.\n",
    ));
    mock.push(Reply::text("def one():\n    return 1\n"));
    mock.push(Reply::text("def one(:\n    return 1\n"));
    mock.push(Reply::text("def one():\n    return 1\n"));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    for _ in 0..2 {
        let r = h
            .call(
                "delegate_code",
                json!({"task": "one() returning 1", "language": "python"}),
            )
            .await;
        assert!(!is_error(&r), "{}", text_of(&r));
    }
    let chats = mock.chats();
    assert_eq!(chats.len(), 4);
    let shape = user_turns(&chats[1].body);
    assert!(
        shape[1].contains("a line of explanation (This function returns one.)")
            && shape[1].contains("reply with only the code, no fences, no explanation"),
        "{shape:?}"
    );
    // A plain syntax error gets the checker's message alone.
    let syntax = user_turns(&chats[3].body);
    assert!(syntax[1].contains("python syntax"), "{syntax:?}");
    assert!(!syntax[1].contains("no fences"), "{syntax:?}");
}
