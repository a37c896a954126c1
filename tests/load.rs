//! usage.jsonl under load: several server processes (one per open editor) append to one file at
//! once, each with many calls in flight. Every call must leave exactly one whole JSON line.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Harness, Mock, base_env, is_error, text_of};
use serde_json::json;
use tokio::task::JoinSet;

const PROCESSES: usize = 8;
const CALLS_PER_PROCESS: usize = 500;
/// Calls each process has in flight at once.
const IN_FLIGHT: usize = 16;
/// The whole run fails rather than hangs past this.
const BOUND: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_servers_appending_4000_lines_leave_4000_whole_json_lines() {
    let mock = Mock::start(&["m"]).await;
    let shared_home = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for _ in 0..PROCESSES {
        let workspace = tempfile::tempdir().unwrap();
        let mut env = base_env(&mock.url, shared_home.path(), workspace.path());
        env.push(("LOCAL_LLM_MODEL_QUALITY".into(), "m".into()));
        // Harness::start_with keeps this temp dir alive; the server writes to shared_home.
        let unused_home = tempfile::tempdir().unwrap();
        servers.push(Arc::new(
            Harness::start_with(env, unused_home, workspace).await,
        ));
    }

    let run = async {
        let mut processes = JoinSet::new();
        for (p, h) in servers.iter().enumerate() {
            let h = h.clone();
            processes.spawn(async move {
                let mut calls = JoinSet::new();
                for i in 0..CALLS_PER_PROCESS {
                    if calls.len() >= IN_FLIGHT {
                        calls.join_next().await.unwrap().unwrap();
                    }
                    let h = h.clone();
                    // Tasks of varied length, so the lines differ in size.
                    let task = format!("call {p}-{i} {}", "z".repeat((i * 37) % 700));
                    calls.spawn(async move {
                        let r = h.call("delegate_code", json!({"task": task})).await;
                        assert!(!is_error(&r), "{}", text_of(&r));
                    });
                }
                while let Some(done) = calls.join_next().await {
                    done.unwrap();
                }
            });
        }
        while let Some(done) = processes.join_next().await {
            done.unwrap();
        }
    };
    tokio::time::timeout(BOUND, run)
        .await
        .expect("4,000 calls did not end within the bound");

    for h in servers {
        let h = Arc::into_inner(h).expect("no call holds the harness any more");
        tokio::time::timeout(Duration::from_secs(30), h.stop())
            .await
            .expect("a server did not exit after EOF");
    }

    // read_usage fails on a torn last line and on any line that is not JSON.
    let lines = common::read_usage(&shared_home.path().join("usage.jsonl"));
    assert_eq!(lines.len(), PROCESSES * CALLS_PER_PROCESS);
    assert!(
        lines
            .iter()
            .all(|l| l["tool"] == "delegate_code" && l["ok"] == true)
    );
    let planner: HashSet<u64> = lines
        .iter()
        .map(|l| l["planner_chars"].as_u64().unwrap())
        .collect();
    assert!(planner.len() > 100, "the lines should differ in size");
    assert_eq!(mock.chats().len(), PROCESSES * CALLS_PER_PROCESS);
}
