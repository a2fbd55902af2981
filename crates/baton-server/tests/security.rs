//! Authentication, tenant isolation, and what malformed requests get.

mod common;

use baton_testkit::{Script, ScriptedProvider};
use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_a_known_bearer_token_and_the_probes_do_not() {
    let server = TestServer::start(assistant(shared(ScriptedProvider::new())).await).await;
    let client = &server.client;
    let url = &server.url;

    for request in [
        client.get(format!("{url}/v1/threads")),
        client.post(format!("{url}/v1/threads")),
        client.get(format!("{url}/v1/models")),
        client.post(format!("{url}/v1/chat/completions")).body("{}"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        expect_error(response, 401, "unauthorized").await;
    }
    let wrong = server
        .get("/v1/threads", "token-acme-but-not")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = client
        .get(format!("{url}/v1/threads"))
        .header("authorization", format!("Basic {ACME}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // Authentication comes before the body is read.
    let unauthenticated_garbage = client
        .post(format!("{url}/v1/chat/completions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated_garbage.status(), 401);

    for open in ["/healthz", "/readyz", "/metrics"] {
        let response = server.get_open(open).await;
        assert_eq!(response.status(), 200, "{open}");
    }
    let healthz: Value = server.get_open("/healthz").await.json().await.unwrap();
    assert_eq!(healthz["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_gets_404_for_a_thread_and_its_runs() {
    let provider = shared(ScriptedProvider::new().respond(Script::text("Hello.")));
    let server = TestServer::start(assistant(provider).await).await;
    let thread = server.thread(ACME).await;
    let response = server.run(ACME, &thread, "assistant", "hi", false).await;
    assert_eq!(response.status(), 200);
    let run = run_id(&response);

    let attempts = [
        server.get(&format!("/v1/threads/{thread}/messages"), GLOBEX),
        server
            .post(&format!("/v1/threads/{thread}/runs"), GLOBEX)
            .json(&json!({"agent": "assistant", "input": "hi"})),
        server.get(&format!("/v1/runs/{run}/episodes"), GLOBEX),
        server.post(&format!("/v1/runs/{run}/cancel"), GLOBEX),
    ];
    for attempt in attempts {
        expect_error(attempt.send().await.unwrap(), 404, "not_found").await;
    }
    // The same answer as for ids that do not exist at all.
    let (status, _) = error_of(
        server
            .get(&format!("/v1/threads/{}/messages", uuid_like()), ACME)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    let listed = server.get_json("/v1/threads", GLOBEX).await;
    assert_eq!(listed["threads"], json!([]));

    let owner = server
        .get(&format!("/v1/runs/{run}/episodes"), ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 200);
}

fn uuid_like() -> String {
    baton_core::ids::ThreadId::new().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let config = {
        let mut config = config();
        config.max_body_bytes = 1024;
        config
    };
    let server =
        TestServer::start_with(assistant(shared(ScriptedProvider::new())).await, config).await;
    let thread = server.thread(ACME).await;

    let response = server
        .post(&format!("/v1/threads/{thread}/runs"), ACME)
        .json(&json!({"agent": "assistant", "input": "x".repeat(4096)}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 413, "payload_too_large").await;
    assert!(error["message"].as_str().unwrap().contains("1024 bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_with_a_message_that_says_what_is_wrong() {
    let server = TestServer::start(assistant(shared(ScriptedProvider::new())).await).await;
    let thread = server.thread(ACME).await;
    let runs = format!("/v1/threads/{thread}/runs");

    let response = server
        .post(&runs, ACME)
        .body("{\"agent\": ")
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_json").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{error}"
    );

    let response = server
        .post(&runs, ACME)
        .json(&json!({"agent": "assistant"}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request").await;
    assert!(
        error["message"].as_str().unwrap().contains("`input`"),
        "{error}"
    );

    let (status, error) = error_of(
        server
            .post(&runs, ACME)
            .json(&json!({"agent": "assistant", "input": "hi", "strem": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["message"].as_str().unwrap().contains("strem"),
        "{error}"
    );

    let response = server
        .get("/v1/threads/not-a-uuid/messages", ACME)
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "invalid_id").await;

    let (status, _) = error_of(server.get("/v1/nothing-here", ACME).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, _) = error_of(server.get(&runs, ACME).send().await.unwrap()).await;
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_outlives_the_server_process_through_the_store() {
    let store = baton_core::memory::InMemoryStore::shared();
    let supervisor = |script: Script| {
        let store = store.clone();
        async move {
            baton_core::actor::Supervisor::builder()
                .provider(shared(ScriptedProvider::new().respond(script)))
                .store(store)
                .agent(
                    baton_core::agent::Agent::builder("assistant")
                        .build()
                        .unwrap(),
                )
                .spawn()
                .await
                .unwrap()
        }
    };
    let before = TestServer::start(supervisor(Script::text("First.")).await).await;
    let thread = before.thread(ACME).await;
    let response = before.run(ACME, &thread, "assistant", "hi", false).await;
    let run = run_id(&response);
    before.stop().await.unwrap();

    // A new process over the same store knows nothing in memory.
    let after = TestServer::start(supervisor(Script::text("Second.")).await).await;
    let messages = after
        .get(&format!("/v1/threads/{thread}/messages"), ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), 200);
    let listed = after.get_json("/v1/threads", ACME).await;
    assert_eq!(listed["threads"][0]["id"], thread);
    let episodes = after
        .get(&format!("/v1/runs/{run}/episodes"), ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(episodes.status(), 200);
    let again = after.run(ACME, &thread, "assistant", "again", false).await;
    assert_eq!(again.status(), 200);

    for attempt in [
        after.get(&format!("/v1/threads/{thread}/messages"), GLOBEX),
        after.get(&format!("/v1/runs/{run}/episodes"), GLOBEX),
    ] {
        assert_eq!(attempt.send().await.unwrap().status(), 404);
    }
    let listed = after.get_json("/v1/threads", GLOBEX).await;
    assert_eq!(listed["threads"], json!([]));
}
