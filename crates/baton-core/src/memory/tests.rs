use super::*;
use crate::ids::AgentName;
use crate::llm::{FinishReason, Usage};

fn msg(text: &str) -> Arc<Message> {
    Arc::new(Message::user(text))
}

#[tokio::test]
async fn appends_in_order_and_pages() {
    let store = InMemoryStore::new();
    let thread = ThreadId::new();
    assert_eq!(
        store.append(thread, Some(0), &[msg("a"), msg("b")]).await,
        Ok(2)
    );
    assert_eq!(store.append(thread, None, &[msg("c")]).await, Ok(3));
    let all = store.list(thread, Page::ALL).await.unwrap();
    let texts: Vec<_> = all.iter().map(|m| m.content()).collect();
    assert_eq!(texts, ["a", "b", "c"]);
    let page = store.list(thread, Page::new(1, 1)).await.unwrap();
    assert_eq!(page[0].content(), "b");
    assert!(
        store
            .list(ThreadId::new(), Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_stale_writer_gets_a_conflict_and_writes_nothing() {
    let store = InMemoryStore::new();
    let thread = ThreadId::new();
    store.append(thread, Some(0), &[msg("a")]).await.unwrap();
    let err = store
        .append(thread, Some(0), &[msg("b")])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            thread,
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(store.list(thread, Page::ALL).await.unwrap().len(), 1);
}

#[tokio::test]
async fn commit_step_writes_messages_and_episodes_together() {
    let store = InMemoryStore::new();
    let (thread, run) = (ThreadId::new(), RunId::new());
    let episodes = [
        Episode::Started {
            agent: AgentName::new("a").unwrap(),
            thread,
        },
        Episode::StepCompleted {
            step: 1,
            usage: Usage::new(3, 4),
            latency_ms: 7,
            finish_reason: FinishReason::Stop,
            tool_calls: 0,
        },
    ];
    let len = store
        .commit_step(StepCommit {
            thread,
            expected_len: Some(0),
            messages: &[msg("x")],
            run,
            step: 1,
            episodes: &episodes,
            lease: None,
        })
        .await
        .unwrap();
    assert_eq!(len, 1);
    let log = store.episodes(run).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].seq, 1);
    assert_eq!(log[1].episode, episodes[1]);
}

#[test]
fn episodes_round_trip_through_json() {
    let thread = ThreadId::new();
    for episode in [
        Episode::Started {
            agent: AgentName::new("triage").unwrap(),
            thread,
        },
        Episode::ToolCalled {
            step: 2,
            call_id: "c1".into(),
            tool: "lookup".into(),
            ok: false,
            latency_ms: 12,
        },
        Episode::HandedOff {
            from: AgentName::new("a").unwrap(),
            to: AgentName::new("b").unwrap(),
            reason: "billing question".into(),
        },
        Episode::Completed {
            output: "done".into(),
            usage: Usage::new(1, 2),
        },
        Episode::failed(&crate::error::RunError::Cancelled),
    ] {
        let record = EpisodeRecord::now(0, episode);
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<EpisodeRecord>(&json).unwrap(),
            record
        );
    }
}
