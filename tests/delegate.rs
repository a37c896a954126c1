//! delegate_code and list_local_models through the real binary over stdio, against the mock
//! backend. Each test checks the tool result, what the mock received, and the usage line.

mod common;

use std::time::Duration;

use common::{Gate, Harness, Mock, Reply, Step, is_error, sse, text_of};
use serde_json::{Value, json};

fn only_line(lines: &[Value]) -> &Value {
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one usage line: {lines:#?}"
    );
    &lines[0]
}

async fn failed_with(h: Harness, args: Value, reason: &str) -> (String, Value) {
    let r = h.call("delegate_code", args).await;
    let text = text_of(&r);
    assert!(is_error(&r), "expected an error result, got {text:?}");
    assert!(
        text.starts_with(&format!("DELEGATION_FAILED ({reason}): ")),
        "wrong reason: {text:?}"
    );
    assert!(text.ends_with("\nDo this task yourself."), "{text:?}");
    assert!(text.len() < 500, "failure text too long: {text:?}");
    let lines = h.stop().await;
    let line = only_line(&lines).clone();
    assert_eq!(line["ok"], false);
    assert_eq!(line["reason"], reason);
    (text, line)
}

#[tokio::test]
async fn delegate_code_returns_the_cleaned_artifact_with_a_footer() {
    let mock = Mock::start(&["coder-q8_0"]).await;
    mock.push(Reply::tokens(
        &[
            "<think>plan",
            " the function</think>\n",
            "Here is the code:\n",
            "```python\n",
            "def add(a, b):\n",
            "    return a + b\n",
            "```\n",
        ],
        "stop",
    ));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "coder-q8_0")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "write add(a, b)", "language": "python", "context": "style: PEP 8"}),
        )
        .await;
    assert!(!is_error(&r));
    assert!(
        r.structured_content.is_none(),
        "no structuredContent on delegate_code"
    );
    let text = text_of(&r);
    let (artifact, footer) = text.rsplit_once('\n').unwrap();
    assert_eq!(artifact, "def add(a, b):\n    return a + b");
    assert!(
        footer.starts_with("[local-executor ok · quality · ~"),
        "{footer}"
    );
    assert!(
        footer.contains(" tok out · ") && footer.ends_with(']'),
        "{footer}"
    );

    let chats = mock.chats();
    assert_eq!(chats.len(), 1);
    let body = &chats[0].body;
    assert_eq!(body["model"], "coder-q8_0");
    assert_eq!(body["stream"], true);
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("write add(a, b)") && user.contains("style: PEP 8"),
        "{user}"
    );

    let lines = h.stop().await;
    let line = only_line(&lines);
    assert_eq!(line["tool"], "delegate_code");
    assert_eq!(line["ok"], true);
    assert_eq!(line["tier"], "quality");
    assert_eq!(line["model"], "coder-q8_0");
    assert_eq!(line["usage_estimated"], true);
    assert_eq!(line["finish_reason"], "stop");
    assert_eq!(line["output_chars"], 32);
    assert!(line["completion_tokens"].as_u64().unwrap() > 0);
    assert!(line["planner_chars"].as_u64().unwrap() > 20);
    assert_eq!(line["v"], 2);
    assert!(line.get("first_token_ms").is_some());
    assert!(line["client"].is_string());
    assert!(line.get("prompt").is_none() && !line.to_string().contains("return a + b"));
}

#[tokio::test]
async fn tiers_route_to_their_configured_models() {
    let mock = Mock::start(&["big", "small"]).await;
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "big"),
            ("LOCAL_LLM_MODEL_FAST", "small"),
        ],
    )
    .await;
    let fast = h
        .call("delegate_code", json!({"task": "x", "tier": "fast"}))
        .await;
    assert!(
        text_of(&fast).contains("[local-executor ok · fast · "),
        "{}",
        text_of(&fast)
    );
    let quality = h.call("delegate_code", json!({"task": "x"})).await;
    assert!(text_of(&quality).contains("[local-executor ok · quality · "));
    let models: Vec<Value> = mock
        .chats()
        .iter()
        .map(|s| s.body["model"].clone())
        .collect();
    assert_eq!(models, vec![json!("small"), json!("big")]);
    let lines = h.stop().await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["tier"], "fast");
    assert_eq!(lines[0]["model"], "small");
}

#[tokio::test]
async fn unset_quality_model_means_the_first_suitable_one_listed() {
    let mock = Mock::start(&["qwen2.5-vl-7b", "coder-7b", "other"]).await;
    let h = Harness::start(&mock, &[]).await;
    let r = h
        .call("delegate_code", json!({"task": "x", "tier": "fast"}))
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    assert_eq!(mock.chats()[0].body["model"], "coder-7b");
    assert_eq!(only_line(&h.stop().await)["model"], "coder-7b");
}

#[tokio::test]
async fn reasoning_content_is_dropped_and_backend_usage_is_recorded() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::stream(vec![
        Step::Send(sse(
            &json!({"choices":[{"delta":{"reasoning_content":"thinking hard"}}]}),
        )),
        Step::Send(sse(&json!({"choices":[{"delta":{"content":"a: 1\n"}}]}))),
        Step::Send(sse(
            &json!({"choices":[{"delta":{},"finish_reason":"stop"}]}),
        )),
        Step::Send(sse(
            &json!({"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":7}}),
        )),
        Step::Send(b"data: [DONE]\n\n".to_vec()),
    ]));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let r = h
        .call(
            "delegate_code",
            json!({"task": "yaml please", "language": "yaml"}),
        )
        .await;
    let text = text_of(&r);
    assert!(
        text.starts_with("a: 1\n[local-executor ok · quality · 7 tok out"),
        "{text}"
    );
    assert!(!text.contains("thinking"));
    let lines = h.stop().await;
    let line = only_line(&lines);
    assert_eq!(line["usage_estimated"], false);
    assert_eq!(line["prompt_tokens"], 40);
    assert_eq!(line["completion_tokens"], 7);
}

#[tokio::test]
async fn delegate_code_reports_truncation_as_delegation_failed() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::tokens(&["def f(", "a, b"], "length"));
    let h = Harness::start(&mock, &[]).await;
    let (text, line) = failed_with(h, json!({"task": "x", "max_tokens": 2}), "truncated").await;
    assert!(text.contains("max_tokens 2"), "{text}");
    assert_eq!(mock.chats()[0].body["max_tokens"], 2);
    assert_eq!(line["finish_reason"], "length");
}

#[tokio::test]
async fn an_empty_answer_is_reported_as_empty() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::tokens(
        &["<think>only thoughts</think>", "\n\n"],
        "stop",
    ));
    failed_with(
        Harness::start(&mock, &[]).await,
        json!({"task": "x"}),
        "empty",
    )
    .await;
}

#[tokio::test]
async fn a_backend_that_is_down_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mock = Mock::start(&["m"]).await;
    let url = format!("http://127.0.0.1:{port}");
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_BASE_URL", &url),
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
        ],
    )
    .await;
    let (text, line) = failed_with(h, json!({"task": "x"}), "unreachable").await;
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    // Refused connections are retried a few times within the first-token budget.
    assert!(line["attempts"].as_u64().unwrap() > 1, "{line}");
}

#[tokio::test]
async fn http_500_is_an_http_error() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::status(
        500,
        r#"{"error":{"message":"CUDA out of memory"}}"#,
    ));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let (text, line) = failed_with(h, json!({"task": "x"}), "http_error").await;
    assert!(
        text.contains("HTTP 500") && text.contains("CUDA out of memory"),
        "{text}"
    );
    assert_eq!(line["attempts"], 1, "500 is not retried");
}

#[tokio::test]
async fn an_unknown_model_is_model_missing_and_names_the_served_ones() {
    let mock = Mock::start(&["alpha", "beta"]).await;
    mock.push(Reply::status(
        404,
        r#"{"error":{"message":"model not found"}}"#,
    ));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "gamma")]).await;
    let (text, _) = failed_with(h, json!({"task": "x"}), "model_missing").await;
    assert!(
        text.contains("gamma") && text.contains("alpha, beta"),
        "{text}"
    );
}

#[tokio::test]
async fn a_hang_before_the_first_token_times_out() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::stream(vec![Step::Hang]));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_FIRST_TOKEN_TIMEOUT", "0.5"),
        ],
    )
    .await;
    let (text, _) = failed_with(h, json!({"task": "x"}), "timeout").await;
    assert!(
        text.contains("no first token from m within 0.5 s"),
        "{text}"
    );
    mock.wait_closed_by_client().await;
}

#[tokio::test]
async fn a_hang_before_the_headers_times_out() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("never").before_head(vec![Step::Hang]));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_FIRST_TOKEN_TIMEOUT", "0.5"),
        ],
    )
    .await;
    failed_with(h, json!({"task": "x"}), "timeout").await;
    mock.wait_closed_by_client().await;
}

#[tokio::test]
async fn a_hang_mid_stream_times_out_on_the_idle_gap() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::stream(vec![
        Step::Send(sse(&json!({"choices":[{"delta":{"content":"def f("}}]}))),
        Step::Hang,
    ]));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_IDLE_TIMEOUT", "0.5"),
        ],
    )
    .await;
    let (text, line) = failed_with(h, json!({"task": "x"}), "timeout").await;
    assert!(
        text.contains("stalled: no data for 0.5 s after 1 tokens"),
        "{text}"
    );
    assert!(line["first_token_ms"].is_u64());
    mock.wait_closed_by_client().await;
}

#[tokio::test]
async fn cancellation_closes_the_backend_stream_and_is_recorded() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::stream(vec![
        Step::Send(sse(&json!({"choices":[{"delta":{"content":"x = "}}]}))),
        Step::Hang,
    ]));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let handle = h.start_call("delegate_code", json!({"task": "x"})).await;
    // The mock has the request once a chat is recorded; wait for it through the progress stream:
    // the first progress notification comes only after the stream has started.
    let mut progress = h.progress;
    let h = Harness {
        progress: tokio::sync::mpsc::unbounded_channel().1,
        ..h
    };
    let first = progress.recv().await.expect("a progress notification");
    assert!(first.message.is_some());
    handle
        .cancel(Some("user pressed Esc".into()))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), mock.wait_closed_by_client())
        .await
        .expect("the backend connection is closed on cancel");
    let lines = h.stop().await;
    let line = only_line(&lines);
    assert_eq!(line["ok"], false);
    assert_eq!(line["reason"], "cancelled");
}

#[tokio::test]
async fn progress_is_reported_while_waiting_and_while_streaming() {
    // The mock holds its headers until the test has seen a waiting note, and the end of its
    // stream until the test has seen a token count: each note is waited for, not timed.
    let mock = Mock::start(&["m"]).await;
    let (headers, end) = (Gate::default(), Gate::default());
    let body = vec![
        Step::Send(sse(&json!({"choices":[{"delta":{"content":"x"}}]}))),
        Step::Gate(end.clone()),
        Step::Send(sse(
            &json!({"choices":[{"delta":{},"finish_reason":"stop"}]}),
        )),
    ];
    mock.push(Reply::stream(body).before_head(vec![Step::Gate(headers.clone())]));
    // Timeouts far above any wait, so a slow machine cannot end the call before the notes.
    let mut h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_FIRST_TOKEN_TIMEOUT", "600"),
            ("LOCAL_LLM_IDLE_TIMEOUT", "600"),
            ("LOCAL_LLM_TIMEOUT", "900"),
        ],
    )
    .await;
    let handle = h.start_call("delegate_code", json!({"task": "x"})).await;
    let mut got = Vec::new();
    h.progress_until(&mut got, |m| m.starts_with("waiting for m ("))
        .await;
    headers.open();
    h.progress_until(&mut got, |m| m == "1 tokens").await;
    end.open();
    let response = handle.await_response().await.unwrap();
    drop(response);
    while let Ok(p) = h.progress.try_recv() {
        got.push(p);
    }
    assert!(
        got.windows(2).all(|w| w[1].progress > w[0].progress),
        "progress must increase"
    );
    let line = only_line(&h.stop().await).clone();
    assert_eq!(line["ok"], true);
}

#[tokio::test]
async fn an_artifact_over_the_cap_is_too_large() {
    let mock = Mock::start(&["m"]).await;
    let big = "x".repeat(150);
    mock.push(Reply::tokens(&[&big], "stop"));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_MAX_OUTPUT_CHARS", "100"),
        ],
    )
    .await;
    let (text, line) = failed_with(h, json!({"task": "x"}), "too_large").await;
    assert!(
        text.contains("151 characters, over the 100 cap") && text.contains("delegate_files"),
        "{text}"
    );
    assert_eq!(line["output_chars"], 151);
}

#[tokio::test]
async fn a_runaway_stream_is_stopped_as_too_large() {
    let mock = Mock::start(&["m"]).await;
    let piece = "y".repeat(1024);
    let mut body = Vec::new();
    for _ in 0..200 {
        body.push(Step::Send(sse(
            &json!({"choices":[{"delta":{"content":piece}}]}),
        )));
    }
    body.push(Step::Hang);
    mock.push(Reply::stream(body));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_MAX_OUTPUT_CHARS", "1000"),
        ],
    )
    .await;
    failed_with(h, json!({"task": "x"}), "too_large").await;
    mock.wait_closed_by_client().await;
}

#[tokio::test]
async fn a_think_block_that_never_closes_is_capped_like_an_answer() {
    let mock = Mock::start(&["m"]).await;
    let piece = "y".repeat(1024);
    let mut body = vec![Step::Send(sse(
        &json!({"choices":[{"delta":{"content":"<think>"}}]}),
    ))];
    for _ in 0..200 {
        body.push(Step::Send(sse(
            &json!({"choices":[{"delta":{"content":piece}}]}),
        )));
    }
    body.push(Step::Hang);
    mock.push(Reply::stream(body));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_MAX_OUTPUT_CHARS", "1000"),
        ],
    )
    .await;
    failed_with(h, json!({"task": "x"}), "too_large").await;
    mock.wait_closed_by_client().await;
}

#[tokio::test]
async fn json_that_does_not_parse_is_invalid_output() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text("{\"a\": 1,}"));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let (text, _) = failed_with(
        h,
        json!({"task": "x", "language": "json"}),
        "invalid_output",
    )
    .await;
    assert!(text.contains("not valid JSON"), "{text}");
}

#[tokio::test]
async fn bad_arguments_are_a_bad_request() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let (text, line) = failed_with(h, json!({"task": "x", "tier": "turbo"}), "bad_request").await;
    assert!(text.contains("turbo"), "{text}");
    assert!(line["planner_chars"].as_u64().unwrap() > 0);
    assert!(mock.chats().is_empty());

    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    failed_with(h, json!({"task": "   "}), "bad_request").await;
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    failed_with(h, json!({"context": "no task"}), "bad_request").await;
    assert!(mock.chats().is_empty());
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_API_KEY", "sk-test-123"),
        ],
    )
    .await;
    h.call("delegate_code", json!({"task": "x"})).await;
    let auth = mock.chats()[0]
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .cloned();
    assert_eq!(auth.map(|(_, v)| v), Some("Bearer sk-test-123".to_string()));
    let lines = h.stop().await;
    assert!(!lines[0].to_string().contains("sk-test"));
}

#[tokio::test]
async fn list_local_models_marks_tiers_loaded_state_and_unsuited_models() {
    let mock = Mock::start(&[
        "coder-30b-q8_0",
        "tiny-1b",
        "qwen2.5-vl-7b",
        "coder-iq2_xxs",
    ])
    .await;
    mock.running(json!({"running": [{"model": "coder-30b-q8_0", "state": "ready"}]}));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "coder-30b-q8_0"),
            ("LOCAL_LLM_MODEL_FAST", "gone"),
        ],
    )
    .await;
    let r = h.call("list_local_models", json!({})).await;
    assert!(!is_error(&r));
    let text = text_of(&r);
    assert_eq!(
        text,
        "coder-30b-q8_0 · tier=quality · loaded\n\
         tiny-1b · not loaded\n\
         qwen2.5-vl-7b · not loaded · warning: vision model, unsuited to code\n\
         coder-iq2_xxs · not loaded · warning: ultra-low quant, unsuited to code\n\
         warning: the fast model gone is not served by the backend\n\
         context window: quality (coder-30b-q8_0) 4096 tokens (default; set LOCAL_LLM_CONTEXT_QUALITY) · \
         fast (gone) 4096 tokens (default; set LOCAL_LLM_CONTEXT_FAST)\n"
    );
    let lines = h.stop().await;
    let line = only_line(&lines);
    assert_eq!(line["tool"], "list_local_models");
    assert_eq!(line["ok"], true);
}

#[tokio::test]
async fn list_local_models_reports_a_backend_that_is_down() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mock = Mock::start(&[]).await;
    let url = format!("http://127.0.0.1:{port}/v1");
    let h = Harness::start(&mock, &[("LOCAL_LLM_BASE_URL", &url)]).await;
    let r = h.call("list_local_models", json!({})).await;
    assert!(is_error(&r));
    assert!(
        text_of(&r).starts_with("LIST_FAILED (unreachable): "),
        "{}",
        text_of(&r)
    );
    let lines = h.stop().await;
    assert_eq!(only_line(&lines)["reason"], "unreachable");
}

#[tokio::test]
async fn tools_list_is_small_and_carries_no_schema_noise() {
    let mock = Mock::start(&[]).await;
    let h = Harness::start(&mock, &[]).await;
    let tools = h.client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, vec!["delegate_code", "list_local_models"]);
    let text = serde_json::to_string(&tools).unwrap();
    let tokens = common::tool_tokens(&tools);
    assert!(
        tokens <= 300,
        "tools/list costs the planner {tokens} tokens with writing off"
    );
    assert!(!text.contains("$schema") && !text.contains("null") && !text.contains("uint"));
    let info = h.client.peer_info().unwrap();
    let instructions = info.instructions.clone().unwrap();
    assert!(instructions.contains("DELEGATION_FAILED") && instructions.len() < 400);
    assert!(
        h.stop().await.is_empty(),
        "listing tools writes no usage line"
    );
}

#[tokio::test]
async fn a_low_temperature_is_sent_unless_left_to_the_backend() {
    let mock = Mock::start(&["m"]).await;
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    h.call("delegate_code", json!({"task": "x"})).await;
    assert_eq!(mock.chats()[0].body["temperature"], 0.2);
    h.stop().await;
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_TEMPERATURE", "default"),
        ],
    )
    .await;
    h.call("delegate_code", json!({"task": "x"})).await;
    assert!(mock.chats()[1].body.get("temperature").is_none());
    h.stop().await;
}

#[tokio::test]
async fn a_stream_cut_without_a_finish_reason_is_not_a_success() {
    // llama-cpp-python ends a stream this way when another request interrupts it.
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::stream(vec![
        Step::Send(sse(
            &json!({"choices":[{"delta":{"content":"def f(a, b):\n"}}]}),
        )),
        Step::Send(b"data: [DONE]\n\n".to_vec()),
    ]));
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "m")]).await;
    let (text, _) = failed_with(h, json!({"task": "x"}), "http_error").await;
    assert!(
        text.contains("without a finish_reason after 1 tokens"),
        "{text}"
    );
}

#[tokio::test]
async fn a_configured_model_the_backend_does_not_list_is_model_missing_before_generating() {
    // llama-cpp-python answers an unknown model id with its first model instead of an error.
    let mock = Mock::start(&["smollm2", "gemma"]).await;
    let h = Harness::start(&mock, &[("LOCAL_LLM_MODEL_QUALITY", "qwen3-coder")]).await;
    let (text, _) = failed_with(h, json!({"task": "x"}), "model_missing").await;
    assert!(
        text.contains("qwen3-coder is not served") && text.contains("smollm2, gemma"),
        "{text}"
    );
    assert!(mock.chats().is_empty(), "no generation on the wrong model");
}

#[tokio::test]
async fn an_api_key_echoed_by_the_backend_is_masked() {
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::status(
        401,
        r#"{"error":{"message":"Invalid API key: sk-echo-999"}}"#,
    ));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_LLM_API_KEY", "sk-echo-999"),
        ],
    )
    .await;
    let (text, _) = failed_with(h, json!({"task": "x"}), "http_error").await;
    assert!(!text.contains("sk-echo-999"), "{text}");
    assert!(
        text.contains("Invalid API key: <LOCAL_LLM_API_KEY>"),
        "{text}"
    );
}

#[tokio::test]
async fn the_prompt_puts_what_is_read_first_and_names_the_file_written_last() {
    // A test file came back as a copy of the module it was to test: the model must see which
    // file it writes and which it only reads.
    let mock = Mock::start(&["m"]).await;
    mock.push(Reply::text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    ));
    let h = Harness::start(
        &mock,
        &[
            ("LOCAL_LLM_MODEL_QUALITY", "m"),
            ("LOCAL_EXECUTOR_ALLOW_WRITE", "1"),
        ],
    )
    .await;
    std::fs::write(
        h.workspace.path().join("calc.py"),
        "def add(a, b):\n    return a + b\n",
    )
    .unwrap();
    let r = h
        .call(
            "delegate_files",
            json!({"files": [{"path": "test_calc.py", "task": "pytest tests for add"}],
                   "context_files": ["calc.py"]}),
        )
        .await;
    assert!(!is_error(&r), "{}", text_of(&r));
    let user = mock.chats()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let module = user.find("### calc.py").expect(&user);
    let task = user.find("pytest tests for add").expect(&user);
    assert!(user[..module].contains("do not copy"), "{user}");
    assert!(module < task, "{user}");
    let last = user.lines().last().unwrap();
    assert!(
        last.contains("test_calc.py") && last.contains("python"),
        "{last}"
    );
    h.stop().await;
}
